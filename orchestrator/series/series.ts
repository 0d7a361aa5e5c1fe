import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HandoverError, OUTCOMES, type Outcome } from '../errors.ts';
import { buildKernel, type KernelBuild, type KernelBuildRequest } from '../kernel/build.ts';
import type { Machine } from '../machine/start.ts';
import type { Reporter } from '../scenario/reporter.ts';
import { createProgress, formatSeconds, type Progress } from '../log/progress.ts';
import type { RunResult } from '../scenario/results.ts';
import type { AgentPort } from '../scenario/agent-port.ts';
import type { Scenario } from '../scenario/load.ts';
import { runScenarios } from '../scenario/runner.ts';
import type { AccelPolicy } from '../vm/accel.ts';
import { applyPatch } from './apply.ts';
import { gitTopLevel } from './git.ts';
import { readSeries, type Patch } from './parse.ts';
import { openScratchTree, resetTo, type ScratchTree } from './scratch.ts';
import { diffWarnings, updateWarningMap, type WarningDiff, type WarningMap } from './warnings.ts';
import { DEFAULT_KERNEL_SPEC, parseKernelSpec } from '../kernel/spec.ts';
import { COVERAGE_PROFILE } from '../kernel/coverage-profile.ts';
import { parseLcov } from '../coverage/lcov.ts';
import { mergeAll } from '../coverage/model.ts';
import { changedLines, patchCoverage, type PatchCoverage } from './changed-lines.ts';

/**
 * What became of one patch. good and new-warnings pass; apply-failed, build-failed and
 * test-failed make a patch bad; infra-error means it could not be judged.
 */
export type PatchOutcome =
  | 'good'
  | 'new-warnings'
  | 'apply-failed'
  | 'build-failed'
  | 'test-failed'
  | 'infra-error'
  | 'not-attempted'
  | 'not-tested'
  | 'interrupted';

export const BAD_OUTCOMES: readonly PatchOutcome[] = ['apply-failed', 'build-failed', 'test-failed'];

export interface BuildSummary {
  ok: boolean;
  seconds: number;
  cacheHit: boolean;
  release?: string;
  kernelDir?: string;
  /** The handover outcome of a failed build (build-failed, config-dropped…). */
  outcome?: Outcome;
  /** Against the base; undefined when the base's warnings are not known. */
  warnings?: WarningDiff;
  /** Against the previous patch's build: what this patch itself brought in (--each only). */
  introduced?: WarningDiff;
  buildLog?: string;
}

export interface TestSummary {
  passed: number;
  failed: number;
  skipped: number;
  error: number;
  xfail: number;
  durationMs: number;
  output: string;
  scenarios: { name: string; status: string; outcome?: Outcome; message?: string; evidence?: string[] }[];
  /** With --coverage: the run's lcov tracefile. */
  tracefile?: string;
}

export interface PatchResult {
  index: number;
  subject: string;
  author: string;
  origin: string;
  commit?: string;
  outcome: PatchOutcome;
  message?: string;
  evidence: string[];
  apply: { ok: boolean; file?: string; hunk?: number; line?: number };
  build?: BuildSummary;
  tests?: TestSummary;
  /** The handover outcome behind an infra-error. */
  infraOutcome?: Outcome;
  /** With --coverage: this patch's changed live-update lines, and those no scenario executed. */
  coverage?: PatchCoverage;
  durationMs: number;
}

export interface SeriesResult {
  startedAt: string;
  durationMs: number;
  series: { kind: string; text: string; skipped: string[] };
  base: { spec: string; describe: string; commit: string; tree: string; warnings?: number; build?: BuildSummary; tests?: TestSummary };
  mode: 'each' | 'final-only';
  scenarios: string[];
  patches: PatchResult[];
  firstBad?: { index: number; subject: string; outcome: PatchOutcome; message: string };
  interrupted: boolean;
}

