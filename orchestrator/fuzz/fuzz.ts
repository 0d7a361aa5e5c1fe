// `handover fuzz` as a function: programs generated from a seed, batched several to a VM, run
// until the time budget or the program count is spent; every divergence from the model (and every
// kernel crash or KHO/LUO error line) is a finding, shrunk to a small scenario file that
// `handover run` reproduces on its own.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError, type Outcome } from '../errors.ts';
import type { KernelSummary } from '../scenario/results.ts';
import { execute, passedCover, passedKexecs, type Candidate, type ExecOptions, type Executed } from './execute.ts';
import { generateProgram } from './generate.ts';
import { COVERAGE_UNIVERSE, realize } from './model.ts';
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
}

const DEFAULT_MEMORY_MIB = 1024;

/** The seed of program i of a run seeded `seed` (each program has its own PRNG). */
export function programSeed(seed: number, i: number): number {
  return new Prng((seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0).next();
}

/** The batch b of a run: programs b*perBatch … as one merged op list. */
export function batchOps(seed: number, b: number, perBatch: number, memoryMiB: number): TaggedOp[] {
  const programs: Op[][] = [];
  for (let k = 0; k < perBatch; k++) {
    const i = b * perBatch + k;
    programs.push(
      generateProgram(programSeed(seed, i), k, {
        memoryMiB,
        maxBytes: Math.floor((160 << 20) / perBatch),
      }),
    );
  }
  return mergePrograms(programs);
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const memoryMiB = opts.memoryMiB ?? DEFAULT_MEMORY_MIB;
  const exec: ExecOptions = { ...opts, memoryMiB };
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
      return {
        name: `batch-${String(batch).padStart(4, '0')}`,
        ops: batchOps(opts.seed, batch, opts.perBatch, memoryMiB).filter((o) => o.prog < per),
        description: `fuzz batch ${batch} of seed ${opts.seed}: programs ${batch * opts.perBatch}…${batch * opts.perBatch + per - 1}`,
        comment: [`handover fuzz --seed ${opts.seed} --per-batch ${opts.perBatch}: batch ${batch}`],
      };
    });
    b += n;
    const t0 = Date.now();
    const { executed, run } = await execute(cands, join(opts.output, 'batches'), exec);
    result.fuzzMs += Date.now() - t0;
    if (result.kernel === undefined && run.kernel.release !== 'unknown') result.kernel = run.kernel;
    if (run.accel.accel !== 'unknown') result.accel = run.accel.accel;
    for (const e of executed) await account(e, result, counts, opts, exec);
    progress('fuzzing');
  }
  result.durationMs = Date.now() - started;
  result.coverage = [...counts].map(([label, count]) => ({ label, count }));
  result.unreached = result.coverage.filter((c) => c.count === 0).map((c) => c.label);
  return result;

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
          ex,
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
