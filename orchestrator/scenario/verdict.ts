// A scenario's verdict: one pure function of its steps, the crashes on its consoles and the KHO/LUO
// markers there (as syzkaller's monitorExecution decides one outcome when several things happen at
// once). The runner only collects; this decides. Works on recorded consoles as well as live ones.

import { HandoverError, isFinding, type Outcome } from '../errors.ts';
import { findIncompatibleHandover, parseMarkers, summarizeBoot, type KhoMarker, type MarkerLine } from '../kho/markers.ts';
import type { ScenarioResult, StepResult } from './results.ts';
import { knownCrashOf, matchCrashTitle, printkMessage, type Crash } from '../vm/crash-catalogue.ts';
import type { Step } from './schema.ts';
import { StepFailure } from './step-context.ts';

export interface VerdictInput {
  file: string;
  /** Every step of the scenario, in order: the ones that never ran are `skipped` without a message. */
  steps: readonly StepResult[];
  /** The outcome of the error that stopped a step, when it was a HandoverError (ssh-failed, kernel-hang…). */
  stopOutcome?: Outcome;
  /** Every console line, with its boot. */
  console: readonly MarkerLine[];
  crashes: readonly Crash[];
  /** Names the kernel of a boot (`7.3.4, debian:linux-source-7.3`), for the incompatible-handover message. */
  kernelOf: (boot: number) => string;
  /** Regular expressions of the scenario's `log: {contains}` steps: a marker one of them matches is expected. */
  expectedLines: readonly RegExp[];
  /** An XPASS fails the scenario (`--strict-xfail`; a step's `xfail.strict` too, see `xpassIsFailure`). */
  strictXfail: boolean;
  /** Steps whose `xfail.strict` is set. */
  strictSteps?: ReadonlySet<number>;
  /** Indexes of the steps that check something (see `checkSteps`). */
  checks: ReadonlySet<number>;
}

export type Verdict = Pick<ScenarioResult, 'status' | 'knownCrash'> & { outcome?: Outcome; message?: string; evidence?: string[] };

/** Step kinds that check something; the others (create_session, memfd, preserve, …) prepare, unless they expect an error. */
const CHECK_KINDS: ReadonlySet<string> = new Set(['retrieve', 'session_absent', 'debugfs', 'log', 'kselftest', 'exec', 'kexec', 'bulk_retrieve']);

/** The indexes of a scenario's checking steps: a scenario whose every check was skipped is skipped. */
export function checkSteps(steps: readonly { kind: string; expect_error?: unknown; promise?: unknown }[]): Set<number> {
  // A step that names a promise checks it, whatever its kind (an agent request with `expect:`, a
  // create_session that must work).
  return new Set(steps.flatMap((s, i) => (CHECK_KINDS.has(s.kind) || s.expect_error !== undefined || s.promise !== undefined ? [i] : [])));
}

/**
 * In order: the kexec'd kernel refused the handover (that explains what follows, a panic
 * included); a kernel crash; the first step that did not pass; KHO/LUO errors on a console no
 * step expected; an XPASS under strict xfail; every check skipped; else passed.
 */
export function scenarioVerdict(v: VerdictInput): Verdict {
  const markers = parseMarkers(v.console);
  const refused = findIncompatibleHandover(markers);
  if (refused !== undefined) {
    const crash = v.crashes.find((c) => c.boot === refused.boot);
    const what = refused.layer === 'kho' ? 'KHO FDT' : 'LUO state';
    return {
      status: 'failed',
      outcome: 'incompatible-handover',
      message: `boot ${refused.boot} (${v.kernelOf(refused.boot)}) refused the ${what} handed over by boot ${refused.boot - 1} (${v.kernelOf(refused.boot - 1)})${refused.expected === undefined ? '' : `: it expects '${refused.expected}'`}${crash === undefined ? '' : `, then crashed: ${crash.title}`}`,
      evidence: refused.markers.map((k) => k.message),
    };
  }
  const crash = v.crashes[0];
  if (crash !== undefined) return crashVerdict(`kernel crash in boot ${crash.boot}: ${crash.title}`, v.crashes.map((c) => c.excerpt));

  const unexpected = unexpectedErrors(markers, v.expectedLines);
  const markerEvidence = unexpected.map((m) => `boot ${m.boot}: ${m.message}`);
  const bad = v.steps.find((s) => s.status === 'failed' || s.status === 'error');
  if (bad !== undefined) {
    const where = `step ${bad.index + 1} (${v.file}:${bad.line}, ${bad.name}): ${bad.message ?? ''}`;
    const evidence = [...(bad.evidence ?? []), ...(markerEvidence.length === 0 ? [] : ['KHO/LUO errors on the console:', ...markerEvidence])];
    if (bad.status === 'failed') return { status: 'failed', outcome: 'test-failed', message: where, evidence };
    // A step that broke on the machine keeps that outcome (an infrastructure error, retried); a
    // kernel that hung after its banner is a finding, as is a step that failed in the guest.
    const outcome = v.stopOutcome ?? 'step-failed';
    return { status: isFinding(outcome) && outcome !== 'step-failed' ? 'failed' : 'error', outcome, message: where, evidence };
  }
  const first = unexpected[0];
  if (first !== undefined) {
    return {
      status: 'failed',
      outcome: 'kernel-error',
      message: `boot ${first.boot} logged a KHO/LUO error that no step expected: ${first.message}${unexpected.length > 1 ? ` (and ${unexpected.length - 1} more)` : ''}`,
      evidence: markerEvidence,
    };
  }
  const xpass = v.steps.find((s) => s.status === 'passed' && s.message?.startsWith('XPASS') === true && (v.strictXfail || v.strictSteps?.has(s.index) === true));
  if (xpass !== undefined) {
    return {
      status: 'failed',
      outcome: 'test-failed',
      message: `step ${xpass.index + 1} (${v.file}:${xpass.line}, ${xpass.name}): ${xpass.message ?? 'XPASS'}, and XPASS is a failure here (strict xfail): the known bug is gone, update the scenario`,
      evidence: [],
    };
  }
  const checks = v.steps.filter((s) => v.checks.has(s.index));
  if (checks.length > 0 && checks.every((s) => s.status === 'skipped')) {
    return { status: 'skipped', message: `every check was skipped: ${[...new Set(checks.map((s) => s.message ?? 'not run'))].join('; ')}` };
  }
  return { status: 'passed' };
}