export interface SeriesOptions {
  /** An mbox, a folder of format-patch files, or a git range A..B of the base. */
  series: string;
  /** The base tree, as a kernel spec (default: Debian's linux-source-7.3); config, profiles… as for a build. */
  kernel?: KernelBuildRequest;
  scenarios: readonly Scenario[];
  /** each (default): build and test after every patch; final-only: once, after the last. */
  mode?: 'each' | 'final-only';
  /** Also run the scenarios on the base (it is always built: its warnings are the baseline). */
  testBase?: boolean;
  accel?: AccelPolicy;
  output: string;
  agentFor: (m: Machine) => AgentPort;
  /** Live lines (what is being done, per scenario results); default: none. */
  log?: (line: string) => void;
  /** Build progress (a cold build takes minutes). */
  progress?: Progress;
  /** More reporters for every scenario run (the CLI's live status). */
  reporters?: readonly Reporter[];
  signal?: AbortSignal;
  /** Build with the coverage profile and list each patch's changed live-update lines no scenario executed. */
  coverage?: boolean;
}

/**
 * Applies a series patch by patch in a scratch tree of the base and, per patch: does it apply
 * (if not: the file and hunk), does it build (new warnings against the base), do the scenarios
 * pass. Never throws for a bad patch; throws for bad input and when the base itself cannot be
 * built (nothing could be judged).
 */
export async function runSeries(opts: SeriesOptions): Promise<SeriesResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const mode = opts.mode ?? 'each';
  const baseSpec = opts.kernel?.kernel ?? DEFAULT_KERNEL_SPEC;
  const spec = parseKernelSpec(baseSpec);
  // A git range is read from the base checkout (only when --kernel is the top of a git work tree).
  const top = spec.kind === 'local' ? await gitTopLevel(spec.dir) : undefined;
  const baseGitDir = spec.kind === 'local' && top === spec.dir ? top : undefined;

  await mkdir(opts.output, { recursive: true });
  const work = join(opts.output, 'patches');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const series = await readSeries(opts.series, { workDir: work, ...(baseGitDir === undefined ? {} : { baseGitDir }) });
  log(`series: ${series.patches.length} patch${series.patches.length === 1 ? '' : 'es'} from ${series.text}${series.skipped.length > 0 ? ` (skipped ${series.skipped.join('; ')})` : ''}`);

  const scratch = await openScratchTree(baseSpec, {
    ...(series.baseRev === undefined ? {} : { baseRev: series.baseRev }),
    ...(opts.progress === undefined ? {} : { progress: opts.progress }),
  });
  try {
    log(`base: ${scratch.describe} in ${scratch.dir}`);
    return await runInScratch(opts, scratch, series.patches, {
      started,
      log,
      mode,
      baseSpec,
      series: { kind: series.kind, text: series.text, skipped: series.skipped },
    });
  } finally {
    await scratch.release();
  }
}

interface RunContext {
  started: number;
  log: (line: string) => void;
  mode: 'each' | 'final-only';
  baseSpec: string;
  series: SeriesResult['series'];
}

