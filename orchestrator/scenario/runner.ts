import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { availableParallelism, freemem } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { HandoverError, isFinding, isRetried, OUTCOMES, type Outcome } from '../errors.ts';
import { archOf, buildKernel, type KernelBuild, type KernelBuildRequest } from '../kernel/build.ts';
import { timeScaleOf } from '../kernel/fragments.ts';
import { bootReleases, findIncompatibleHandover, parseMarkers } from '../kho/markers.ts';
import { checkSteps, crashVerdict, failedStep, passedStep, scenarioVerdict } from './verdict.ts';
import { decodeCrashes } from './decode-crashes.ts';
import { isBootBanner, matchCrashTitle, printkMessage } from '../vm/crash-catalogue.ts';
import { machineArch } from '../vm/machine-arch.ts';
import type { Arch } from '../host/arch.ts';
import { startMachine, type Machine } from '../machine/start.ts';
import type { Reporter } from './reporter.ts';
import { compareRuns, type Baseline } from './baseline.ts';
import { contractResults, stepPromises } from './contract.ts';
import { kernelSummary, summarize, type Attempt, type RunResult, type ScenarioResult, type StepResult } from './results.ts';
import { buildRootfs } from '../rootfs/build.ts';
import { bootTimelines, type HostEvents } from './boot-timeline.ts';
import { scenarioTimeline } from './timeline.ts';
import type { AccelPolicy } from '../vm/accel.ts';
import type { AgentPort } from './agent-port.ts';
import type { Scenario } from './load.ts';
import { clearScenarioDirs, repeatDir, repeatLabel, repeatPlan, repeatReporters, RepeatTally } from './repeat.ts';
import { capabilityGap, runStep, stepSkipReason } from './steps.ts';
import { holdEntries } from '../host/cache-store.ts';
import type { Overrides, StepContext } from './step-context.ts';
import { CoverageRecorder, notesDirOf, sourcesOf } from '../coverage/session.ts';
import { joinCoverage } from '../coverage/run-coverage.ts';

export interface RunOptions {
  scenarios: readonly Scenario[];
  /** The kernel under test; scenarios may add profiles and config items on top. */
  kernel?: KernelBuildRequest;
  /** A kernel spec to kexec into (kernel B), built like kernel A; wins over a scenario's kexec_into. */
  kexecInto?: string;
  accel?: AccelPolicy;
  /** Artifacts go to <output>/<scenario>/. */
  output: string;
  reporters?: readonly Reporter[];
  overrides?: Overrides;
  /** Makes the guest agent client for a machine. */
  agentFor: (m: Machine) => AgentPort;
  signal?: AbortSignal;
  /** VMs at once (default 1); lowered to what the CPUs and free memory allow (see planJobs). */
  jobs?: number;
  /** Extra attempts for a scenario that ended in an infrastructure error (default 1). */
  retries?: number;
  /** Runs of every scenario, each in a fresh VM (default 1); see repeat.ts for the verdict. */
  repeat?: number;
  /** Recorded in the result; the caller has already picked this shard's scenarios. */
  shard?: RunResult['shard'];
  /** Compare the results with this previous run (RunResult.comparison). */
  baseline?: Baseline;
  /** An XPASS (a known kernel bug that did not show) fails its scenario, as pytest's strict xfail. */
  strictXfail?: boolean;
  /**
   * The shipped suite as a whole: a scenario that needs a kernel profile the run did not ask for
   * (kho-selftest-debug) is skipped, saying how to run it, instead of costing a second kernel build.
   */
  deferProfiles?: boolean;
  /**
   * Read each boot's gcov counters (before its kexec, and at the end) into `<scenario>/coverage.info`
   * and the run's `coverage.info`: the kernels must carry the coverage profile.
   */
  coverage?: boolean;
}

/** Why a scenario is deferred (RunOptions.deferProfiles), or undefined when it runs. */
export function deferredReason(scenario: Pick<Scenario, 'name' | 'kernel'>, requested: readonly string[]): string | undefined {
  const extra = (scenario.kernel?.profile ?? []).filter((p) => !requested.includes(p));
  if (extra.length === 0) return undefined;
  const flags = extra.map((p) => `--profile ${p}`).join(' ');
  return `needs the ${extra.join('+')} profile's kernel, a second build: not part of the default suite; run it by name (handover run ${scenario.name}) or the suite with ${flags}`;
}