/**
 * A kernel-crash verdict: always a failure. When every report is a known kernel bug (the same one,
 * KNOWN_CRASHES), the message and evidence name it and `knownCrash` carries its id.
 */
export function crashVerdict(message: string, reports: readonly (readonly string[])[]): Verdict {
  const known = reports.map((r) => knownCrashOf(r));
  // A report the console cut short (the VM stopped at the first crash) cannot show its signature:
  // it counts as the known bug only with the very title, offsets aside, of a recognised report.
  const titles = new Map(reports.flatMap((r, i) => (known[i] === undefined ? [] : [[reportTitle(r), known[i]] as const])));
  for (const [i, r] of reports.entries()) known[i] ??= cutShort(r) ? titles.get(reportTitle(r)) : undefined;
  const first = known[0];
  const evidence = reports.flat();
  if (first === undefined || known.some((k) => k?.id !== first.id)) return { status: 'failed', outcome: 'kernel-crash', message, evidence };
  return {
    status: 'failed',
    outcome: 'kernel-crash',
    message: `${message} (known kernel bug ${first.id})`,
    evidence: [`known kernel bug ${first.id}: ${first.reason}`, ...evidence],
    knownCrash: first.id,
  };
}

const RULE = /^(?:={66}|---\[ end .*)$/;
const msgsOf = (r: readonly string[]) => r.map((l) => printkMessage(l).trimEnd());
/** The report's first title, without the +0xoff/0xsize of its frame. */
function reportTitle(r: readonly string[]): string | undefined {
  return msgsOf(r)
    .find((m) => matchCrashTitle(m) !== undefined)
    ?.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, '');
}
/** A report with no closing line: the console ended inside it. */
function cutShort(r: readonly string[]): boolean {
  return !RULE.test(msgsOf(r).at(-1) ?? '');
}

/** KHO/LUO error markers of any boot that no `log: {contains}` step of the scenario matches. */
export function unexpectedErrors(markers: readonly KhoMarker[], expected: readonly RegExp[]): KhoMarker[] {
  const boots = [...new Set(markers.map((m) => m.boot))];
  return boots
    .flatMap((b) => summarizeBoot(markers, b).failures)
    .filter((m) => !expected.some((re) => re.test(m.message)))
    .sort((a, b) => a.index - b.index);
}

type StepXfail = Step['xfail'];

/** A step that passed though it names a known bug: XPASS. */
export function passedStep(xfail: NonNullable<StepXfail>): Pick<StepResult, 'message' | 'xfail'> {
  return { message: `XPASS: the known issue did not show (${xfail.reason})`, xfail: { reason: xfail.reason, seen: false } };
}

/**
 * What a step's error makes of it: a failed check (StepFailure) is `failed`, or `xfail` when it is
 * the failure its known bug names (`xfail.match`); anything else broke the step (`error`).
 */
export function failedStep(xfail: StepXfail, err: unknown): Pick<StepResult, 'status' | 'message' | 'evidence' | 'xfail'> {
  const message = err instanceof Error ? err.message : String(err);
  const evidence = err instanceof StepFailure ? err.evidence : err instanceof HandoverError ? [...err.evidence] : [];
  if (!(err instanceof StepFailure)) return { status: 'error', message, evidence };
  if (xfail === undefined) return { status: 'failed', message, evidence };
  if (new RegExp(xfail.match).test(message)) return { status: 'xfail', message: `XFAIL (${xfail.reason}): ${message}`, evidence, xfail: { reason: xfail.reason, seen: true } };
  return { status: 'failed', message: `${message} (not the known bug this step expects: /${xfail.match}/)`, evidence };
}