async function runInScratch(opts: SeriesOptions, scratch: ScratchTree, patches: readonly Patch[], ctx: RunContext): Promise<SeriesResult> {
  const { log } = ctx;
  const results: PatchResult[] = patches.map((p) => ({
    index: p.index,
    subject: p.subject,
    author: p.author,
    origin: p.origin,
    outcome: 'not-attempted',
    evidence: [],
    apply: { ok: false },
    durationMs: 0,
  }));

  // Apply first, all of it: a patch that does not apply is known in seconds, before any build.
  for (const [i, patch] of patches.entries()) {
    const r = results[i] as PatchResult;
    const t0 = Date.now();
    const applied = await applyPatch(scratch.dir, patch);
    r.durationMs += Date.now() - t0;
    if (applied.ok) {
      r.commit = applied.commit;
      r.apply = { ok: true };
      r.outcome = 'not-tested';
      log(`[${patch.index}/${patches.length}] applied: ${patch.subject} (${applied.commit.slice(0, 12)})`);
      continue;
    }
    const f = applied.failure;
    r.apply = { ok: false, file: f.file, ...(f.hunk === undefined ? {} : { hunk: f.hunk }), ...(f.line === undefined ? {} : { line: f.line }) };
    r.outcome = 'apply-failed';
    r.message = f.message;
    r.evidence = f.evidence;
    log(`[${patch.index}/${patches.length}] ${f.message}: ${patch.subject}`);
    break;
  }

  const profiles = opts.coverage === true ? { profiles: [...new Set([...(opts.kernel?.profiles ?? []), COVERAGE_PROFILE])] } : {};
  const req: KernelBuildRequest = { ...opts.kernel, ...profiles, kernel: `path:${scratch.dir}`, ...(opts.signal === undefined ? {} : { signal: opts.signal }) };
  const warnings = new WarningState(scratch.stateDir, scratch.dir);
  const base: SeriesResult['base'] = { spec: ctx.baseSpec, describe: scratch.describe, commit: scratch.baseCommit, tree: scratch.dir };
  let interrupted = false;
  const applied = results.filter((r) => r.commit !== undefined);
  if (applied.length > 0) {
    // The base is built first: its warnings are what every patch is compared with.
    await resetTo(scratch.dir, scratch.baseCommit);
    log(`building the base (${scratch.baseCommit.slice(0, 12)})`);
    const b = await buildAt(req, opts, warnings);
    if (b.error?.outcome === 'interrupted') throw b.error;
    if (b.error !== undefined) {
      throw new HandoverError(b.error.outcome, `the base ${scratch.describe} does not build, so no patch can be judged: ${b.error.message}`, {
        evidence: [...b.error.evidence],
        artifacts: { ...b.error.artifacts },
      });
    }
    base.build = b.summary;
    warnings.base = b.map;
    warnings.previous = b.map;
    if (b.map !== undefined) base.warnings = Object.values(b.map).flat().length;
    log(`base built in ${formatSeconds(b.summary.seconds)}${b.summary.cacheHit ? ' (cache hit)' : ''}: ${base.warnings ?? '?'} warnings`);
    if (opts.testBase === true) {
      base.tests = await runTests(req, opts, join(opts.output, 'base'), log);
      if (base.tests.failed + base.tests.error > 0) log('note: the base itself fails scenarios; patches are judged against that');
    }

    const targets = ctx.mode === 'each' ? applied : applied.slice(-1);
    let previous = scratch.baseCommit;
    for (const r of targets) {
      if (opts.signal?.aborted === true) {
        interrupted = true;
        r.outcome = 'interrupted';
        continue;
      }
      const t0 = Date.now();
      await resetTo(scratch.dir, r.commit as string);
      log(`[${r.index}/${results.length}] building: ${r.subject}`);
      await judge(r, req, opts, warnings, log);
      // After --final-only, the last patch's tree holds the whole series: its lines are the series'.
      if (opts.coverage === true && r.tests?.tracefile !== undefined) r.coverage = await coverageOf(scratch.dir, ctx.mode === 'each' ? previous : scratch.baseCommit, r.commit as string, r.tests.tracefile);
      previous = r.commit as string;
      r.durationMs += Date.now() - t0;
      if (r.outcome === 'interrupted') interrupted = true;
      log(`[${r.index}/${results.length}] ${r.outcome}${r.message === undefined ? '' : `: ${r.message}`}`);
    }
  }
  if (opts.signal?.aborted === true) interrupted = true;

  // After --final-only, a build or test failure belongs to the series, not to its last patch.
  const bad = results.find((r) => BAD_OUTCOMES.includes(r.outcome) && (ctx.mode === 'each' || r.outcome === 'apply-failed'));
  const result: SeriesResult = {
    startedAt: new Date(ctx.started).toISOString(),
    durationMs: Date.now() - ctx.started,
    series: ctx.series,
    base,
    mode: ctx.mode,
    scenarios: opts.scenarios.map((s) => s.name),
    patches: results,
    ...(bad === undefined ? {} : { firstBad: { index: bad.index, subject: bad.subject, outcome: bad.outcome, message: bad.message ?? bad.outcome } }),
    interrupted,
  };
  return result;
}

