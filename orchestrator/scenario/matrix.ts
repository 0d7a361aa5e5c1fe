// Handover between kernels, as a matrix: every ordered pair (from ≠ to) of the given kernels runs
// the scenarios with kernel A booted first and every kexec going into kernel B. Each pair is one
// ordinary run (runScenarios), so a cell carries the same outcome, evidence and figures.

import { join } from 'node:path';
import type { Outcome } from '../errors.ts';
import { buildKernel, type KernelBuildRequest } from '../kernel/build.ts';
import { parseKernelSpec } from '../kernel/spec.ts';
import type { Reporter } from './reporter.ts';
import { kernelSummary, summarize, type KernelSummary, type RunResult, type Status } from './results.ts';
import type { AccelPolicy } from '../vm/accel.ts';
import type { Machine } from '../machine/start.ts';
import type { AgentPort } from './agent-port.ts';
import type { Scenario } from './load.ts';
import { runScenarios } from './runner.ts';

/** The default pair: Debian's two KHO/LUO kernels, both directions. */
export const DEFAULT_MATRIX_KERNELS = ['debian:linux-source-7.2', 'debian:linux-source-7.3'] as const;

export interface MatrixOptions {
  /** Kernel specs; every ordered pair of two different ones is a cell. */
  kernels: readonly string[];
  scenarios: readonly Scenario[];
  /** Profiles, config items, jobs, ccache, progress: the same for every kernel. */
  kernel?: Omit<KernelBuildRequest, 'kernel'>;
  accel?: AccelPolicy;
  /** Each pair's artifacts go to <output>/<from>--<to>/<scenario>/. */
  output: string;
  agentFor: (m: Machine) => AgentPort;
  /** Per pair, the reporters of its run (e.g. the live console lines). */
  reportersFor?: (from: string, to: string) => readonly Reporter[];
  signal?: AbortSignal;
}

/** One pair × scenario. */
export interface MatrixCell {
  from: string;
  to: string;
  scenario: string;
  /** Kernel releases: the one booted first, the one kexec'd into, and every boot's in order. */
  releases: { from: string; to: string; boots: string[] };
  status: Status;
  outcome: Outcome;
  message?: string;
  evidence?: string[];
  /** Build of each kernel: its seconds (as measured when it was built) and whether this run hit the cache. */
  build: { from: { seconds: number; cacheHit: boolean }; to: { seconds: number; cacheHit: boolean } };
  blackoutsMs: number[];
  figures: Record<string, number>;
  durationMs: number;
  artifactsDir: string;
}

export interface MatrixResult {
  startedAt: string;
  durationMs: number;
  kernels: (KernelSummary & { spec: string })[];
  scenarios: string[];
  accel: { accel: string; reason: string };
  cells: MatrixCell[];
  summary: RunResult['summary'];
}

/** Every ordered pair of two different kernels, in the order given: A→B, B→A, A→C, … */
export function orderedPairs<T>(kernels: readonly T[]): [T, T][] {
  const pairs: [T, T][] = [];
  for (const from of kernels) for (const to of kernels) if (from !== to) pairs.push([from, to]);
  return pairs;
}

/** A file-system friendly name for a spec (`debian:linux-source-7.2@sid` → `linux-source-7.2`). */
export function specLabel(spec: string): string {
  const s = parseKernelSpec(spec);
  const text = s.kind === 'debian' ? s.package : s.kind === 'git' ? `${s.repository.split('/').at(-1) ?? 'git'}-${s.ref}` : (s.dir.split('/').at(-1) ?? 'local');
  return text.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export async function runMatrix(opts: MatrixOptions): Promise<MatrixResult> {
  const started = Date.now();
  const specs = [...new Set(opts.kernels.map((k) => parseKernelSpec(k, '--kernels').text))];
  const signal = opts.signal === undefined ? {} : { signal: opts.signal };
  // Every kernel is built before any VM starts (a cold build takes minutes; a cache hit a second).
  const kernels: MatrixResult['kernels'] = [];
  for (const spec of specs) {
    const k = await buildKernel({ ...opts.kernel, kernel: spec, ...signal });
    kernels.push({ ...kernelSummary(k), spec });
  }
  const byspec = (spec: string) => kernels.find((k) => k.spec === spec) as MatrixResult['kernels'][number];
  const cells: MatrixCell[] = [];
  const scenarios: RunResult['scenarios'] = [];
  let accel = { accel: 'unknown', reason: 'no pair booted' };
  for (const [from, to] of orderedPairs(specs)) {
    if (opts.signal?.aborted === true) break;
    const run = await runScenarios({
      scenarios: opts.scenarios,
      kernel: { ...opts.kernel, kernel: from },
      kexecInto: to,
      ...(opts.accel === undefined ? {} : { accel: opts.accel }),
      output: join(opts.output, `${specLabel(from)}--${specLabel(to)}`),
      reporters: opts.reportersFor?.(from, to) ?? [],
      agentFor: opts.agentFor,
      ...signal,
    });
    if (run.accel.accel !== 'unknown') accel = run.accel;
    scenarios.push(...run.scenarios);
    cells.push(...cellsOf(run, byspec(from), byspec(to)));
  }
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    kernels,
    scenarios: opts.scenarios.map((s) => s.name),
    accel,
    cells,
    // Counted over every pair's scenarios: xfail is a step status, seen only there.
    summary: summarize(scenarios),
  };
}

/** A pair's scenarios as cells; build figures come from the matrix's own build of each kernel. */
function cellsOf(run: RunResult, a: MatrixResult['kernels'][number], b: MatrixResult['kernels'][number]): MatrixCell[] {
  return run.scenarios.map((sc) => ({
    from: a.spec,
    to: b.spec,
    scenario: sc.name,
    releases: { from: a.release, to: b.release, boots: sc.releases ?? [] },
    status: sc.status,
    outcome: sc.outcome ?? (sc.status === 'passed' || sc.status === 'skipped' ? 'passed' : 'test-failed'),
    ...(sc.message === undefined ? {} : { message: sc.message }),
    ...(sc.evidence === undefined || sc.evidence.length === 0 ? {} : { evidence: sc.evidence }),
    build: { from: { seconds: a.buildSeconds, cacheHit: a.cacheHit }, to: { seconds: b.buildSeconds, cacheHit: b.cacheHit } },
    blackoutsMs: sc.blackoutsMs,
    figures: sc.figures,
    durationMs: Math.round(sc.durationMs),
    artifactsDir: sc.artifactsDir,
  }));
}
