// `handover fuzz` as a function: programs generated from a seed, batched several to a VM, run
// until the time budget or the program count is spent; every divergence from the model (and every
// kernel crash or KHO/LUO error line) is a finding, shrunk to a small scenario file that
// `handover run` reproduces on its own.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLcov, toLcov } from '../coverage/lcov.ts';
import { addCoverage, mergeAll, summarize, type Coverage, type FileSummary, type Ratio } from '../coverage/model.ts';
import { addPoints, coveragePoints, coverageSample, newPoints, type CoverageSample } from '../coverage/signal.ts';
import { HandoverError, type Outcome } from '../errors.ts';
import { COVERAGE_PROFILE } from '../kernel/coverage-profile.ts';
import type { KernelSummary } from '../scenario/results.ts';
import { execute, passedCover, passedKexecs, type Candidate, type ExecOptions, type Executed } from './execute.ts';
import { generateProgram } from './generate.ts';
import { COVERAGE_UNIVERSE, realize } from './model.ts';
import { mutateProgram, type Mutation } from './mutate.ts';
import type { Op, TaggedOp } from './ops.ts';
import { Prng } from './prng.ts';
import { loadGenerated, mergePrograms, scenarioText } from './scenario-file.ts';
import { shrinkProgram } from './shrink.ts';

export interface FuzzOptions extends Omit<ExecOptions, 'memoryMiB'> {
  seed: number;
  /** Stop after this many programs (completed or failed). */
  programs?: number;
  /** Stop starting batches after this long (ms). */
  durationMs?: number;
  /** Programs per VM (their sessions side by side, their kexecs shared). */
  perBatch: number;
  memoryMiB?: number;
  /** Shrink findings (default true), each within this budget (ms). */
  shrink?: boolean;
  shrinkBudgetMs?: number;
  /**
   * Build the coverage kernel, read each batch's gcov counters, keep the programs of a batch that
   * reached new kernel lines or branches, and make later programs of their slot mutations of them.
   */
  coverage?: boolean;
  /** With coverage: a tracefile (e.g. the suite's coverage.info) to report the programs' gain over. */
  coverageAgainst?: string;
  /** Where programs, runs and findings go. */
  output: string;
  /** Progress after each round of batches and each shrink try. */
  onProgress?: (p: FuzzProgress) => void;
}

export interface FuzzProgress {
  elapsedMs: number;
  programs: number;
  kexecs: number;
  findings: number;
  covered: number;
  coverable: number;
  /** With --coverage: kernel lines of the live-update code reached so far. */
  kernelLines?: Ratio;
  phase: 'fuzzing' | 'shrinking';
}

export interface Finding {
  id: number;
  signature: string;
  outcome: string;
  message: string;
  /** The batch it showed in, its scenario file, and the program of the failing step. */
  batch: string;
  batchFile: string;
  program?: number;
  /** How often it showed (batches with the same signature). */
  seen: number;
  /** The shrunk reproducer (a scenario file), its step count, and the tries it took. */
  reproducer: string;
  steps: number;
  shrink: { tries: number; ms: number; reproduced: boolean } | undefined;
}

export interface CoverageRow {
  label: string;
  count: number;
}

export interface FuzzResult {
  seed: number;
  startedAt: string;
  durationMs: number;
  perBatch: number;
  jobs: number;
  kernel?: KernelSummary;
  accel?: string;
  programs: number;
  batches: number;
  kexecs: number;
  /** ms of batches run (VM time), for programs/min and kexecs/min. */
  fuzzMs: number;
  findings: Finding[];
  /** Batches that ended in an infrastructure error (not findings; their programs do not count). */
  errors: { batch: string; outcome: string; message: string }[];
  coverage: CoverageRow[];
  unreached: string[];
  /** With --coverage: what the programs reached of the live-update code, and how it grew. */
  kernelCoverage?: FuzzKernelCoverage;
}

export interface FuzzKernelCoverage {
  /** `<output>/coverage.info`: every batch's counters summed (one TN: fuzz). */
  tracefile: string;
  files: FileSummary[];
  /** Lines and branches reached so far, after each round of batches. */
  samples: CoverageSample[];
  /** Programs kept because their batch reached new lines or branches. */
  corpus: number;
  /** Programs generated as mutations of kept ones, and how many of their batches reached something new. */
  mutants: number;
  mutantGains: number;
  /** Batches whose counters could not be read (their code ran uncounted). */
  missed: { batch: string; reason: string }[];
  /** --coverage-against: what the programs reached that the given tracefile did not. */
  beyond?: CoverageGain;
}