/** Build, compare warnings, test: fills in one patch's result. */
async function judge(r: PatchResult, req: KernelBuildRequest, opts: SeriesOptions, warnings: WarningState, log: (l: string) => void): Promise<void> {
  const b = await buildAt(req, opts, warnings);
  r.build = b.summary;
  if (b.error !== undefined) {
    const e = b.error;
    if (e.outcome === 'interrupted') {
      r.outcome = 'interrupted';
      return;
    }
    const patchFault = e.outcome === 'build-failed' || e.outcome === 'config-dropped' || e.outcome === 'config-unknown-symbol';
    r.outcome = patchFault ? 'build-failed' : 'infra-error';
    if (!patchFault) r.infraOutcome = e.outcome;
    r.message = `${e.outcome}: ${e.message}`;
    r.evidence = [...e.evidence];
    return;
  }
  // In --each mode a patch answers for the warnings it brings in; after --final-only, for all of them.
  const added = (opts.mode === 'final-only' ? b.summary.warnings : b.summary.introduced)?.added ?? [];
  const vsBase = b.summary.warnings;
  log(`    built in ${formatSeconds(b.summary.seconds)}${b.summary.cacheHit ? ' (cache hit)' : ''}, ${vsBase === undefined ? 'warnings unknown' : `${vsBase.added.length} new warning${vsBase.added.length === 1 ? '' : 's'} against the base (${added.length} from this patch)`}`);
  const tests = await runTests(req, opts, join(opts.output, `patch-${String(r.index).padStart(2, '0')}`), log);
  r.tests = tests;
  if (opts.signal?.aborted === true) {
    r.outcome = 'interrupted';
    return;
  }
  const failed = tests.scenarios.find((s) => s.status === 'failed' || (s.status === 'error' && s.outcome === 'step-failed'));
  const infra = tests.scenarios.find((s) => s.status === 'error' && s.outcome !== 'step-failed');
  if (failed !== undefined) {
    r.outcome = 'test-failed';
    r.message = `${failed.name}: ${failed.outcome ?? 'failed'}: ${failed.message ?? ''}`;
    r.evidence = (failed.evidence ?? []).filter((e) => !(r.message ?? '').includes(e));
  } else if (infra !== undefined) {
    r.outcome = 'infra-error';
    r.infraOutcome = infra.outcome ?? 'vm-failed';
    r.message = `${infra.name}: ${infra.outcome ?? 'error'}: ${infra.message ?? ''}`;
    r.evidence = infra.evidence ?? [];
  } else if (added.length > 0) {
    r.outcome = 'new-warnings';
    r.message = `+${added.length} compiler warning${added.length === 1 ? '' : 's'} (${vsBase?.added.length ?? '?'} against the base)`;
    r.evidence = added;
  } else {
    r.outcome = 'good';
  }
}

async function runTests(req: KernelBuildRequest, opts: SeriesOptions, output: string, log: (l: string) => void): Promise<TestSummary> {
  const started = Date.now();
  const line: Reporter = {
    scenarioEnd(s) {
      log(`    ${s.status === 'passed' ? 'ok  ' : s.status.toUpperCase().padEnd(4)} ${s.name} in ${formatSeconds(s.durationMs / 1000)}${s.status === 'passed' ? '' : `: ${s.outcome ?? ''} ${s.message ?? ''}`}`);
    },
  };
  await mkdir(output, { recursive: true });
  let run: RunResult;
  try {
    run = await runScenarios({
      scenarios: opts.scenarios,
      kernel: req,
      accel: opts.accel ?? 'auto',
      output,
      reporters: [line, ...(opts.reporters ?? [])],
      agentFor: opts.agentFor,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.coverage === true ? { coverage: true } : {}),
    });
  } catch (err) {
    // A scenario's own profile or config is built inside the runner: its failure lands here.
    if (!(err instanceof HandoverError)) throw err;
    const status = OUTCOMES[err.outcome].class === 'build' ? 'failed' : 'error';
    return {
      passed: 0,
      failed: status === 'failed' ? 1 : 0,
      skipped: 0,
      error: status === 'error' ? 1 : 0,
      xfail: 0,
      durationMs: Date.now() - started,
      output,
      scenarios: [{ name: '(kernel for a scenario)', status, outcome: err.outcome, message: err.message, evidence: [...err.evidence] }],
    };
  }
  await writeFile(join(output, 'results.json'), `${JSON.stringify(run, null, 2)}\n`);
  return {
    ...run.summary,
    durationMs: run.durationMs,
    output,
    ...(run.coverage === undefined ? {} : { tracefile: run.coverage.tracefile }),
    scenarios: run.scenarios.map((s) => ({
      name: s.name,
      status: s.status,
      ...(s.outcome === undefined ? {} : { outcome: s.outcome }),
      ...(s.message === undefined ? {} : { message: s.message }),
      ...(s.evidence === undefined ? {} : { evidence: s.evidence }),
    })),
  };
}

/** A patch's changed live-update lines (from..to in the scratch tree) against the run's tracefile. */
async function coverageOf(tree: string, from: string, to: string, tracefile: string): Promise<PatchCoverage> {
  const cov = mergeAll(parseLcov(await readFile(tracefile, 'utf8'), tracefile).map((t) => t.coverage));
  return patchCoverage(await changedLines(tree, from, to), cov);
}

