// `handover run` as a function: scenarios found and loaded, the kernel built (or found in the
// cache), the scenarios run on their machines, the report files written. The CLI is this plus
// options, the console reporter and an exit code; a program gets the same run from the package.

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { OUTCOMES } from './errors.ts';
import type { KernelBuildRequest } from './kernel/build.ts';
import type { Progress } from './log/progress.ts';
import type { Baseline } from './scenario/baseline.ts';
import type { RunResult } from './scenario/results.ts';
import { writeReports } from './report/write-reports.ts';
import { writeCoverageReports } from './report/coverage.ts';
import { COVERAGE_PROFILE } from './kernel/coverage-profile.ts';
import { agentFor } from './scenario/agent-binding.ts';
import { findScenarioFiles } from './scenario/discover.ts';
import { loadScenarios, type Scenario } from './scenario/load.ts';
import type { Reporter } from './report/console-reporter.ts';
import { runScenarios, type RunOptions } from './scenario/runner.ts';
import { shardOf, suiteOrder, type Shard } from './scenario/shard.ts';

export interface SuiteOptions {
  /** Scenario files, folders or names of shipped scenarios (none: the shipped suite), or scenarios loadSuite gave. */
  scenarios?: readonly string[] | readonly Scenario[];
  /**
   * The shipped suite as a whole: scenarios needing another profile's kernel are skipped, saying
   * how to run them (default: true when no scenario was named).
   */
  wholeSuite?: boolean;
  /** The kernel under test (default: the embedded default, Debian's linux-source-7.3). */
  kernel?: KernelBuildRequest;
  accel?: RunOptions['accel'];
  /** Results and artifacts go here (made absolute). */
  output: string;
  /** Report files to write when the run ends: junit, json, ktap, html (default json). */
  reports?: readonly string[];
  /** Called as scenarios start and end (the CLI's console reporter and live status). */
  reporters?: readonly Reporter[];
  /** VMs at once (default: the CPU count; lowered to what CPUs and memory allow). */
  jobs?: number;
  retries?: number;
  repeat?: number;
  strictXfail?: boolean;
  /** Only shard index/total of the scenarios (a split by name: merge the shards' results). */
  shard?: Shard;
  baseline?: Baseline;
  kexecInto?: string;
  overrides?: RunOptions['overrides'];
  signal?: AbortSignal;
  /** Where a kernel build shows its progress (the CLI's progress line). */
  progress?: Progress;
  /**
   * Build the kernel with the coverage profile and read its gcov counters in every boot: the run
   * leaves coverage.info (lcov), coverage.xml (Cobertura) and coverage-html/ (genhtml, when installed).
   */
  coverage?: boolean;
}

/** The scenarios a suite run takes, loaded and validated (every problem at file:line:col) before anything starts. */
export async function loadSuite(args: readonly string[] = []): Promise<Scenario[]> {
  return loadScenarios(await findScenarioFiles(args));
}

function isNames(x: readonly string[] | readonly Scenario[]): x is readonly string[] {
  return x.every((s) => typeof s === 'string');
}

export async function runSuite(o: SuiteOptions): Promise<RunResult> {
  const given = o.scenarios ?? [];
  const all = isNames(given) ? await loadSuite(given) : [...given];
  const scenarios = o.shard === undefined ? all : shardOf(all, o.shard);
  const output = resolve(o.output);
  const reports = o.reports ?? ['json'];
  const fileReporter: Reporter = {
    async runEnd(run: RunResult) {
      if (run.coverage !== undefined) {
        const r = await writeCoverageReports(output, run.coverage);
        run.coverage.reports = r.written;
        if (r.note !== undefined) run.coverage.reportNote = r.note;
      }
      await writeReports(output, run, reports);
    },
  };
  const profiled = o.coverage === true ? { ...o.kernel, profiles: [...new Set([...(o.kernel?.profiles ?? []), COVERAGE_PROFILE])] } : o.kernel;
  const kernel = o.progress === undefined ? profiled : { ...profiled, progress: o.progress };
  return runScenarios({
    scenarios,
    ...(kernel === undefined ? {} : { kernel }),
    ...(o.accel === undefined ? {} : { accel: o.accel }),
    output,
    reporters: [...(o.reporters ?? []), fileReporter],
    agentFor,
    // One VM per CPU unless asked: each TCG guest keeps one core busy (planJobs caps it by memory).
    jobs: o.jobs ?? availableParallelism(),
    ...(o.retries === undefined ? {} : { retries: o.retries }),
    ...(o.repeat === undefined ? {} : { repeat: o.repeat }),
    strictXfail: o.strictXfail === true,
    // The shipped suite builds one kernel: what needs another profile runs when asked for.
    deferProfiles: o.wholeSuite ?? given.length === 0,
    ...(o.shard === undefined ? {} : { shard: { ...o.shard, suite: suiteOrder(all.map((s) => s.name)) } }),
    ...(o.baseline === undefined ? {} : { baseline: o.baseline }),
    ...(o.kexecInto === undefined ? {} : { kexecInto: o.kexecInto }),
    ...(o.overrides === undefined ? {} : { overrides: o.overrides }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    ...(o.coverage === true ? { coverage: true } : {}),
  });
}

/** 0 when everything passed, 1 on a failure (a flaky scenario is one), else the first infrastructure error's code. */
export function exitCodeFor(run: RunResult): number {
  if (run.summary.failed > 0) return 1;
  const infra = run.scenarios.find((r) => r.status === 'error');
  return infra === undefined ? 0 : OUTCOMES[infra.outcome ?? 'vm-failed'].exit;
}