export interface CoverageGain {
  tracefile: string;
  lines: number;
  branches: number;
  /** The new lines (file:line) and taken branches (file:line:bN), in file and line order. */
  newLines: string[];
  newBranches: string[];
}

/** A kept program: its ops (of its slot's names) and the batch it ran in. */
export interface CorpusEntry {
  ops: Op[];
  batch: string;
}

/** How program slot k of a batch came to be: fresh from its seed, or a mutant of a kept program. */
export interface Origin {
  ops: Op[];
  from?: { batch: string; mutations: Mutation[] };
}

const DEFAULT_MEMORY_MIB = 1024;

/** The seed of program i of a run seeded `seed` (each program has its own PRNG). */
export function programSeed(seed: number, i: number): number {
  return new Prng((seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0).next();
}

/** The batch b of a run: programs b*perBatch … as one merged op list. */
export function batchOps(seed: number, b: number, perBatch: number, memoryMiB: number): TaggedOp[] {
  return mergePrograms(batchPrograms(seed, b, perBatch, memoryMiB).map((p) => p.ops));
}

/**
 * The programs of batch b, one per slot. With a corpus (coverage-guided), a slot whose kept
 * programs are not empty is a mutant of one of them half the time, chosen by the program's seed:
 * the same seed and the same coverage make the same programs.
 */
export function batchPrograms(seed: number, b: number, perBatch: number, memoryMiB: number, corpus?: ReadonlyMap<number, readonly CorpusEntry[]>): Origin[] {
  const out: Origin[] = [];
  const maxBytes = Math.floor((160 << 20) / perBatch);
  for (let k = 0; k < perBatch; k++) {
    const ps = programSeed(seed, b * perBatch + k);
    const kept = corpus?.get(k) ?? [];
    const r = new Prng((ps ^ 0x5bd1e995) >>> 0);
    if (kept.length > 0 && r.chance(0.5)) {
      const parent = r.pick(kept);
      const m = mutateProgram(parent.ops, r.next(), { memoryMiB, maxBytes });
      out.push({ ops: m.ops, from: { batch: parent.batch, mutations: m.mutations } });
    } else {
      out.push({ ops: generateProgram(ps, k, { memoryMiB, maxBytes }) });
    }
  }
  return out;
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const memoryMiB = opts.memoryMiB ?? DEFAULT_MEMORY_MIB;
  const guided = opts.coverage === true;
  const kernel = guided ? { ...opts.kernel, profiles: [...new Set([...(opts.kernel?.profiles ?? []), COVERAGE_PROFILE])] } : opts.kernel;
  const exec: ExecOptions = { ...opts, memoryMiB, ...(kernel === undefined ? {} : { kernel }) };
  const against = opts.coverageAgainst === undefined ? undefined : { tracefile: opts.coverageAgainst, covered: await pointsOf(opts.coverageAgainst, guided) };
  const corpus = new Map<number, CorpusEntry[]>();
  const seen = new Set<string>();
  const coverable = new Set<string>();
  let summed: Coverage = new Map();
  const kcov: FuzzKernelCoverage = { tracefile: join(opts.output, 'coverage.info'), files: [], samples: [], corpus: 0, mutants: 0, mutantGains: 0, missed: [] };
  const origins = new Map<string, Origin[]>();
  const counts = new Map<string, number>(COVERAGE_UNIVERSE.map((l) => [l, 0]));
  const result: FuzzResult = {
    seed: opts.seed,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    perBatch: opts.perBatch,
    jobs: opts.jobs,
    programs: 0,
    batches: 0,
    kexecs: 0,
    fuzzMs: 0,
    findings: [],
    errors: [],
    coverage: [],
    unreached: [],
  };
  await rm(opts.output, { recursive: true, force: true });
  await mkdir(opts.output, { recursive: true });
  const progress = (phase: FuzzProgress['phase']) =>
    opts.onProgress?.({
      elapsedMs: Date.now() - started,
      programs: result.programs,
      kexecs: result.kexecs,
      findings: result.findings.length,
      covered: [...counts.values()].filter((n) => n > 0).length,
      coverable: COVERAGE_UNIVERSE.length,
      ...(kcov.samples.length === 0 ? {} : { kernelLines: (kcov.samples[kcov.samples.length - 1] as CoverageSample).lines }),
      phase,
    });
  const timeLeft = () => (opts.durationMs === undefined ? Number.POSITIVE_INFINITY : started + opts.durationMs - Date.now());
  const wanted = () => (opts.programs === undefined ? Number.POSITIVE_INFINITY : opts.programs - result.batches * opts.perBatch);
  let b = 0;
  while (timeLeft() > 0 && wanted() > 0 && opts.signal?.aborted !== true) {
    const n = Math.max(1, Math.min(opts.jobs, Math.ceil(wanted() / opts.perBatch)));
    const cands: Candidate[] = Array.from({ length: n }, (_, j) => {
      const batch = b + j;
      const per = Math.min(opts.perBatch, wanted() - j * opts.perBatch);
      const name = `batch-${String(batch).padStart(4, '0')}`;
      const progs = batchPrograms(opts.seed, batch, opts.perBatch, memoryMiB, guided ? corpus : undefined).slice(0, per);
      origins.set(name, progs);
      const mutants = progs.flatMap((p, k) => (p.from === undefined ? [] : [`program ${k} is a mutant of ${p.from.batch}'s (${p.from.mutations.join(', ') || 'unchanged'})`]));
      kcov.mutants += mutants.length;
      return {
        name,
        ops: mergePrograms(progs.map((p) => p.ops)),
        description: `fuzz batch ${batch} of seed ${opts.seed}: programs ${batch * opts.perBatch}…${batch * opts.perBatch + per - 1}`,
        comment: [`handover fuzz --seed ${opts.seed} --per-batch ${opts.perBatch}${guided ? ' --coverage' : ''}: batch ${batch}`, ...mutants],
      };
    });
    b += n;
    const t0 = Date.now();
    const { executed, run } = await execute(cands, join(opts.output, 'batches'), exec);
    result.fuzzMs += Date.now() - t0;
    if (result.kernel === undefined && run.kernel.release !== 'unknown') result.kernel = run.kernel;
    if (run.accel.accel !== 'unknown') result.accel = run.accel.accel;
    for (const e of executed) {
      if (guided && e.result.status !== 'error') await learn(e);
      await account(e, result, counts, opts, exec);
    }
    if (guided) kcov.samples.push(coverageSample(Date.now() - started, seen, coverable));
    progress('fuzzing');
  }
  result.durationMs = Date.now() - started;
  result.coverage = [...counts].map(([label, count]) => ({ label, count }));
  result.unreached = result.coverage.filter((c) => c.count === 0).map((c) => c.label);
  if (guided) {
    await writeFile(kcov.tracefile, toLcov([{ test: 'fuzz', coverage: summed }]));
    kcov.files = summarize(summed);
    if (against !== undefined) kcov.beyond = gainOver(against, seen);
    result.kernelCoverage = kcov;
  }
  return result;

  /** A batch's counters: summed into the run's, and its programs kept when they reached something new. */
  async function learn(e: Executed): Promise<void> {
    const tracefile = e.result.coverage?.tracefile;
    for (const m of e.result.coverage?.missed ?? []) kcov.missed.push({ batch: e.candidate.name, reason: `boot ${m.boot}: ${m.reason}` });
    const text = tracefile === undefined ? undefined : await readFile(tracefile, 'utf8').catch(() => undefined);
    if (text === undefined) {
      kcov.missed.push({ batch: e.candidate.name, reason: tracefile === undefined ? 'no tracefile' : `${tracefile} is missing` });
      return;
    }
    const cov = mergeAll(parseLcov(text, tracefile).map((t) => t.coverage));
    summed = addCoverage(summed, cov);
    const points = coveragePoints(cov);
    addPoints(coverable, points.coverable);
    const fresh = newPoints(seen, points.covered);
    addPoints(seen, fresh);
    if (fresh.length === 0) return;
    const progs = origins.get(e.candidate.name) ?? [];
    if (progs.some((p) => p.from !== undefined)) kcov.mutantGains++;
    progs.forEach((p, k) => {
      corpus.set(k, [...(corpus.get(k) ?? []), { ops: p.ops, batch: e.candidate.name }]);
      kcov.corpus++;
    });
  }

  async function account(e: Executed, r: FuzzResult, cover: Map<string, number>, o: FuzzOptions, ex: ExecOptions): Promise<void> {
    if (e.result.status === 'error') {
      r.errors.push({
        batch: e.candidate.name,
        outcome: e.result.outcome ?? 'error',
        message: e.result.message ?? '',
      });
      return;
    }
    r.batches++;
    for (const l of passedCover(e)) cover.set(l, (cover.get(l) ?? 0) + 1);
    r.kexecs += passedKexecs(e);
    const progs = new Set(e.candidate.ops.map((op) => op.prog)).size;
    r.programs += progs;
    if (e.failure === undefined) return;
    const same = r.findings.find((f) => f.signature === e.failure?.signature);
    if (same !== undefined) {
      same.seen++;
      return;
    }
    const id = r.findings.length + 1;
    const prog = e.failingOp === undefined ? undefined : e.candidate.ops[e.failingOp]?.prog;
    const finding: Finding = {
      id,
      signature: e.failure.signature,
      outcome: e.failure.outcome,
      message: e.failure.message,
      batch: e.candidate.name,
      batchFile: e.file,
      ...(prog === undefined ? {} : { program: prog }),
      seen: 1,
      reproducer: e.file,
      steps: e.steps.length,
      shrink: undefined,
    };
    r.findings.push(finding);
    if (o.shrink === false) return;
    const s0 = Date.now();
    const dir = join(o.output, 'shrink', `finding-${id}`);
    let k = 0;
    const shrunk = await shrinkProgram(e.candidate.ops, e.failingOp, e.failure.signature, {
      jobs: o.jobs,
      memoryMiB: ex.memoryMiB,
      deadline: Date.now() + (o.shrinkBudgetMs ?? 10 * 60_000),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      test: async (cands) => {
        const { executed } = await execute(
          cands.map((ops) => ({
            name: `try-${String(++k).padStart(3, '0')}`,
            ops,
            description: `shrinking finding ${id}`,
          })),
          dir,
          { ...ex, coverage: false },
        );
        for (const x of executed)
          await rm(join(dir, 'runs', x.candidate.name), {
            recursive: true,
            force: true,
          });
        progress('shrinking');
        return executed.map((x) => ({
          ...(x.failure === undefined ? {} : { signature: x.failure.signature }),
          ...(x.failingOp === undefined ? {} : { failingOp: x.failingOp }),
        }));
      },
    });
    const file = join(o.output, `finding-${id}.yaml`);
    finding.steps = await writeReproducer(shrunk.ops, file, finding, o, ex);
    finding.reproducer = file;
    finding.shrink = {
      tries: shrunk.tries,
      ms: Date.now() - s0,
      reproduced: shrunk.reproduced,
    };
  }
}

/** The lines and branches a tracefile reached (--coverage-against), read before any VM starts. */
async function pointsOf(tracefile: string, guided: boolean): Promise<Set<string>> {
  if (!guided) throw new HandoverError('usage-error', '--coverage-against: needs --coverage (the programs must run on the coverage kernel)');
  const text = await readFile(tracefile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new HandoverError('usage-error', `--coverage-against ${tracefile}: ${err.code === 'ENOENT' ? 'no such file (the coverage.info of a run --coverage)' : err.message}`);
  });
  return coveragePoints(mergeAll(parseLcov(text, tracefile).map((t) => t.coverage))).covered;
}

