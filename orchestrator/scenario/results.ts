import type { Outcome } from '../errors.ts';
import { archOf, type KernelBuild } from '../kernel/build.ts';
import { profilesOf } from '../kernel/fragments.ts';
import type { DecodedReport } from '../kernel/symbolize.ts';
import type { ContractEntry } from './contract.ts';
import type { BootTimelines } from './boot-timeline.ts';
import type { TimelinePhase } from './timeline.ts';
import type { ScenarioCoverage } from '../coverage/session.ts';
import type { RunCoverage } from '../coverage/run-coverage.ts';

/** xfail: a step marked as a known kernel bug failed as expected (the scenario can still pass). */
export type Status = 'passed' | 'failed' | 'skipped' | 'error' | 'xfail';

export interface StepResult {
  index: number;
  kind: string;
  name: string;
  /** Line of the step in the scenario file. */
  line: number;
  status: Status;
  /** When it began, from the scenario's start (ms); absent for steps that never ran. */
  startMs?: number;
  durationMs: number;
  message?: string;
  evidence?: string[];
  /** What the step observed (agent replies, verified hashes, blackout…). */
  data?: unknown;
  /** The step names a known kernel bug (`xfail`): whether it showed (XFAIL) or not (XPASS). */
  xfail?: { reason: string; seen: boolean };
  /** The contract promises this step checks (its `promise`). */
  promises?: string[];
}

export interface ScenarioResult {
  name: string;
  file: string;
  description: string;
  status: Status;
  /** Why it did not pass: the outcome and a diagnosis naming what broke. */
  outcome?: Outcome;
  message?: string;
  evidence?: string[];
  /** A kernel-crash whose every report is this known kernel bug (KNOWN_CRASHES id): still a failure. */
  knownCrash?: string;
  /** Each crash report's frames decoded with its build's vmlinux (the raw lines stay in `evidence`). */
  decodedCrashes?: CrashDecoding[];
  durationMs: number;
  steps: StepResult[];
  /** Phases on the scenario's clock: boot → SSH ready, preserve, kexec and its blackouts, verify… */
  timeline?: TimelinePhase[];
  /** Each boot's milestones on the host clock: QEMU start or kexec trigger → … → SSH ready. */
  bootTimeline?: BootTimelines;
  /** Per boot: its console log (artifact). */
  consoles: string[];
  /** Per boot: the kernel release it ran (`uname -r`); differs after a kexec into another kernel. */
  releases?: string[];
  /** Blackout of every kexec (trigger → new userspace), ms. */
  blackoutsMs: number[];
  /** Named figures the scenario measured (e.g. large-memfd fill, retrieve). */
  figures: Record<string, number>;
  artifactsDir: string;
  /** Wall time spent getting this scenario's kernel (a cache hit is about a second), ms. */
  kernelBuildMs?: number;
  /** QEMU start → sshd up on the console, ms (the first boot of the last attempt). */
  bootMs?: number;
  /**
   * Every attempt, oldest first, when an infrastructure error was retried (see runner.ts
   * RETRIED_OUTCOMES); the last one is this result. Absent when the first attempt was final.
   */
  attempts?: Attempt[];
  /**
   * With `--repeat N` (N > 1): every repeat, in order, each a fresh VM. This result's steps,
   * consoles and evidence are those of the first repeat that did not pass (else the last one);
   * its duration is the repeats' sum. Absent when the scenario ran once.
   */
  repeats?: Repeat[];
  /** With `--repeat N` (N > 1): how many of the repeats passed. */
  passRate?: { passed: number; runs: number };
  /** Skipped without a machine: the suite as a whole leaves it to its own run (it needs another kernel profile). */
  deferred?: boolean;
  /** With --coverage: this scenario's tracefile and the boots it counts. */
  coverage?: ScenarioCoverage;
}

/** A crash report (its title and boot) with its frames decoded, or the reason they are not. */
export type CrashDecoding = DecodedReport & { title: string; boot: number };

/** One of a scenario's `--repeat` runs; `attempts` as on a scenario, for its infrastructure retries. */
export interface Repeat {
  repeat: number;
  status: Status;
  outcome?: Outcome;
  message?: string;
  durationMs: number;
  /** `<scenario>/repeat-K/`. */
  artifactsDir: string;
  attempts?: Attempt[];
}

/**
 * Repeats that did not all end alike: the verdict is not reproducible. Such a scenario's status
 * is `failed` (see scenario/repeat.ts), so a reader that knows nothing of repeats sees no pass.
 */