/** Why a scenario whose `arch:` does not name the kernel's architecture is skipped. */
export function otherArch(scenario: Pick<Scenario, 'arch'>, arch: string | undefined): string | undefined {
  const on = arch ?? 'x86_64';
  if (scenario.arch === undefined || scenario.arch.includes(on as Arch)) return undefined;
  return `only runs on ${scenario.arch.join(', ')} (arch: in its header); this run boots ${on}`;
}

const DEFAULT_MEMORY_MIB = 1024;
/** What one QEMU (TCG translation cache, devices, the process) takes beyond its guest's RAM. */
const QEMU_OVERHEAD_MIB = 384;

/**
 * The outcomes a scenario is retried on (the `retry` column of the outcome table, errors.ts): the
 * machine around the test failed, or a kexec'd kernel hung after its banner (retried to confirm
 * it is the kernel's doing). Never retried: failed checks, crashes (but a known kernel bug's, see
 * runWithRetries), refused handovers.
 */
export const RETRIED_OUTCOMES: ReadonlySet<Outcome> = new Set((Object.keys(OUTCOMES) as Outcome[]).filter(isRetried));

/** How many VMs to run at once: the request, bounded by CPUs, free memory and the scenario count. */
export function planJobs(
  requested: number,
  scenarios: readonly Scenario[],
  host: { cpus: number; freeMiB: number } = { cpus: availableParallelism(), freeMiB: Math.floor(freemem() / 2 ** 20) },
): { jobs: number; notes: string[] } {
  const notes: string[] = [];
  let jobs = Math.max(1, Math.floor(requested));
  if (jobs > host.cpus) {
    notes.push(`--jobs ${jobs} lowered to ${host.cpus}: this machine has ${host.cpus} CPUs`);
    jobs = host.cpus;
  }
  const perGuest = Math.max(0, ...scenarios.map((s) => s.boot?.memory ?? DEFAULT_MEMORY_MIB)) + QEMU_OVERHEAD_MIB;
  const fit = Math.max(1, Math.floor(host.freeMiB / perGuest));
  if (jobs > fit) {
    notes.push(`--jobs ${jobs} lowered to ${fit}: ${host.freeMiB} MiB free, up to ${perGuest} MiB per VM (guest memory + QEMU)`);
    jobs = fit;
  }
  return { jobs: Math.max(1, Math.min(jobs, scenarios.length)), notes };
}

/**
 * Runs every scenario in a fresh machine, `jobs` at a time; never throws for a scenario's
 * failure. The kernels the scenarios need are built first, one after the other; the results come
 * back in the order of `scenarios`, whatever order they finished in.
 */
export async function runScenarios(opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const reporters = opts.reporters ?? [];
  const names = new Set<string>();
  for (const s of opts.scenarios) {
    if (names.has(s.name)) throw new HandoverError('usage-error', `two scenarios are named '${s.name}' (${s.file} and another): names must be unique`);
    names.add(s.name);
  }
  const held: string[] = [];
  const { base, kernels } = await buildKernels(opts, held);
  if (opts.coverage === true && base !== undefined && (await sourcesOf(base.build)).length === 0) {
    throw new HandoverError('usage-error', `coverage: kernel ${base.build.metadata.release} has no gcov notes (${base.build.dir}/gcov): build it with the coverage profile (--coverage, or --profile coverage)`);
  }
  // The kernels and guest images the run reads stay held (`handover cache gc` skips them) until it ends.
  const release = await holdEntries(held);
  try {
    return await runPool(opts, started, reporters, base, kernels);
  } finally {
    await release();
  }
}

