import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HandoverError } from '../errors.ts';
import { buildKernel, type KernelBuild, type KernelBuildRequest } from '../kernel/build.ts';
import { bootReleases, findIncompatibleHandover, parseMarkers } from '../kho/markers.ts';
import { startMachine, type Machine } from '../machine/start.ts';
import type { Reporter } from '../report/console-reporter.ts';
import { summarize, type RunResult, type ScenarioResult, type StepResult } from '../report/results.ts';
import type { AccelPolicy } from '../vm/accel.ts';
import type { AgentPort } from './agent-port.ts';
import type { Scenario } from './load.ts';
import { capabilityGap, runStep, stepSkipReason } from './steps.ts';
import { StepFailure, type Overrides, type StepContext } from './step-context.ts';

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
}

const DEFAULT_MEMORY_MIB = 1024;

/** Runs every scenario in a fresh machine, in order; never throws for a scenario's failure. */
export async function runScenarios(opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const reporters = opts.reporters ?? [];
  const results: ScenarioResult[] = [];
  let firstKernel: KernelBuild | undefined;
  let firstTarget: KernelBuild | undefined;
  let accel = { accel: 'unknown', reason: 'no scenario booted' };
  for (const scenario of opts.scenarios) {
    if (opts.signal?.aborted === true) break;
    for (const r of reporters) r.scenarioStart?.(scenario.name, scenario.description);
    const kernel = await buildKernel({
      ...opts.kernel,
      profiles: [...(opts.kernel?.profiles ?? []), ...(scenario.kernel?.profile ?? [])],
      config: [...(opts.kernel?.config ?? []), ...(scenario.kernel?.config ?? [])],
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    firstKernel ??= kernel;
    const target = await buildKexecTarget(opts, scenario);
    firstTarget ??= target;
    const result = await runOne(scenario, kernel, opts, reporters, target);
    if (result.accel !== undefined) accel = result.accel;
    results.push(result.result);
    for (const r of reporters) r.scenarioEnd?.(result.result);
  }
  const kernel = firstKernel;
  const run: RunResult = {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    kernel: {
      release: kernel?.metadata.release ?? 'unknown',
      spec: kernel?.metadata.source.spec ?? 'unknown',
      describe: kernel?.metadata.source.describe ?? 'unknown',
      configHash: kernel?.metadata.config.hash ?? '',
      buildSeconds: kernel?.metadata.timings.totalSeconds ?? 0,
      cacheHit: kernel?.cacheHit ?? false,
    },
    ...(firstTarget === undefined ? {} : { kexecInto: kernelSummary(firstTarget) }),
    qemu: { version: await qemuVersion() },
    accel,
    scenarios: results,
    summary: summarize(results),
  };
  for (const r of reporters) await r.runEnd?.(run);
  return run;
}

async function runOne(
  scenario: Scenario,
  kernel: KernelBuild,
  opts: RunOptions,
  reporters: readonly Reporter[],
  target: KernelBuild | undefined,
): Promise<{ result: ScenarioResult; accel?: { accel: string; reason: string } }> {
  const started = performance.now();
  const dir = join(opts.output, scenario.name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const append = [scenario.boot?.append ?? '', opts.overrides?.append ?? ''].join(' ').trim();
  const memoryMiB = scenario.boot?.memory ?? DEFAULT_MEMORY_MIB;
  const steps: StepResult[] = scenario.steps.map((s, index) => ({
    index,
    kind: s.kind,
    name: s.name ?? describeStep(s),
    line: s.line,
    status: 'skipped',
    durationMs: 0,
  }));
  const releases = [kernel.metadata.release];
  const base = { name: scenario.name, file: scenario.file, description: scenario.description, steps, artifactsDir: dir, figures: {} as Record<string, number> };
  const finish = (r: Partial<ScenarioResult> & Pick<ScenarioResult, 'status'>, m?: Machine): ScenarioResult => ({
    ...base,
    consoles: m?.vm.bootInfo.map((b) => b.log) ?? [],
    releases: m === undefined ? [...releases] : releasesOf(m, releases),
    blackoutsMs: [],
    durationMs: performance.now() - started,
    ...r,
  });

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
    if (!(err instanceof HandoverError)) throw err;
    const status = err.outcome === 'kernel-crash' ? 'failed' : 'error';
    return { result: finish({ status, outcome: err.outcome, message: err.message, evidence: [...err.evidence] }) };
  }
  const accel = { accel: machine.vm.accel.accel, reason: machine.vm.accel.reason };
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
  };
  try {
    const missing = scenario.requires === undefined ? undefined : await capabilityGap(ctx, scenario.requires);
    if (missing !== undefined) return { result: finish({ status: 'skipped', message: missing }, machine), accel };
    const deadline = Date.now() + (scenario.timeout ?? 300) * 1000;
    for (const [i, step] of scenario.steps.entries()) {
      const st = steps[i] as StepResult;
      const t0 = performance.now();
      try {
        // A step whose requirement this boot's kernel lacks is skipped with the reason (the
        // finally below reports it), never run and never passed.
        const skip = await stepSkipReason(ctx, step);
        if (skip !== undefined) {
          st.message = skip;
          continue;
        }
        const budget = Math.min((step.timeout ?? (step.kind === 'kexec' ? 120 * (step.kexec.count ?? 1) : 60)) * 1000, deadline - Date.now());
        st.data = await withDeadline(runStep(ctx, step), budget, `${st.name} (line ${step.line})`);
        st.status = 'passed';
        if (step.xfail !== undefined) st.message = `XPASS: the known issue did not show (${step.xfail})`;
      } catch (err) {
        st.status = err instanceof StepFailure ? (step.xfail === undefined ? 'failed' : 'xfail') : 'error';
        st.message = err instanceof Error ? err.message : String(err);
        if (st.status === 'xfail') st.message = `XFAIL (${step.xfail ?? ''}): ${st.message}`;
        st.evidence = err instanceof StepFailure ? err.evidence : err instanceof HandoverError ? [...err.evidence] : [];
      } finally {
        st.durationMs = performance.now() - t0;
        for (const r of reporters) r.step?.(scenario.name, st);
      }
      const refused = incompatibleVerdict(machine, releasesOf(machine, releases), kernel, target);
      if (refused !== undefined) return { result: finish({ ...refused, blackoutsMs: ctx.blackoutsMs }, machine), accel };
      const crash = machine.vm.crashes[0];
      if (crash !== undefined) {
        return {
          result: finish({ status: 'failed', outcome: 'kernel-crash', message: `kernel crash in boot ${crash.boot}: ${crash.title}`, evidence: [...crash.excerpt], blackoutsMs: ctx.blackoutsMs }, machine),
          accel,
        };
      }
      if (st.status !== 'passed' && st.status !== 'xfail') {
        const outcome = st.status === 'failed' ? 'test-failed' : 'step-failed';
        return {
          result: finish(
            { status: st.status === 'failed' ? 'failed' : 'error', outcome, message: `step ${i + 1} (${scenario.file}:${step.line}, ${st.name}): ${st.message ?? ''}`, evidence: st.evidence ?? [], blackoutsMs: ctx.blackoutsMs },
            machine,
          ),
          accel,
        };
      }
    }
    return { result: finish({ status: 'passed', blackoutsMs: ctx.blackoutsMs }, machine), accel };
  } finally {
    await machine.stop();
    // The run's initrd holds the run's private host key: not an artifact worth keeping.
    await rm(machine.initrd, { force: true });
  }
}

/**
 * Kernel B for a handover between two kernels (CLI wins over the file), built with the same
 * profiles and config items as kernel A, before any VM starts.
 */
async function buildKexecTarget(opts: RunOptions, scenario: Scenario): Promise<KernelBuild | undefined> {
  const spec = opts.kexecInto ?? scenario.kexec_into;
  if (spec === undefined) return undefined;
  return buildKernel({
    ...opts.kernel,
    kernel: spec,
    profiles: [...(opts.kernel?.profiles ?? []), ...(scenario.kernel?.profile ?? [])],
    config: [...(opts.kernel?.config ?? []), ...(scenario.kernel?.config ?? [])],
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
}

/** Each boot's release: the kernel's own banner, else what `uname -r` said after the kexec. */
function releasesOf(m: Machine, fromUname: readonly string[]): string[] {
  const banners = bootReleases(m.vm.console.lines().map((l) => l.text));
  return Array.from({ length: Math.max(banners.length, fromUname.length) }, (_, i) => banners[i] ?? fromUname[i] ?? 'unknown');
}

function kernelSummary(k: KernelBuild): RunResult['kernel'] {
  return {
    release: k.metadata.release,
    spec: k.metadata.source.spec,
    describe: k.metadata.source.describe,
    configHash: k.metadata.config.hash,
    buildSeconds: k.metadata.timings.totalSeconds,
    cacheHit: k.cacheHit,
  };
}

/**
 * The kexec'd kernel said the handover's format is not its own: that is the finding, whatever
 * happened next (a lost session, or the panic LUO ends in), so it wins over kernel-crash.
 */
function incompatibleVerdict(
  m: Machine,
  releases: readonly string[],
  a: KernelBuild,
  b: KernelBuild | undefined,
): Pick<ScenarioResult, 'status' | 'outcome' | 'message' | 'evidence'> | undefined {
  const found = findIncompatibleHandover(parseMarkers(m.vm.console.lines().map((l) => ({ text: l.text, boot: l.boot }))));
  if (found === undefined) return undefined;
  // Boot 1 runs kernel A; every later boot kernel B (or A again, without kexec_into).
  const name = (boot: number) => `${releases[boot - 1] ?? 'unknown'}, ${(boot > 1 && b !== undefined ? b : a).metadata.source.spec}`;
  const from = name(found.boot - 1);
  const to = name(found.boot);
  const crash = m.vm.crashes.find((c) => c.boot === found.boot);
  const what = found.layer === 'kho' ? 'KHO FDT' : 'LUO state';
  return {
    status: 'failed',
    outcome: 'incompatible-handover',
    message: `boot ${found.boot} (${to}) refused the ${what} handed over by boot ${found.boot - 1} (${from})${found.expected === undefined ? '' : `: it expects '${found.expected}'`}${crash === undefined ? '' : `, then crashed: ${crash.title}`}`,
    evidence: found.markers.map((k) => k.message),
  };
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

async function qemuVersion(): Promise<string> {
  const r = await execa('qemu-system-x86_64', ['--version'], { reject: false, stdin: 'ignore' });
  return String(r.stdout).split('\n')[0] ?? 'unknown';
}
