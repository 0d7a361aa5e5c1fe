// Runs programs: each set of ops becomes a scenario file (the model's steps), and the scenario
// runner runs the files, one fresh VM each, `jobs` at a time, through the same step executor
// `handover run` uses. What a step observed is compared with the model's prediction by the step
// itself (expect_error, retrieve's size/hash/seals/pos, session_absent), so a failed step is a
// divergence from the model.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelBuildRequest } from '../kernel/build.ts';
import type { Machine } from '../machine/start.ts';
import type { AgentPort } from '../scenario/agent-port.ts';
import type { Reporter } from '../scenario/reporter.ts';
import type { RunResult, ScenarioResult } from '../scenario/results.ts';
import { runScenarios } from '../scenario/runner.ts';
import type { AccelPolicy } from '../vm/accel.ts';
import { realize, type RealizedStep } from './model.ts';
import type { TaggedOp } from './ops.ts';
import { loadGenerated, scenarioText } from './scenario-file.ts';
import { failureOf, type Failure } from './signature.ts';

export interface ExecOptions {
  kernel?: KernelBuildRequest;
  accel?: AccelPolicy;
  agentFor: (m: Machine) => AgentPort;
  signal?: AbortSignal;
  jobs: number;
  memoryMiB: number;
  reporters?: readonly Reporter[];
  append?: string;
  /** The kexec'd kernels' extra command line only (kho=off: a negative control). */
  kexecAppend?: string;
  /** Read each batch's gcov counters (the kernel must carry the coverage profile). */
  coverage?: boolean;
}

export interface Candidate {
  /** The scenario's name and file name (unique in the run). */
  name: string;
  ops: readonly TaggedOp[];
  description: string;
  comment?: readonly string[];
}

export interface Executed {
  candidate: Candidate;
  file: string;
  steps: RealizedStep[];
  result: ScenarioResult;
  failure?: Failure;
  /** The op the failing step came from. */
  failingOp?: number;
}

/** Writes each candidate's scenario into `dir`, runs them all, and says how each ended. */
export async function execute(candidates: readonly Candidate[], dir: string, opts: ExecOptions): Promise<{ executed: Executed[]; run: RunResult }> {
  await mkdir(dir, { recursive: true });
  const written = await Promise.all(
    candidates.map(async (c) => {
      const steps = realize(c.ops, opts.memoryMiB);
      const file = join(dir, `${c.name}.yaml`);
      const text = scenarioText(steps, c.description, c.comment);
      await writeFile(file, text);
      // The ops beside the file: what a recording of this run is compared with (recorded.ts).
      await writeFile(join(dir, `${c.name}.ops.json`), `${JSON.stringify(c.ops)}\n`);
      return { c, file, steps, scenario: loadGenerated(text, file) };
    }),
  );
  const run = await runScenarios({
    scenarios: written.map((w) => w.scenario),
    ...(opts.kernel === undefined ? {} : { kernel: opts.kernel }),
    ...(opts.accel === undefined ? {} : { accel: opts.accel }),
    output: join(dir, 'runs'),
    agentFor: opts.agentFor,
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    jobs: opts.jobs,
    retries: 1,
    ...(opts.coverage === true ? { coverage: true } : {}),
    ...(opts.reporters === undefined ? {} : { reporters: opts.reporters }),
    overrides: {
      ...(opts.append === undefined ? {} : { append: opts.append }),
      ...(opts.kexecAppend === undefined ? {} : { kexecAppend: opts.kexecAppend }),
    },
  });
  const executed = written.map((w, i): Executed => {
    const result = run.scenarios[i] as ScenarioResult;
    const failure = failureOf(result);
    const failingOp = failure?.step === undefined ? undefined : w.steps[failure.step]?.op;
    return {
      candidate: w.c,
      file: w.file,
      steps: w.steps,
      result,
      ...(failure === undefined ? {} : { failure }),
      ...(failingOp === undefined ? {} : { failingOp }),
    };
  });
  return { executed, run };
}

/** The coverage labels of the steps that passed. */
export function passedCover(e: Executed): string[] {
  return e.result.steps.flatMap((st, i) => (st.status === 'passed' ? (e.steps[i]?.cover ?? []) : []));
}

/** kexecs that ran and passed. */
export function passedKexecs(e: Executed): number {
  return e.result.steps.filter((st) => st.kind === 'kexec' && st.status === 'passed').length;
}
