// Coverage-guided generation (fuzz --coverage): a program that reached kernel lines or branches
// no earlier batch reached is kept, and later programs in its slot are often small mutations of
// it rather than fresh ones. A mutant keeps its slot's names (p<slot>…), so it never collides
// with the other programs of its batch; the model then drops the ops a mutation left meaningless,
// so a mutant's expectations are its own, as a shrunk program's are.

import { Model } from './model.ts';
import type { MemfdAttrs, Op, SealName } from './ops.ts';
import { Prng } from './prng.ts';

const SEALS: readonly SealName[] = ['seal', 'shrink', 'grow', 'write', 'future-write', 'exec'];
/** Sizes at the edges the kernel code branches on: a byte, a page either side, a folio, a MiB. */
const EDGE_SIZES: readonly number[] = [1, 4095, 4096, 4097, 8192, 65536, 2 << 20, (2 << 20) + 1, 5 << 20];

export type Mutation = 'resize' | 'reseal' | 'reposition' | 'drop' | 'duplicate' | 'retrieve-twice' | 'flip-finish';

export interface MutateOptions {
  memoryMiB: number;
  /** Bytes of memfds the program may create in all (its share of the batch's guest). */
  maxBytes: number;
}

/** 1–3 mutations of `ops` (a program of one slot), then the ops the model still finds meaningful. */
export function mutateProgram(ops: readonly Op[], seed: number, opts: MutateOptions): { ops: Op[]; mutations: Mutation[] } {
  const r = new Prng(seed);
  let out = ops.map((o) => ({ ...o }));
  const done: Mutation[] = [];
  const n = r.int(1, 3);
  for (let i = 0; i < n; i++) {
    const m = r.weighted<Mutation>({ resize: 25, reseal: 15, reposition: 10, drop: 20, duplicate: 15, 'retrieve-twice': 8, 'flip-finish': 7 });
    const next = apply(m, out, r, opts);
    if (next === undefined) continue;
    out = next;
    done.push(m);
  }
  return { ops: meaningful(out, opts.memoryMiB), mutations: done };
}

function apply(m: Mutation, ops: Op[], r: Prng, opts: MutateOptions): Op[] | undefined {
  const at = (pred: (o: Op) => boolean) => ops.map((o, i) => (pred(o) ? i : -1)).filter((i) => i >= 0);
  const edit = (i: number, o: Op) => ops.map((x, j) => (j === i ? o : x));
  /** A memfd op picked at random, with its index; undefined when the program has none. */
  const memfd = (): [number, Extract<Op, { t: 'memfd' }>] | undefined => {
    const memfds = at((o) => o.t === 'memfd');
    if (memfds.length === 0) return undefined;
    const i = r.pick(memfds);
    return [i, ops[i] as Extract<Op, { t: 'memfd' }>];
  };
  switch (m) {
    case 'resize': {
      const picked = memfd();
      if (picked === undefined) return undefined;
      const [i, o] = picked;
      const size = r.pick(EDGE_SIZES);
      if (bytesOf(ops, opts.memoryMiB) - bytesOf([o], opts.memoryMiB) + size > opts.maxBytes) return undefined;
      const next: MemfdAttrs & { t: 'memfd'; m: string } = { ...o, size };
      // A hole or a position past the new end means something else now: drop them rather than guess.
      delete next.holes;
      if (next.pos !== undefined && next.pos > size) next.pos = size;
      return edit(i, next);
    }
    case 'reseal': {
      const picked = memfd();
      if (picked === undefined) return undefined;
      const [i, o] = picked;
      const seal = r.pick(SEALS);
      const has = new Set(o.seals ?? []);
      if (has.has(seal)) has.delete(seal);
      else has.add(seal);
      const next: Extract<Op, { t: 'memfd' }> = { ...o, seals: SEALS.filter((s) => has.has(s)) };
      if (next.seals?.length === 0) delete next.seals;
      return edit(i, next);
    }
    case 'reposition': {
      const picked = memfd();
      if (picked === undefined) return undefined;
      const [i, o] = picked;
      const size = bytesOf([o], opts.memoryMiB);
      return edit(i, { ...o, pos: r.pick([0, 1, Math.max(0, size - 1), size, r.int(0, size)]) });
    }
    case 'drop': {
      const some = at((o) => o.t !== 'kexec');
      if (some.length === 0) return undefined;
      const i = r.pick(some);
      return ops.filter((_, j) => j !== i);
    }
    case 'duplicate': {
      // The same call again, later in its phase: a second preserve, close, finish… (EEXIST, EBADF, …).
      const some = at((o) => o.t !== 'kexec' && o.t !== 'memfd' && o.t !== 'load');
      if (some.length === 0) return undefined;
      const i = r.pick(some);
      let end = i + 1;
      while (end < ops.length && ops[end]?.t !== 'kexec') end++;
      const to = r.int(i + 1, end);
      return [...ops.slice(0, to), { ...(ops[i] as Op) }, ...ops.slice(to)];
    }
    case 'retrieve-twice': {
      const fds = at((o) => o.t === 'retrieve-fd' && o.twice !== true);
      if (fds.length === 0) return undefined;
      const i = r.pick(fds);
      return edit(i, { ...(ops[i] as Extract<Op, { t: 'retrieve-fd' }>), twice: true });
    }
    case 'flip-finish': {
      const rs = at((o) => o.t === 'retrieve');
      if (rs.length === 0) return undefined;
      const i = r.pick(rs);
      const o = ops[i] as Extract<Op, { t: 'retrieve' }>;
      return edit(i, { ...o, finish: !o.finish });
    }
  }
}

/** Bytes the memfd ops create ("3%" is of guest RAM). */
function bytesOf(ops: readonly Op[], memoryMiB: number): number {
  let n = 0;
  for (const o of ops) {
    if (o.t !== 'memfd') continue;
    n += typeof o.size === 'number' ? o.size : Math.round((Number(o.size.slice(0, -1)) / 100) * memoryMiB * 2 ** 20);
  }
  return n;
}

/** The ops the model finds meaningful in order (as the generator keeps them), kexecs always. */
function meaningful(ops: readonly Op[], memoryMiB: number): Op[] {
  const model = new Model(memoryMiB);
  return ops.filter((o) => model.apply(o) !== undefined);
}