interface BuildOutcome {
  summary: BuildSummary;
  map?: WarningMap;
  error?: HandoverError;
}

async function buildAt(req: KernelBuildRequest, opts: SeriesOptions, warnings: WarningState): Promise<BuildOutcome> {
  const t0 = Date.now();
  let build: KernelBuild;
  try {
    build = await buildKernel({ ...req, progress: opts.progress ?? createProgress({ quiet: true }) });
  } catch (err) {
    if (!(err instanceof HandoverError)) throw err;
    const buildLog = err.artifacts.buildLog;
    if (buildLog !== undefined) await warnings.afterMake(dirname(buildLog), await readFile(buildLog, 'utf8').catch(() => ''));
    return {
      summary: { ok: false, seconds: (Date.now() - t0) / 1000, cacheHit: false, outcome: err.outcome, ...(buildLog === undefined ? {} : { buildLog }) },
      error: err,
    };
  }
  let map: WarningMap | undefined;
  if (build.cacheHit) {
    map = await warnings.snapshot(build.metadata.key);
  } else {
    const text = await readFile(build.artifacts.buildLog, 'utf8');
    map = await warnings.afterMake(build.metadata.make.outputDir, text);
    if (map !== undefined) await warnings.saveSnapshot(build.metadata.key, map);
  }
  const diff = map !== undefined && warnings.base !== undefined ? diffWarnings(warnings.base, map) : undefined;
  const introduced = map !== undefined && warnings.previous !== undefined ? diffWarnings(warnings.previous, map) : undefined;
  warnings.previous = map;
  return {
    summary: {
      ok: true,
      seconds: build.seconds,
      cacheHit: build.cacheHit,
      release: build.metadata.release,
      kernelDir: build.dir,
      buildLog: build.artifacts.buildLog,
      ...(diff === undefined ? {} : { warnings: diff }),
      ...(introduced === undefined ? {} : { introduced }),
    },
    ...(map === undefined ? {} : { map }),
  };
}

/**
 * The warning maps of one scratch tree, kept in its state dir: the output dir's current map
 * (what its objects were compiled with) and a snapshot per kernel cache key (a cache hit runs
 * no make, so its warnings come from the snapshot).
 */
class WarningState {
  base: WarningMap | undefined;
  /** The map of the last build judged: a patch's own warnings are those it adds to it. */
  previous: WarningMap | undefined;
  readonly #dir: string;
  readonly #srcDir: string;

  constructor(dir: string, srcDir: string) {
    this.#dir = dir;
    this.#srcDir = srcDir;
  }

  /** Updates the output dir's map with a make log; undefined when its earlier state is unknown. */
  async afterMake(outDir: string, log: string): Promise<WarningMap | undefined> {
    const file = join(this.#dir, `current-${basename(outDir)}.json`);
    const previous = await readJson(file);
    // With no map yet, only a full build (thousands of steps) tells every unit's warnings.
    const full = (log.match(/^ {2}CC /gm) ?? []).length > 300;
    const next = updateWarningMap(previous ?? {}, log, this.#srcDir);
    await writeFile(file, JSON.stringify(next));
    return previous !== undefined || full ? next : undefined;
  }

  snapshot(key: string): Promise<WarningMap | undefined> {
    return readJson(join(this.#dir, `kernel-${key}.json`));
  }

  async saveSnapshot(key: string, map: WarningMap): Promise<void> {
    await writeFile(join(this.#dir, `kernel-${key}.json`), JSON.stringify(map));
  }
}

async function readJson(file: string): Promise<WarningMap | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as WarningMap;
  } catch {
    return undefined;
  }
}

/** 0 when every patch is good, 1 when one is bad, an infrastructure code when one could not be judged. */
export function seriesExitCode(r: SeriesResult): number {
  if (r.interrupted) return OUTCOMES.interrupted.exit;
  if (r.firstBad !== undefined || r.patches.some((p) => BAD_OUTCOMES.includes(p.outcome))) return 1;
  const infra = r.patches.find((p) => p.outcome === 'infra-error');
  if (infra !== undefined) return OUTCOMES[infra.infraOutcome ?? 'vm-failed'].exit;
  return 0;
}
