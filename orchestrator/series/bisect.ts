import { HandoverError, isFinding, OUTCOMES, type BisectMeaning, type Outcome } from '../errors.ts';
import type { KernelBuildRequest } from '../kernel/build.ts';
import type { Machine } from '../machine/start.ts';
import type { Reporter } from '../scenario/reporter.ts';
import type { RunResult } from '../scenario/results.ts';
import type { AgentPort } from '../scenario/agent-port.ts';
import type { Scenario } from '../scenario/load.ts';
import { runScenarios } from '../scenario/runner.ts';
import type { AccelPolicy } from '../vm/accel.ts';

/**
 * The exit codes `git bisect run` understands: 0 good, 1 bad, 125 skip (this commit cannot be
 * judged), and anything above 127 stops the bisection (a usage error, a missing host tool, a bug
 * in handover, Ctrl-C: no other commit would do better).
 */
export const BISECT_EXIT = { good: 0, bad: 1, skip: 125, abort: 128, interrupted: 130 } as const;
export type BisectVerdict = keyof typeof BISECT_EXIT & BisectMeaning;

/** Which verdict a handover outcome is for a commit under bisection (the outcome table, errors.ts). */
export function bisectVerdict(outcome: Outcome): BisectVerdict {
  return OUTCOMES[outcome].bisect;
}

export interface BisectStepOptions {
  kernel: KernelBuildRequest;
  scenarios: readonly Scenario[];
  accel?: AccelPolicy;
  output: string;
  agentFor: (m: Machine) => AgentPort;
  reporters?: readonly Reporter[];
  signal?: AbortSignal;
}

export interface BisectStepResult {
  verdict: BisectVerdict;
  exitCode: number;
  outcome: Outcome;
  message: string;
  evidence: string[];
  run?: RunResult;
}

/** Builds the tree and runs the scenarios on it; the verdict is for git bisect run. */
export async function bisectStep(opts: BisectStepOptions): Promise<BisectStepResult> {
  const verdict = (outcome: Outcome, message: string, evidence: readonly string[] = [], run?: RunResult): BisectStepResult => {
    const v = bisectVerdict(outcome);
    return { verdict: v, exitCode: BISECT_EXIT[v], outcome, message, evidence: [...evidence], ...(run === undefined ? {} : { run }) };
  };
  let run: RunResult;
  try {
    // runScenarios builds the kernel first: a build failure is its HandoverError, this commit's skip.
    run = await runScenarios({
      scenarios: opts.scenarios,
      kernel: opts.kernel,
      accel: opts.accel ?? 'auto',
      output: opts.output,
      reporters: opts.reporters ?? [],
      agentFor: opts.agentFor,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  } catch (err) {
    if (err instanceof HandoverError) return verdict(err.outcome, err.message, err.evidence);
    return verdict('internal-error', err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
  if (opts.signal?.aborted === true) return verdict('interrupted', 'stopped by a signal', [], run);
  const bad = run.scenarios.find((s) => s.status === 'failed' || (s.outcome !== undefined && isFinding(s.outcome)));
  if (bad !== undefined) return verdict(bad.outcome ?? 'test-failed', `${bad.name}: ${bad.message ?? ''}`, bad.evidence ?? [], run);
  const infra = run.scenarios.find((s) => s.status === 'error');
  if (infra !== undefined) return verdict(infra.outcome ?? 'vm-failed', `${infra.name}: ${infra.message ?? ''}`, infra.evidence ?? [], run);
  if (run.scenarios.length > 0 && run.scenarios.every((s) => s.status === 'skipped')) {
    // Every scenario was skipped (say, a commit before LUO existed): nothing was judged.
    return { verdict: 'skip', exitCode: BISECT_EXIT.skip, outcome: 'passed', message: 'every scenario was skipped', evidence: run.scenarios.map((s) => `${s.name}: ${s.message ?? ''}`), run };
  }
  return verdict('passed', `${run.summary.passed} passed`, [], run);
}
