// Coverage-guided fuzzing (fuzz --coverage): the coverage points of a recorded tracefile, what of
// them is new, mutants of kept programs (deterministic, the model's own expectations, the slot's
// names), and batches that take their programs from a corpus.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLcov } from '../../orchestrator/coverage/lcov.ts';
import { mergeAll } from '../../orchestrator/coverage/model.ts';
import { addPoints, coveragePoints, coverageSample, newPoints } from '../../orchestrator/coverage/signal.ts';
import { batchOps, batchPrograms, programSeed, type CorpusEntry } from '../../orchestrator/fuzz/fuzz.ts';
import { generateProgram } from '../../orchestrator/fuzz/generate.ts';
import { realize } from '../../orchestrator/fuzz/model.ts';
import { mutateProgram } from '../../orchestrator/fuzz/mutate.ts';
import type { Op } from '../../orchestrator/fuzz/ops.ts';
import { loadGenerated, mergePrograms, scenarioText } from '../../orchestrator/fuzz/scenario-file.ts';

// memfd-round-trip's tracefile on the patched coverage kernel (test/unit/series-coverage.test.ts).
const INFO = join(import.meta.dirname, '..', 'fixtures', 'coverage', 'unreached-patch.info');
const MEM = 1024;
const OPTS = { memoryMiB: MEM, maxBytes: 40 << 20 };
const names = (ops: readonly Op[]) => ops.flatMap((o) => ['s' in o ? o.s : undefined, 'm' in o ? o.m : undefined]).filter((n): n is string => n !== undefined && n.length > 1);

describe('coverage points of a tracefile', () => {
  it('are lines and taken branches; a second batch with the same counters brings nothing new', async () => {
    const cov = mergeAll(parseLcov(await readFile(INFO, 'utf8'), INFO).map((t) => t.coverage));
    const p = coveragePoints(cov);
    expect(p.covered.has('mm/memfd_luo.c:553')).toBe(true);
    expect(p.covered.has('mm/memfd_luo.c:440')).toBe(false);
    expect(p.coverable.has('mm/memfd_luo.c:440')).toBe(true);
    expect([...p.covered].some((x) => /^mm\/memfd_luo\.c:\d+:b\d+$/.test(x))).toBe(true);
    const seen = new Set<string>();
    const fresh = newPoints(seen, p.covered);
    expect(fresh.length).toBe(p.covered.size);
    expect(addPoints(seen, fresh)).toBe(p.covered.size);
    expect(newPoints(seen, coveragePoints(cov).covered)).toEqual([]);
    // Control: one more line executed is exactly one new point.
    cov.get('mm/memfd_luo.c')?.lines.set(440, 1);
    expect(newPoints(seen, coveragePoints(cov).covered)).toEqual(['mm/memfd_luo.c:440']);
    const s = coverageSample(1000, seen, p.coverable);
    expect(s.lines.hit).toBeLessThan(s.lines.found);
    expect(s.lines.hit).toBe([...seen].filter((x) => !x.includes(':b')).length);
  });
});

describe('mutants of a kept program', () => {
  const parent = generateProgram(programSeed(7, 1), 1, OPTS);

  it('are the same for the same seed, differ from their parent, and keep the slot names', () => {
    const a = mutateProgram(parent, 99, OPTS);
    expect(mutateProgram(parent, 99, OPTS)).toEqual(a);
    const many = Array.from({ length: 20 }, (_, i) => mutateProgram(parent, i, OPTS));
    expect(many.some((m) => JSON.stringify(m.ops) !== JSON.stringify(parent))).toBe(true);
    for (const m of many) for (const n of names(m.ops)) expect(n, n).toMatch(/^p1/);
  });

  it('always realize as scenario files the loader accepts, with the model dropping what a mutation left meaningless', () => {
    for (let seed = 0; seed < 40; seed++) {
      const p = generateProgram(programSeed(seed, 0), 0, OPTS);
      const m = mutateProgram(p, seed, OPTS);
      const steps = realize(mergePrograms([m.ops]), MEM);
      expect(() => loadGenerated(scenarioText(steps, `mutant ${seed}`), `mutant-${seed}.yaml`)).not.toThrow();
    }
  });
});

describe('batches with a corpus', () => {
  it('are the fresh programs without one, and with one take some slots as mutants of that slot’s kept programs', () => {
    expect(batchPrograms(3, 0, 4, MEM).map((p) => mergePrograms([p.ops]))).toEqual(Array.from({ length: 4 }, (_, k) => mergePrograms([generateProgram(programSeed(3, k), k, { memoryMiB: MEM, maxBytes: Math.floor((160 << 20) / 4) })])));
    expect(mergePrograms(batchPrograms(3, 2, 4, MEM).map((p) => p.ops))).toEqual(batchOps(3, 2, 4, MEM));
    const corpus = new Map<number, CorpusEntry[]>();
    for (let k = 0; k < 4; k++) corpus.set(k, [{ ops: generateProgram(programSeed(5, k), k, { memoryMiB: MEM, maxBytes: 40 << 20 }), batch: 'batch-0000' }]);
    const batches = Array.from({ length: 10 }, (_, b) => batchPrograms(3, b + 1, 4, MEM, corpus));
    const mutants = batches.flat().filter((p) => p.from !== undefined);
    expect(mutants.length).toBeGreaterThan(5);
    expect(mutants.length).toBeLessThan(35);
    expect(mutants.every((p) => p.from?.batch === 'batch-0000')).toBe(true);
    // Each slot's mutant keeps that slot's names: the batch's programs never share a session.
    for (const batch of batches) batch.forEach((p, k) => names(p.ops).forEach((n) => expect(n).toMatch(new RegExp(`^p${k}`))));
    // The same seed and corpus make the same batch.
    expect(batchPrograms(3, 4, 4, MEM, corpus)).toEqual(batches[3]);
  });
});