export function isFlaky(r: Pick<ScenarioResult, 'repeats'>): boolean {
  return r.repeats !== undefined && new Set(r.repeats.map((x) => x.status)).size > 1;
}

export interface Attempt {
  attempt: number;
  status: Status;
  outcome?: Outcome;
  message?: string;
  durationMs: number;
  /** Where that attempt's artifacts are: `<scenario>/attempt-N/` for the earlier ones. */
  artifactsDir: string;
}

/** How each scenario compares with a previous run (`handover run --baseline`). */
export type ComparisonClass = 'still-passing' | 'new-failure' | 'fixed' | 'still-failing' | 'flaky' | 'new' | 'removed' | 'skipped';

export interface Comparison {
  /** The baseline results.json. */
  baseline: string;
  baselineStartedAt: string;
  /** In this run's order, then the removed ones. A removed scenario has `current: 'skipped'` (it did not run). */
  scenarios: { name: string; previous?: Status; current: Status; class: ComparisonClass }[];
  /** Every class, zeros included. */
  counts: Record<string, number>;
}

export interface KernelSummary {
  /** The kernel's architecture (absent in results written before arm64: x86_64). */
  arch?: string;
  release: string;
  spec: string;
  describe: string;
  configHash: string;
  buildSeconds: number;
  cacheHit: boolean;
  /** Its named profiles (kasan, debug), when it has any. */
  profiles?: string[];
}

/** What a result says of a kernel build. */
export function kernelSummary(k: KernelBuild): KernelSummary {
  const profiles = profilesOf(k.metadata.config.fragments);
  return {
    arch: archOf(k.metadata),
    release: k.metadata.release,
    spec: k.metadata.source.spec,
    describe: k.metadata.source.describe,
    configHash: k.metadata.config.hash,
    buildSeconds: k.metadata.timings.totalSeconds,
    cacheHit: k.cacheHit,
    ...(profiles.length === 0 ? {} : { profiles }),
  };
}

export interface RunResult {
  startedAt: string;
  durationMs: number;
  kernel: KernelSummary;
  /** The guest architecture every scenario of the run booted (absent in results written before arm64: x86_64). */
  arch?: string;
  /** Kernel B, when the run kexecs into another kernel (`--kexec-into`, `kexec_into`). */
  kexecInto?: KernelSummary;
  qemu: { version: string };
  accel: { accel: string; reason: string };
  scenarios: ScenarioResult[];
  /** `flaky`: of the failed, those whose repeats disagreed (absent when none). */
  summary: { passed: number; failed: number; skipped: number; error: number; xfail: number; flaky?: number };
  /** This run is shard `index` of `total` (1-based) of `suite` (every scenario name, in suite order). */
  shard?: { index: number; total: number; suite: string[] };
  /** VMs run at once. */
  jobs?: number;
  /** `--repeat N`: each scenario ran N times (absent when once). */
  repeat?: number;
  /** Set by `merge-reports`: the results it joined. */
  mergedFrom?: { source: string; startedAt: string; durationMs: number; shard?: string }[];
  comparison?: Comparison;
  /** Every promise of the LUO/memfd contract and what this run's steps found of it. */
  contract?: ContractEntry[];
  /** With --coverage: the joined tracefile and what the run reached of the live-update files. */
  coverage?: RunCoverage;
}

/** A known kernel bug a step names, as this run saw it: `seen` (XFAIL) or not (XPASS). */
export interface KnownBug {
  scenario: string;
  file: string;
  step: number;
  line: number;
  name: string;
  reason: string;
  seen: boolean;
}

/** Every step of the run that names a known kernel bug, in suite order. */
export function knownBugs(scenarios: readonly ScenarioResult[]): KnownBug[] {
  return scenarios.flatMap((sc) =>
    sc.steps.flatMap((st) =>
      st.xfail === undefined ? [] : [{ scenario: sc.name, file: sc.file, step: st.index + 1, line: st.line, name: st.name, reason: st.xfail.reason, seen: st.xfail.seen }],
    ),
  );
}

export function summarize(scenarios: readonly ScenarioResult[]): RunResult['summary'] {
  const count = (s: Status) => scenarios.filter((r) => r.status === s).length;
  const xfail = scenarios.reduce((n, r) => n + r.steps.filter((s) => s.status === 'xfail').length, 0);
  const flaky = scenarios.filter(isFlaky).length;
  return { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), error: count('error'), xfail, ...(flaky > 0 ? { flaky } : {}) };
}