/** What `seen` reached that the tracefile did not (lines, taken branches). */
function gainOver(base: { tracefile: string; covered: ReadonlySet<string> }, seen: ReadonlySet<string>): CoverageGain {
  const fresh = newPoints(base.covered, seen);
  const newLines = fresh.filter((p) => !/:b\d+$/.test(p));
  const newBranches = fresh.filter((p) => /:b\d+$/.test(p));
  return { tracefile: base.tracefile, lines: newLines.length, branches: newBranches.length, newLines, newBranches };
}

/** The shrunk program as a scenario file beside fuzz.json (written, not run again). */
async function writeReproducer(ops: readonly TaggedOp[], file: string, f: Finding, o: FuzzOptions, ex: ExecOptions): Promise<number> {
  const steps = realize(ops, ex.memoryMiB);
  const text = scenarioText(steps, `handover fuzz finding ${f.id} (seed ${o.seed}, ${f.batch}): ${f.message.slice(0, 200)}`, [
    `Found by handover fuzz --seed ${o.seed}; reproduce with: handover run ${file}`,
    `signature: ${f.signature}`,
  ]);
  loadGenerated(text, file);
  await writeFile(file, text);
  return steps.length;
}

/** The exit code: 1 on a finding; an infrastructure outcome when nothing ran at all. */
export function fuzzExitCode(r: FuzzResult, exitOf: (o: Outcome) => number): number {
  if (r.findings.length > 0) return 1;
  const err = r.errors[0];
  if (r.batches === 0 && err !== undefined) return exitOf(err.outcome as Outcome);
  return 0;
}

/** `--duration`: 90s, 10m, 1h, or plain seconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (m === null) throw new HandoverError('usage-error', `${option}: '${text}' is not a duration (e.g. 90s, 10m, 1h)`);
  return Math.round(Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h']);
}
