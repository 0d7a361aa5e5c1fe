// A scenario's phases on its own clock, derived from what the runner recorded (when the machine
// start began and ended, when each step began, what each kexec measured). Pure: the HTML report
// draws it, the JSON keeps it.

export type PhaseKind = 'build' | 'boot' | 'preserve' | 'kexec' | 'blackout' | 'verify' | 'other';

export interface TimelinePhase {
  kind: PhaseKind;
  /** What happened in it, e.g. "boot → SSH ready", "kexec 1 blackout", "steps 3–6". */
  label: string;
  /** From the scenario's start, ms (the kernel build, before it, is negative). */
  startMs: number;
  durationMs: number;
}

/** What the timeline needs from a step (a StepResult has all of it). */
export interface TimedStep {
  index: number;
  kind: string;
  name: string;
  status: string;
  startMs?: number;
  durationMs: number;
  data?: unknown;
}

export interface TimelineInput {
  /** The machine start: QEMU launched → first SSH command, from the scenario's start. */
  boot?: { startMs: number; endMs: number };
  steps: readonly TimedStep[];
  /** Time spent getting the kernel before the scenario started (a cache hit is ~1 s). */
  kernelBuildMs?: number;
}

const PRESERVE = new Set(['open_liveupdate', 'create_session', 'memfd', 'preserve', 'close_session', 'write_memfd', 'kill_holder', 'hold', 'bulk_preserve']);
const VERIFY = new Set(['retrieve', 'session_absent', 'finish', 'debugfs', 'log', 'memory', 'bulk_retrieve']);
const KEXEC = new Set(['kexec', 'kexec_load']);

/** Which phase a step belongs to; `agent` steps (raw requests) by the operation they name. */
export function phaseOfStep(step: Pick<TimedStep, 'kind' | 'name'>): PhaseKind {
  if (PRESERVE.has(step.kind)) return 'preserve';
  if (VERIFY.has(step.kind)) return 'verify';
  if (KEXEC.has(step.kind)) return 'kexec';
  if (step.kind === 'agent') {
    if (/"op":"(retrieve|verify|finish)/.test(step.name)) return 'verify';
    if (/"op":"(preserve|create|memfd|open|close|unpreserve)/.test(step.name)) return 'preserve';
  }
  return 'other';
}

interface KexecMeasure {
  blackoutMs: number;
  sshReadyMs: number;
}

function kexecMeasures(data: unknown): KexecMeasure[] {
  if (!Array.isArray(data)) return [];
  return data.flatMap((d: unknown) => {
    if (typeof d !== 'object' || d === null) return [];
    const { blackoutMs, sshReadyMs } = d as Record<string, unknown>;
    return typeof blackoutMs === 'number' ? [{ blackoutMs, sshReadyMs: typeof sshReadyMs === 'number' ? sshReadyMs : blackoutMs }] : [];
  });
}

/**
 * The phases, in time order. Consecutive steps of one phase merge into one bar. A kexec step is
 * split around each kexec's blackout (trigger → new userspace): a chain's step is cut into equal
 * shares (load, then fire), and each blackout sits before the end of its share by the measured
 * time to SSH ready, which is when the step's work for that kexec ends.
 */
export function scenarioTimeline(input: TimelineInput): TimelinePhase[] {
  const phases: TimelinePhase[] = [];
  const push = (p: TimelinePhase) => {
    if (p.durationMs <= 0) return;
    const last = phases.at(-1);
    if (last !== undefined && last.kind === p.kind && p.kind !== 'blackout' && p.kind !== 'kexec' && Math.abs(last.startMs + last.durationMs - p.startMs) < 250) {
      last.durationMs = p.startMs + p.durationMs - last.startMs;
      last.label = mergeLabel(last.label, p.label);
      return;
    }
    phases.push({ ...p });
  };
  if (input.kernelBuildMs !== undefined && input.kernelBuildMs > 0) {
    push({ kind: 'build', label: 'kernel build', startMs: -input.kernelBuildMs, durationMs: input.kernelBuildMs });
  }
  if (input.boot !== undefined) {
    push({ kind: 'boot', label: 'boot → SSH ready', startMs: input.boot.startMs, durationMs: input.boot.endMs - input.boot.startMs });
  }
  let kexecNo = 0;
  for (const step of input.steps) {
    if (step.startMs === undefined) continue;
    const kind = phaseOfStep(step);
    const label = `step ${step.index + 1}`;
    const measures = step.kind === 'kexec' ? kexecMeasures(step.data) : [];
    if (measures.length === 0) {
      push({ kind, label, startMs: step.startMs, durationMs: step.durationMs });
      continue;
    }
    const share = step.durationMs / measures.length;
    for (const [i, m] of measures.entries()) {
      kexecNo += 1;
      const shareStart = step.startMs + i * share;
      const shareEnd = shareStart + share;
      const blackoutStart = Math.max(shareStart, shareEnd - m.sshReadyMs);
      const blackoutEnd = Math.min(shareEnd, blackoutStart + m.blackoutMs);
      push({ kind: 'kexec', label: `kexec ${kexecNo}: load`, startMs: shareStart, durationMs: blackoutStart - shareStart });
      push({ kind: 'blackout', label: `kexec ${kexecNo} blackout`, startMs: blackoutStart, durationMs: blackoutEnd - blackoutStart });
      push({ kind: 'kexec', label: `kexec ${kexecNo}: SSH back`, startMs: blackoutEnd, durationMs: shareEnd - blackoutEnd });
    }
  }
  return phases.map((p) => ({ ...p, startMs: Math.round(p.startMs), durationMs: Math.round(p.durationMs) }));
}

/** "step 3" + "step 4" → "steps 3–4". */
function mergeLabel(a: string, b: string): string {
  const first = /^steps? (\d+)/.exec(a)?.[1];
  const last = /(\d+)$/.exec(b)?.[1];
  return first !== undefined && last !== undefined ? `steps ${first}–${last}` : `${a}, ${b}`;
}
