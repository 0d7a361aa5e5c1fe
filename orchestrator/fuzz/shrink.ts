// Shrinking a failing program: ops are dropped (whole programs of a batch, then chunks of ops, then
// single ones: sessions, files and kexecs go with them, the model re-deriving every expectation),
// then memfds are made small, for as long as the smaller program still fails the same way (its
// signature). Each try is a VM; `jobs` tries run at once; a time budget bounds it all.

import type { Op, TaggedOp } from './ops.ts';
import { realize } from './model.ts';

export interface TryResult {
  signature?: string;
  /** The op the failing step came from (what runs after it never ran). */
  failingOp?: number;
}

export interface ShrinkOptions {
  /** Runs the candidates (at most `jobs` of them), each in its own VM. */
  test: (candidates: readonly (readonly TaggedOp[])[]) => Promise<TryResult[]>;
  jobs: number;
  memoryMiB: number;
  deadline: number;
  signal?: AbortSignal;
}

export interface Shrunk {
  ops: TaggedOp[];
  tries: number;
  /** Whether the failure showed again at all when the program ran alone. */
  reproduced: boolean;
}

/** The ops that give steps, up to the failing one: the rest cannot matter. */
function trim(ops: readonly TaggedOp[], failingOp: number | undefined, memoryMiB: number): TaggedOp[] {
  const cut = failingOp === undefined ? ops : ops.slice(0, failingOp + 1);
  const used = new Set(realize(cut, memoryMiB).map((s) => s.op));
  return cut.filter((_, i) => used.has(i));
}

export async function shrinkProgram(ops: readonly TaggedOp[], failingOp: number | undefined, signature: string, opts: ShrinkOptions): Promise<Shrunk> {
  let tries = 0;
  const out = () => Date.now() > opts.deadline || opts.signal?.aborted === true;
  /** The first candidate (in order) that fails the same way, trimmed; tried `jobs` at a time. */
  const first = async (all: TaggedOp[][]): Promise<TaggedOp[] | undefined> => {
    // A candidate the model makes no step of (every op left meaningless) has nothing to run.
    const cands = all.filter((c) => realize(c, opts.memoryMiB).length > 0);
    for (let i = 0; i < cands.length && !out(); i += opts.jobs) {
      const group = cands.slice(i, i + opts.jobs);
      const results = await opts.test(group);
      tries += group.length;
      const hit = results.findIndex((r) => r.signature === signature);
      if (hit >= 0) return trim(group[hit] as TaggedOp[], results[hit]?.failingOp, opts.memoryMiB);
    }
    return undefined;
  };

  let best = trim(ops, failingOp, opts.memoryMiB);
  const prog = failingOp === undefined ? undefined : ops[failingOp]?.prog;
  // The failing program alone first (its batch-mates are usually irrelevant), else the whole batch.
  const alone = prog === undefined ? undefined : best.filter((o) => o.prog === prog);
  const start = await first(alone !== undefined && alone.length < best.length ? [alone, best] : [best]);
  if (start === undefined) return { ops: best, tries, reproduced: false };
  best = start;

  // ddmin over ops: chunks from half the program down to one op.
  for (let n = Math.ceil(best.length / 2); n >= 1 && !out();) {
    const cands: TaggedOp[][] = [];
    for (let i = 0; i < best.length; i += n) cands.push([...best.slice(0, i), ...best.slice(i + n)]);
    const smaller = await first(cands.filter((c) => c.length > 0));
    if (smaller !== undefined && smaller.length < best.length) {
      best = smaller;
      n = Math.min(n, Math.ceil(best.length / 2));
    } else n = n === 1 ? 0 : Math.ceil(n / 2);
  }

  // Small memfds: all at once, else one at a time.
  const memfdAt = best.flatMap((o, i) => (o.t === 'memfd' && sizeOf(o) > 4096 ? [i] : []));
  if (memfdAt.length > 0 && !out()) {
    const all = best.map((o, i) => (memfdAt.includes(i) ? smallMemfd(o) : o));
    const hit = await first([all]);
    if (hit !== undefined) best = hit;
    else {
      for (const i of memfdAt) {
        if (out()) break;
        const one = await first([best.map((o, j) => (j === i ? smallMemfd(o) : o))]);
        if (one !== undefined) best = one;
      }
    }
  }
  return { ops: best, tries, reproduced: true };
}

function sizeOf(o: Extract<Op, { t: 'memfd' }>): number {
  return typeof o.size === 'number' ? o.size : Number.POSITIVE_INFINITY;
}

function smallMemfd(o: TaggedOp): TaggedOp {
  if (o.t !== 'memfd') return o;
  const { holes: _h, pos, ...rest } = o;
  // The holes need three pages; a position past 4 KiB goes with the size.
  return {
    ...rest,
    size: 4096,
    ...(pos === undefined ? {} : { pos: Math.min(pos, 4096) }),
  };
}