async function runPool(
  opts: RunOptions,
  started: number,
  reporters: readonly Reporter[],
  base: PreparedKernel | undefined,
  kernels: readonly (PreparedKernel | undefined)[],
): Promise<RunResult> {
  const firstTarget = kernels.find((k) => k?.target !== undefined)?.target;
  // --repeat N: the pool takes (scenario, repeat) pairs; once is exactly the run without repeats.
  const repeat = Math.max(1, opts.repeat ?? 1);
  // Every repeat is a VM to plan for: one scenario repeated still fills --jobs machines.
  const { jobs, notes } = planJobs(opts.jobs ?? 1, repeat === 1 ? opts.scenarios : opts.scenarios.flatMap((s) => Array<Scenario>(repeat).fill(s)));
  for (const n of notes) for (const r of reporters) r.note?.(n);

  const results: (ScenarioResult | undefined)[] = opts.scenarios.map(() => undefined);
  const accels: ({ accel: string; reason: string } | undefined)[] = [];
  const plan = repeatPlan(opts.scenarios.length, repeat);
  const tally = new RepeatTally(opts.scenarios.length, repeat);
  if (repeat > 1) await clearScenarioDirs(opts.output, opts.scenarios.map((s) => s.name));
  let next = 0;
  // A bug in one worker stops the others from taking new scenarios; the ones running finish
  // (their VMs are stopped in runOne) before the error goes up.
  let bug: { err: unknown } | undefined;
  const worker = async () => {
    while (bug === undefined) {
      const item = plan[next++];
      const scenario = item === undefined ? undefined : opts.scenarios[item.index];
      if (item === undefined || scenario === undefined || opts.signal?.aborted === true) return;
      const i = item.index;
      const kernel = kernels[i];
      const label = repeat === 1 ? scenario.name : repeatLabel(scenario.name, item.repeat, repeat);
      try {
        for (const r of reporters) r.scenarioStart?.(label, scenario.description);
        const dir = repeat === 1 ? join(opts.output, scenario.name) : repeatDir(opts.output, scenario.name, item.repeat);
        const deferred = otherArch(scenario, kernel?.build.metadata.arch) ?? (opts.deferProfiles === true ? deferredReason(scenario, opts.kernel?.profiles ?? []) : undefined);
        const result =
          kernel === undefined || deferred !== undefined
            ? { result: unrunResult(scenario, dir, deferred ?? 'not run: the run stopped before its kernel was built', deferred !== undefined) }
            : await runWithRetries(scenario, kernel, opts, repeat === 1 ? reporters : repeatReporters(reporters, scenario.name, label), dir);
        accels[i] = result.accel;
        for (const r of reporters) r.scenarioEnd?.(repeat === 1 ? result.result : { ...result.result, name: label });
        if (repeat === 1) {
          results[i] = result.result;
          continue;
        }
        // Reporters hear each repeat as `name [k/N]`, then the scenario once its repeats are in.
        const all = tally.add(item, result.result, join(opts.output, scenario.name));
        if (all !== undefined) {
          results[i] = all;
          for (const r of reporters) r.scenarioEnd?.(all);
        }
      } catch (err) {
        bug ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  if (bug !== undefined) throw bug.err;
  // Stopped: what ended of each scenario's repeats is its result.
  opts.scenarios.forEach((s, i) => (results[i] ??= tally.partial(i, join(opts.output, s.name))));

  const done = results.filter((r): r is ScenarioResult => r !== undefined);
  const accel = accels.findLast((a) => a !== undefined) ?? { accel: 'unknown', reason: 'no scenario booted' };
  // The kernel under test, without what a scenario adds (a shard of debug-profile scenarios only
  // still names the same kernel as the others, so its results merge with theirs).
  const kernel = base?.build;
  const run: RunResult = {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    kernel:
      kernel === undefined ? { release: 'unknown', spec: 'unknown', describe: 'unknown', configHash: '', buildSeconds: 0, cacheHit: false } : kernelSummary(kernel),
    ...(firstTarget === undefined ? {} : { kexecInto: kernelSummary(firstTarget) }),
    arch: archOf(kernel?.metadata ?? {}),
    qemu: { version: await qemuVersion(machineArch(archOf(kernel?.metadata ?? {})).qemu) },
    accel,
    scenarios: done,
    summary: summarize(done),
    contract: contractResults(done),
    ...(opts.shard === undefined ? {} : { shard: opts.shard }),
    jobs,
    ...(repeat === 1 ? {} : { repeat }),
  };
  const coverage = opts.coverage === true ? await joinCoverage(opts.output, done, base === undefined ? undefined : notesDirOf(base.build)) : undefined;
  if (coverage !== undefined) run.coverage = coverage;
  if (opts.baseline !== undefined) run.comparison = compareRuns(opts.baseline, run);
  for (const r of reporters) await r.runEnd?.(run);
  return run;
}

/** A scenario's steps before any ran: skipped, until a step's own result replaces its entry. */
function unrunSteps(scenario: Scenario): StepResult[] {
  return scenario.steps.map((s, index) => ({
    index,
    kind: s.kind,
    name: s.name ?? describeStep(s),
    line: s.line,
    status: 'skipped',
    durationMs: 0,
    promises: stepPromises(s),
  }));
}

/** A scenario that did not run (deferred, or stopped first): skipped, every step skipped with the same reason. */
function unrunResult(scenario: Scenario, dir: string, message: string, deferred: boolean): ScenarioResult {
  return {
    name: scenario.name,
    file: scenario.file,
    description: scenario.description,
    status: 'skipped',
    message,
    ...(deferred ? { deferred: true } : {}),
    durationMs: 0,
    steps: unrunSteps(scenario).map((st) => ({ ...st, message })),
    consoles: [],
    blackoutsMs: [],
    figures: {},
    artifactsDir: dir,
  };
}

interface PreparedKernel {
  build: KernelBuild;
  /** Wall time of the build (or cache look-up) that produced it. */
  ms: number;
  /** The kernel every kexec goes into (--kexec-into / kexec_into), built like `build`. */
  target?: KernelBuild;
}

/**
 * Builds (or finds) the kernel of every scenario, one build at a time, and its guest image, so
 * parallel machines only ever find them in the cache. Scenarios with the same profiles and config
 * share one build.
 */
async function buildKernels(opts: RunOptions, held: string[]): Promise<{ base?: PreparedKernel; kernels: (PreparedKernel | undefined)[] }> {
  const byKey = new Map<string, PreparedKernel>();
  const get = async (profiles: string[], config: string[], into?: string): Promise<PreparedKernel> => {
    const key = JSON.stringify([profiles, config, into ?? null]);
    let k = byKey.get(key);
    if (k === undefined) {
      const t0 = performance.now();
      const build = await buildKernel({ ...opts.kernel, profiles, config, ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
      const rootfs = await buildRootfs({ uapiInclude: build.artifacts.headers, arch: archOf(build.metadata) });
      const target = into === undefined ? undefined : await buildKexecTarget(opts, into, profiles, config);
      held.push(build.dir, dirname(rootfs.basePath), ...(target === undefined ? [] : [target.dir]));
      k = { build, ms: Math.round(performance.now() - t0), ...(target === undefined ? {} : { target }) };
      byKey.set(key, k);
    }
    return k;
  };
  if (opts.scenarios.length === 0) return { kernels: [] };
  const base = await get([...(opts.kernel?.profiles ?? [])], [...(opts.kernel?.config ?? [])]);
  const kernels: (PreparedKernel | undefined)[] = [];
  for (const scenario of opts.scenarios) {
    if (opts.signal?.aborted === true) break;
    if (opts.deferProfiles === true && deferredReason(scenario, opts.kernel?.profiles ?? []) !== undefined) {
      kernels.push(undefined);
      continue;
    }
    kernels.push(
      await get(
        [...(opts.kernel?.profiles ?? []), ...(scenario.kernel?.profile ?? [])],
        [...(opts.kernel?.config ?? []), ...(scenario.kernel?.config ?? [])],
        opts.kexecInto ?? scenario.kexec_into,
      ),
    );
  }
  return { base, kernels };
}

/**
 * Runs a scenario in `dir` (<scenario>/, or <scenario>/repeat-K/); an infrastructure error
 * (RETRIED_OUTCOMES) is retried up to `retries` times. The earlier attempts' artifacts move to
 * <dir>/attempt-N/; the last attempt's stay in <dir>/, as for a scenario that ran once.
 */
/** Attempts a scenario ended by a known boot-time race gets beyond its first, at the least. */
export const KNOWN_RACE_RETRIES = 3;

async function runWithRetries(
  scenario: Scenario,
  kernel: PreparedKernel,
  opts: RunOptions,
  reporters: readonly Reporter[],
  dir: string,
): Promise<{ result: ScenarioResult; accel?: { accel: string; reason: string } }> {
  const retries = opts.retries ?? 1;
  const attempts: Attempt[] = [];
  for (let n = 1; ; n++) {
    const target = kernel.target;
    const recorder = opts.coverage === true ? new CoverageRecorder(join(dir, 'coverage'), (b) => (b > 1 && target !== undefined ? target : kernel.build)) : undefined;
    const r = await runOne(scenario, kernel.build, opts, reporters, kernel.target, dir, recorder);
    r.result.kernelBuildMs = kernel.ms;
    if (recorder !== undefined && r.result.status !== 'skipped') r.result.coverage = await recorder.finish(scenario.name, kernel.build, dir);
    // A known kernel bug's crash (a boot-time race, KNOWN_CRASHES) kept the checks from running: again,
    // up to KNOWN_RACE_RETRIES times whatever --retries says (under load it hit twice in a row).
    const race = r.result.knownCrash !== undefined;
    const retried = r.result.outcome !== undefined && (RETRIED_OUTCOMES.has(r.result.outcome) || race);
    const retry = retried && n <= (race ? Math.max(retries, KNOWN_RACE_RETRIES) : retries) && opts.signal?.aborted !== true;
    if (!retry) {
      if (attempts.length === 0) return r;
      // The earlier attempts waited beside the dir (runOne starts from an empty one): move them in.
      for (const a of attempts) {
        const kept = join(dir, `attempt-${a.attempt}`);
        await rename(a.artifactsDir, kept);
        a.artifactsDir = kept;
      }
      attempts.push(attemptOf(n, r.result));
      return { ...r, result: { ...r.result, attempts } };
    }
    const aside = `${dir}.attempt-${n}`;
    await rm(aside, { recursive: true, force: true });
    await rename(dir, aside);
    attempts.push({ ...attemptOf(n, r.result), artifactsDir: aside });
    for (const rep of reporters) rep.note?.(`${scenario.name}: attempt ${n} ended in ${r.result.outcome ?? 'error'}: ${r.result.message ?? ''}; retrying (${n}/${race ? Math.max(retries, KNOWN_RACE_RETRIES) : retries})`);
    for (const rep of reporters) rep.retry?.(scenario.name, n + 1);
  }
}

function attemptOf(n: number, r: ScenarioResult): Attempt {
  return {
    attempt: n,
    status: r.status,
    ...(r.outcome === undefined ? {} : { outcome: r.outcome }),
    ...(r.message === undefined ? {} : { message: r.message }),
    durationMs: r.durationMs,
    artifactsDir: r.artifactsDir,
  };
}

async function runOne(
  scenario: Scenario,
  kernel: KernelBuild,
  opts: RunOptions,
  reporters: readonly Reporter[],
  target: KernelBuild | undefined,
  dir: string,
  recorder?: CoverageRecorder,
): Promise<{ result: ScenarioResult; accel?: { accel: string; reason: string } }> {
  const started = performance.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const append = [scenario.boot?.append ?? '', opts.overrides?.append ?? ''].join(' ').trim();
  const memoryMiB = scenario.boot?.memory ?? DEFAULT_MEMORY_MIB;
  const steps = unrunSteps(scenario);
  const releases = [kernel.metadata.release];
  const base: Pick<ScenarioResult, 'name' | 'file' | 'description' | 'steps' | 'artifactsDir' | 'figures'> & { bootMs?: number } = {
    name: scenario.name,
    file: scenario.file,
    description: scenario.description,
    steps,
    artifactsDir: dir,
    figures: {},
  };
  const boot = { startMs: performance.now() - started, endMs: 0 };
  const finish = (r: Partial<ScenarioResult> & Pick<ScenarioResult, 'status'>, m?: Machine): ScenarioResult => ({
    ...base,
    consoles: m?.vm.bootInfo.map((b) => b.log) ?? [],
    releases: m === undefined ? [...releases] : releasesOf(m, releases),
    blackoutsMs: [],
    durationMs: performance.now() - started,
    timeline: scenarioTimeline({ steps, ...(boot.endMs === 0 ? {} : { boot }) }),
    ...(m === undefined ? {} : { bootTimeline: bootTimelines(m.vm.console.lines(), hostEvents(m, steps), consoleOffset) }),
    ...r,
  });
  let consoleOffset = 0;

  let machine: Machine;
  try {
    machine = await startMachine({
      kernel,
      append,
      memoryMiB,
      dir,
      accel: opts.accel ?? 'auto',
      ...(scenario.boot?.cpus === undefined ? {} : { cpus: scenario.boot.cpus }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  } catch (err) {
    // The run's initrd holds the run's private host key: not an artifact worth keeping.
    await rm(join(dir, 'initrd'), { force: true });
    if (!(err instanceof HandoverError)) throw err;
    boot.endMs = performance.now() - started;
    const status = isFinding(err.outcome) ? 'failed' : 'error';
    // A crash during boot: its evidence is the report (a known kernel bug is named, still a failure).
    if (err.outcome === 'kernel-crash') {
      const decodedCrashes = await decodeBootCrash(err, kernel);
      return { result: finish({ ...crashVerdict(err.message, [[...err.evidence]]), ...(decodedCrashes.length === 0 ? {} : { decodedCrashes }) }) };
    }
    return { result: finish({ status, outcome: err.outcome, message: err.message, evidence: [...err.evidence] }) };
  }
  boot.endMs = performance.now() - started;
  consoleOffset = boot.endMs - machine.vm.console.elapsedMs();
  const accel = { accel: machine.vm.accel.accel, reason: machine.vm.accel.reason };
  base.bootMs = Math.round(machine.timings.bootMs);
  const ctx: StepContext = {
    scenario,
    machine,
    agent: opts.agentFor(machine),
    agentUp: false,
    memfds: new Map(),
    kexecLoaded: undefined,
    overrides: opts.overrides ?? {},
    append,
    memoryMiB,
    dir,
    blackoutsMs: [],
    figures: base.figures,
    dumpedBoots: new Set(),
    ...(target === undefined ? {} : { kexecTarget: target }),
    releases,
    caps: new Map(),
    memoryMarks: new Map(),
    bulks: new Map(),
    ...(recorder === undefined ? {} : { beforeKexec: () => recorder.collect(machine.guest, machine.vm.console.currentBoot) }),
  };
  try {
    const missing = scenario.requires === undefined ? undefined : await capabilityGap(ctx, scenario.requires);
    if (missing !== undefined) return { result: finish({ status: 'skipped', message: missing }, machine), accel };
    // Deadlines scale with the kernel's profile (KASAN runs several times slower under TCG).
    const scale = timeScaleOf(kernel.metadata.config.fragments);
    const deadline = Date.now() + (scenario.timeout ?? 300) * 1000 * scale;
    let stopOutcome: Outcome | undefined;
    for (const [i, step] of scenario.steps.entries()) {
      const st = steps[i] as StepResult;
      const t0 = performance.now();
      st.startMs = Math.round(t0 - started);
      for (const r of reporters) r.stepStart?.(scenario.name, { index: i, total: steps.length, name: st.name, kind: st.kind });
      try {
        // A step whose requirement this boot's kernel lacks is skipped with the reason (the
        // finally below reports it), never run and never passed.
        const skip = await stepSkipReason(ctx, step);
        if (skip !== undefined) {
          st.message = skip;
          continue;
        }
        const budget = Math.min((step.timeout ?? (step.kind === 'kexec' ? 120 * (step.kexec.count ?? 1) : 60)) * 1000 * scale, deadline - Date.now());
        ctx.stepDeadline = Date.now() + budget;
        st.data = await withDeadline(runStep(ctx, step), budget, `${st.name} (line ${step.line})`);
        st.status = 'passed';
        if (step.xfail !== undefined) Object.assign(st, passedStep(step.xfail));
      } catch (err) {
        Object.assign(st, failedStep(step.xfail, err));
        if (err instanceof HandoverError) stopOutcome = err.outcome;
      } finally {
        st.durationMs = performance.now() - t0;
        for (const r of reporters) r.step?.(scenario.name, st);
      }
      // A crash or a refused handover ends the scenario at once; so does a step that did not pass.
      if (machine.vm.crashes.length > 0 || st.status === 'failed' || st.status === 'error' || refusedHandover(machine)) break;
    }
    const relNow = releasesOf(machine, releases);
    const verdict = scenarioVerdict({
      file: scenario.file,
      steps,
      ...(stopOutcome === undefined ? {} : { stopOutcome }),
      console: machine.vm.console.lines(),
      crashes: machine.vm.crashes,
      kernelOf: (boot) => `${relNow[boot - 1] ?? 'unknown'}, ${(boot > 1 && target !== undefined ? target : kernel).metadata.source.spec}`,
      expectedLines: scenario.steps.flatMap((st) => (st.kind === 'log' && st.log.contains !== undefined ? [new RegExp(st.log.contains)] : [])),
      strictXfail: opts.strictXfail ?? false,
      strictSteps: new Set(scenario.steps.flatMap((st, i) => (st.xfail?.strict === true ? [i] : []))),
      checks: checkSteps(scenario.steps),
    });
    const crashes = machine.vm.crashes;
    const decodedCrashes =
      crashes.length === 0
        ? []
        : await decodeCrashes(
            crashes.map((c) => ({ title: c.title, boot: c.boot, lines: c.excerpt })),
            (b) => (b > 1 && target !== undefined ? target : kernel),
            (b) => bannerIn(machine.vm.console.lines(b).map((l) => l.text)),
          );
    return { result: finish({ ...verdict, blackoutsMs: ctx.blackoutsMs, ...(decodedCrashes.length === 0 ? {} : { decodedCrashes }) }, machine), accel };
  } finally {
    // The last boot's counters, unless it crashed (nothing to read from a dead guest).
    if (recorder !== undefined && machine.vm.crashes.length === 0) await recorder.collect(machine.guest, machine.vm.console.currentBoot);
    await machine.stop();
    // The run's initrd holds the run's private host key: not an artifact worth keeping.
    await rm(machine.initrd, { force: true });
  }
}

/**
 * Kernel B for a handover between two kernels (CLI wins over the file), built with the same
 * profiles and config items as kernel A, before any VM starts.
 */
async function buildKexecTarget(opts: RunOptions, spec: string, profiles: string[], config: string[]): Promise<KernelBuild> {
  return buildKernel({ ...opts.kernel, kernel: spec, profiles, config, ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
}

/** The `Linux version …` banner among console lines, printk prefix removed. */
function bannerIn(lines: readonly string[]): string | undefined {
  const line = lines.find(isBootBanner);
  return line === undefined ? undefined : printkMessage(line).trimEnd();
}

/** A crash while booting (startMachine's kernel-crash error): its report decoded with kernel A, the banner from the boot's console slice. */
async function decodeBootCrash(err: HandoverError, kernel: KernelBuild): ReturnType<typeof decodeCrashes> {
  const [key, log] = Object.entries(err.artifacts).find(([k]) => /^console\.boot-\d+$/.test(k)) ?? [];
  const boot = Number(key?.replace('console.boot-', '') ?? 1);
  const text = log === undefined ? '' : await readFile(log, 'utf8').catch(() => '');
  const title = err.evidence.map((l) => matchCrashTitle(l)).find((t) => t !== undefined)?.title ?? err.message;
  return decodeCrashes([{ title, boot, lines: err.evidence }], () => kernel, () => bannerIn(text.split('\n')));
}

/** Each boot's release: the kernel's own banner, else what `uname -r` said after the kexec. */
function releasesOf(m: Machine, fromUname: readonly string[]): string[] {
  const banners = bootReleases(m.vm.console.lines().map((l) => l.text));
  return Array.from({ length: Math.max(banners.length, fromUname.length) }, (_, i) => banners[i] ?? fromUname[i] ?? 'unknown');
}

/** The kexec'd kernel said the handover's format is not its own (the verdict names it). */
function refusedHandover(m: Machine): boolean {
  return findIncompatibleHandover(parseMarkers(m.vm.console.lines())) !== undefined;
}

function describeStep(s: Scenario['steps'][number]): string {
  const body = (s as unknown as Record<string, unknown>)[s.kind];
  const arg = typeof body === 'string' ? body : Array.isArray(body) ? body.join(' ') : JSON.stringify(body);
  return `${s.kind} ${arg}`.slice(0, 80);
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HandoverError('step-failed', `${what} did not finish within ${Math.round(ms / 1000)} s`)), Math.max(1, ms));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function qemuVersion(qemu: string): Promise<string> {
  const r = await execa(qemu, ['--version'], { reject: false, stdin: 'ignore' });
  return String(r.stdout).split('\n')[0] ?? 'unknown';
}

/** The host's side of the boot timeline: SSH ready on boot 1, and each kexec step's trigger and SSH ready. */
function hostEvents(m: Machine, steps: readonly StepResult[]): HostEvents {
  const kexecs = steps.flatMap((st) =>
    st.kind === 'kexec' && Array.isArray(st.data)
      ? (st.data as unknown[]).flatMap((d) => {
          const { boot, triggerAtMs, sshReadyAtMs } = (d ?? {}) as Record<string, unknown>;
          return typeof boot === 'number' && typeof triggerAtMs === 'number' && typeof sshReadyAtMs === 'number' ? [{ boot, triggerAtMs, sshReadyAtMs }] : [];
        })
      : [],
  );
  return { sshReadyAtMs: m.sshReadyAtMs, kexecs };
}
