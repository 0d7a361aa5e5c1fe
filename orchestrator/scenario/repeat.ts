// `handover run --repeat N`: every scenario runs N times, each in a fresh VM, and its verdict is
// what the N runs agree on. The runner schedules (scenario, repeat) pairs like scenarios; this
// module names their folders, relabels their live lines and folds their results into one.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Reporter } from './reporter.ts';
import { isFlaky, type Repeat, type ScenarioResult } from './results.ts';

/** One VM run of the plan: scenario `index` (in suite order), repeat `repeat` (1-based). */
export interface RepeatItem {
  index: number;
  repeat: number;
}

/** Every scenario's repeats, scenario after scenario: with --jobs, repeats run side by side. */
export function repeatPlan(scenarios: number, repeat: number): RepeatItem[] {
  return Array.from({ length: scenarios * repeat }, (_, i) => ({ index: Math.floor(i / repeat), repeat: (i % repeat) + 1 }));
}

/** `<output>/<scenario>/repeat-K/`: beside each other, like a retry's `attempt-N/`. */
export function repeatDir(output: string, name: string, repeat: number): string {
  return join(output, name, `repeat-${repeat}`);
}

/** How a repeat is named on the console: `memfd-round-trip [3/20]`. */
export function repeatLabel(name: string, repeat: number, of: number): string {
  return `${name} [${repeat}/${of}]`;
}

/**
 * Repeats write into `<scenario>/repeat-K/` only, and may run at once: the scenario's folder is
 * emptied of an earlier run's files before any of them starts.
 */
export async function clearScenarioDirs(output: string, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((n) => rm(join(output, n), { recursive: true, force: true })));
}

/**
 * The reporters a repeat's steps and notes go to: under the repeat's label, so two repeats of one
 * scenario running at once are two blocks on the console, not one.
 */
export function repeatReporters(reporters: readonly Reporter[], name: string, label: string): Reporter[] {
  return reporters.map((r) => ({
    stepStart: (_scenario, st) => r.stepStart?.(label, st),
    step: (_scenario, st) => r.step?.(label, st),
    retry: (_scenario, attempt) => r.retry?.(label, attempt),
    note: (line) => r.note?.(line.startsWith(`${name}: `) ? `${label}: ${line.slice(name.length + 2)}` : line),
  }));
}

export function repeatOf(repeat: number, r: ScenarioResult): Repeat {
  return {
    repeat,
    status: r.status,
    ...(r.outcome === undefined ? {} : { outcome: r.outcome }),
    ...(r.message === undefined ? {} : { message: r.message }),
    durationMs: r.durationMs,
    artifactsDir: r.artifactsDir,
    ...(r.attempts === undefined ? {} : { attempts: r.attempts }),
  };
}

/** A repeat as it ended: its number and its result. */
export interface RepeatRun {
  repeat: number;
  result: ScenarioResult;
}

/**
 * One scenario's result from its repeats (in repeat order), its artifacts in `artifactsDir`.
 *
 * All repeats ended alike: that status. They disagreed: the scenario is flaky, its status `failed`
 * and its outcome `flaky` (a finding, exit 1). A pass must be proven, and a verdict that does not reproduce proves nothing:
 * a kernel that sometimes drops a preserved memfd passes most runs. Nor can a disagreement be put
 * on the machine: a kexec'd kernel that sometimes hangs is a kexec-timeout some of the time. So
 * flaky is a finding, never a pass and never an infrastructure exit code; `failed` (not a new
 * status) keeps every reader that knows nothing of repeats from taking it for anything better.
 *
 * The steps, consoles and evidence shown are those of the first repeat that did not pass (what
 * went wrong), else the last; every repeat is in `repeats`, its files in its own folder.
 */
export function aggregateRepeats(runs: readonly RepeatRun[], artifactsDir: string): ScenarioResult {
  const shown = runs.find((r) => r.result.status !== 'passed') ?? runs.at(-1);
  if (shown === undefined) throw new Error('aggregateRepeats: no repeats');
  const detail = shown.result;
  const repeats = runs.map((r) => repeatOf(r.repeat, r.result));
  const passed = runs.filter((r) => r.result.status === 'passed').length;
  const flaky = isFlaky({ repeats });
  const status = flaky ? 'failed' : detail.status;
  // A skip's reason is the same every time; a failure says which repeat it is and how rare.
  const message =
    status === 'passed' ? undefined : status === 'skipped' ? detail.message : `${passed}/${runs.length} repeats passed; repeat ${shown.repeat} ${detail.status}: ${detail.message ?? ''}`;
  // Each repeat's retries are in its own entry of `repeats`.
  const { attempts: _attempts, message: _message, outcome: _outcome, ...rest } = detail;
  const outcome = flaky ? 'flaky' : detail.outcome;
  return {
    ...rest,
    status,
    ...(outcome === undefined ? {} : { outcome }),
    ...(message === undefined ? {} : { message }),
    durationMs: runs.reduce((n, r) => n + r.result.durationMs, 0),
    artifactsDir,
    repeats,
    passRate: { passed, runs: runs.length },
  };
}

/** Collects the repeats as they end, in any order; a scenario is done when all of its are in. */
export class RepeatTally {
  private readonly runs: RepeatRun[][];
  private readonly repeat: number;

  constructor(scenarios: number, repeat: number) {
    this.runs = Array.from({ length: scenarios }, () => []);
    this.repeat = repeat;
  }

  /** Records a repeat; returns the scenario's result when it was the last of its repeats to end. */
  add(item: RepeatItem, result: ScenarioResult, artifactsDir: string): ScenarioResult | undefined {
    const runs = this.runs[item.index];
    if (runs === undefined) throw new Error(`RepeatTally: no scenario ${item.index}`);
    runs.push({ repeat: item.repeat, result });
    return runs.length === this.repeat ? aggregateRepeats(byRepeat(runs), artifactsDir) : undefined;
  }

  /**
   * A run that was stopped: the repeats of scenario `index` that ended, as its result (its pass
   * rate counts only those), or nothing when none did.
   */
  partial(index: number, artifactsDir: string): ScenarioResult | undefined {
    const runs = this.runs[index] ?? [];
    return runs.length === 0 ? undefined : aggregateRepeats(byRepeat(runs), artifactsDir);
  }
}

const byRepeat = (runs: readonly RepeatRun[]): RepeatRun[] => [...runs].sort((a, b) => a.repeat - b.repeat);
