import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchOps, parseDuration, programSeed } from '../../orchestrator/fuzz/fuzz.ts';
import { generateProgram } from '../../orchestrator/fuzz/generate.ts';
import { COVERAGE_UNIVERSE, realize } from '../../orchestrator/fuzz/model.ts';
import type { Op, TaggedOp } from '../../orchestrator/fuzz/ops.ts';
import { divergences } from '../../orchestrator/fuzz/recorded.ts';
import { loadGenerated, mergePrograms, scenarioText } from '../../orchestrator/fuzz/scenario-file.ts';
import { shrinkProgram } from '../../orchestrator/fuzz/shrink.ts';
import { normalizeMessage } from '../../orchestrator/fuzz/signature.ts';

const RECORDED = join(import.meta.dirname, '..', 'fixtures', 'fuzz', 'recorded');
const MEM = 1024;

describe('fuzz programs', () => {
  it('are the same for the same seed and differ for another (--seed replays a run)', () => {
    expect(batchOps(7, 3, 4, MEM)).toEqual(batchOps(7, 3, 4, MEM));
    expect(batchOps(7, 3, 4, MEM)).not.toEqual(batchOps(8, 3, 4, MEM));
    expect(programSeed(7, 0)).not.toBe(programSeed(7, 1));
  });

  it('always make scenario files the loader accepts, and reach every coverage label across seeds', () => {
    const labels = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const steps = realize(batchOps(seed, 0, 4, MEM), MEM);
      for (const s of steps) for (const l of s.cover) labels.add(l);
      const scenario = loadGenerated(scenarioText(steps, `seed ${seed}`), `seed-${seed}.yaml`);
      expect(scenario.steps).toHaveLength(steps.length);
    }
    // A label the model never gives would be listed as never reached on every run.
    expect(COVERAGE_UNIVERSE.filter((l) => !labels.has(l))).toEqual([]);
    for (const l of labels) expect(COVERAGE_UNIVERSE).toContain(l);
  });

  it('side by side in a batch share their kexecs', () => {
    const a = generateProgram(1, 0, { memoryMiB: MEM, maxBytes: 1 << 20 });
    const b = generateProgram(2, 1, { memoryMiB: MEM, maxBytes: 1 << 20 });
    const merged = mergePrograms([a, b]);
    const kexecs = (ops: readonly { t: string }[]) => ops.filter((o) => o.t === 'kexec').length;
    expect(kexecs(merged)).toBe(Math.max(kexecs(a), kexecs(b)));
    expect(merged.filter((o) => o.t !== 'kexec')).toHaveLength(a.length + b.length - kexecs(a) - kexecs(b));
  });
});

describe('the model', () => {
  const ops = (...o: Op[]): TaggedOp[] => o.map((x) => ({ ...x, prog: 0 }));

  it('predicts the contract: a duplicate token is EEXIST before a busy memfd is EBUSY; a dropped session is absent', () => {
    const steps = realize(
      ops(
        { t: 'create', s: 'a' },
        { t: 'create', s: 'b' },
        { t: 'memfd', m: 'm', size: 4096, seed: 1 },
        { t: 'memfd', m: 'n', size: 1, seed: 2, noexec: true },
        { t: 'preserve', s: 'a', m: 'm', token: 1 },
        { t: 'preserve', s: 'a', m: 'n', token: 1 },
        { t: 'preserve', s: 'b', m: 'm', token: 2 },
        { t: 'preserve', s: 'b', m: 'n', token: 2 },
        { t: 'create', s: 'c' },
        { t: 'close', s: 'c' },
        { t: 'kexec' },
        { t: 'retrieve', s: 'b', tokens: [2], finish: true },
        { t: 'retrieve-fd', s: 'b', token: 2 },
        { t: 'retrieve', s: 'c', tokens: [], finish: true },
        { t: 'retrieve', s: 'b', tokens: [], finish: true },
      ),
      MEM,
    ).map((s) => s.step);
    expect(steps[5]).toEqual({
      preserve: { session: 'a', token: 1, memfd: 'n' },
      expect_error: 'EEXIST',
    });
    expect(steps[6]).toEqual({
      preserve: { session: 'b', token: 2, memfd: 'm' },
      expect_error: 'EBUSY',
    });
    expect(steps[7]).toEqual({
      preserve: { session: 'b', token: 2, memfd: 'n' },
    });
    // MFD_NOEXEC_SEAL comes back write-sealed (memfd-seals.yaml).
    expect(steps[11]).toEqual({
      retrieve: {
        session: 'b',
        tokens: { '2': 'n' },
        seals: { n: ['exec', 'shrink', 'grow', 'write', 'future-write'] },
      },
    });
    expect(steps[12]).toEqual({
      agent: { op: 'retrieve-fd', session: 'b', token: 2 },
      expect_error: { errno: 'ENOENT', call: 'RETRIEVE_FD' },
    });
    expect(steps[13]).toEqual({ session_absent: 'c' });
    expect(steps[14]).toEqual({
      agent: { op: 'retrieve-session', name: 'b' },
      expect_error: { errno: 'EINVAL', call: 'RETRIEVE_SESSION' },
    });
  });

  // Found by fuzz --coverage (a mutant resealed a memfd with holes): F_SEAL_EXEC on an
  // executable memfd implies the write seals (mm/memfd.c memfd_add_seals), so its holes cannot be
  // punched and a write is EPERM; on a MFD_NOEXEC_SEAL memfd (no exec bits) it widens nothing.
  it('knows F_SEAL_EXEC on an executable memfd seals writes, and on a noexec one does not', () => {
    const steps = realize(
      ops(
        { t: 'memfd', m: 'x', size: 3 * 4096, seed: 1, seals: ['exec'], holes: ['end'] },
        { t: 'memfd', m: 'n', size: 3 * 4096, seed: 2, seals: ['exec'], holes: ['end'], noexec: true },
        { t: 'mutate', m: 'x', op: 'write', offset: 0, data: 'abc' },
        { t: 'mutate', m: 'n', op: 'write', offset: 0, data: 'abc' },
      ),
      MEM,
    ).map((s) => s.step);
    expect(steps[0]).toEqual({ memfd: { id: 'x', size: 3 * 4096, seed: 1, seals: ['exec'] } });
    expect(steps[1]).toEqual({ memfd: { id: 'n', size: 3 * 4096, seed: 2, seals: ['exec'], holes: ['end'], noexec: true } });
    expect(steps[2]).toEqual({ mutate_memfd: { id: 'x', op: 'write', offset: 0, data: 'abc' }, expect_error: 'EPERM' });
    expect(steps[3]).toEqual({ mutate_memfd: { id: 'n', op: 'write', offset: 0, data: 'abc' } });
  });

  it('leaves out ops that mean nothing in their state (shrinking removed what they needed)', () => {
    const steps = realize(
      ops({ t: 'preserve', s: 'gone', m: 'none', token: 1 }, { t: 'create', s: 'a' }, { t: 'kexec' }, { t: 'mutate', m: 'x', op: 'write', offset: 0, data: 'abc' }),
      MEM,
    );
    expect(steps.map((s) => Object.keys(s.step)[0])).toEqual(['create_session', 'kexec']);
  });
});

describe('the model against recordings of real guests', () => {
  for (const batch of ['batch-0000', 'batch-0001', 'batch-0002']) {
    it(`${batch} (seed 2, 7.3.4): every request answered as the model predicts`, async () => {
      const ops = JSON.parse(await readFile(join(RECORDED, `${batch}.ops.json`), 'utf8')) as TaggedOp[];
      const jsonl = await readFile(join(RECORDED, `${batch}.agent.jsonl`), 'utf8');
      expect(divergences(realize(ops, MEM), jsonl)).toEqual([]);
    });
  }

  it('negative controls: a tampered errno, a success turned into an error, a missing request each diverge, named', async () => {
    const ops = JSON.parse(await readFile(join(RECORDED, 'batch-0000.ops.json'), 'utf8')) as TaggedOp[];
    const jsonl = await readFile(join(RECORDED, 'batch-0000.agent.jsonl'), 'utf8');
    const steps = realize(ops, MEM);
    expect(jsonl).toContain('"errno\\":\\"EEXIST\\"');
    expect(divergences(steps, jsonl.replace('"errno\\":\\"EEXIST\\"', '"errno\\":\\"EBUSY\\"'))).toEqual([
      expect.stringMatching(/^request \d+ \(step \d+, preserve\): the model predicts EEXIST, the kernel gave EBUSY$/),
    ]);
    const lines = jsonl.split('\n');
    const retrieve = lines.findIndex((l) => l.includes('\\"op\\":\\"retrieve-session\\"') && l.includes('\\"ok\\":true'));
    const failed = [...lines];
    failed[retrieve] = (failed[retrieve] as string).replace('\\"ok\\":true', '\\"ok\\":false,\\"errno\\":\\"ENOENT\\"');
    expect(divergences(steps, failed.join('\n'))).toEqual([
      expect.stringMatching(/^request \d+ \(step \d+, retrieve-session\): the model predicts success, the kernel gave ENOENT$/),
    ]);
    const dropped = lines.filter((_, i) => i !== retrieve);
    expect(divergences(steps, dropped.join('\n'))[0]).toMatch(/^request \d+ \(step \d+, retrieve-session\): the recording sent /);
  });
});

describe('shrinking', () => {
  it('drops ops and shrinks memfds while the failure keeps its signature', async () => {
    const ops = batchOps(5, 0, 4, MEM);
    // A stand-in for a kernel that drops F_SEAL_GROW: the test is the predicate, the algorithm is real.
    const grows = (c: readonly TaggedOp[]) => {
      const steps = realize(c, MEM);
      const i = steps.findIndex(
        (s) =>
          'retrieve' in s.step &&
          Object.values((s.step.retrieve as { tokens: Record<string, string> }).tokens).some((id) =>
            c.some((o) => o.t === 'memfd' && o.m === id && (o.seals ?? []).includes('grow')),
          ),
      );
      return i < 0
        ? {}
        : {
            signature: 'test-failed: retrieve: seals',
            failingOp: steps[i]?.op as number,
          };
    };
    const planted: TaggedOp[] = [...ops];
    planted.splice(ops.findIndex((o) => o.t === 'kexec') + 1, 0, {
      t: 'retrieve',
      s: 'g',
      tokens: [1],
      finish: true,
      prog: 0,
    });
    planted.splice(
      0,
      0,
      { t: 'create', s: 'g', prog: 0 },
      { t: 'memfd', m: 'gm', size: 300_000, seed: 9, seals: ['grow'], prog: 0 },
      { t: 'preserve', s: 'g', m: 'gm', token: 1, prog: 0 },
    );
    const first = grows(planted);
    expect(first.signature).toBeDefined();
    let calls = 0;
    const shrunk = await shrinkProgram(planted, first.failingOp, 'test-failed: retrieve: seals', {
      jobs: 2,
      memoryMiB: MEM,
      deadline: Date.now() + 60_000,
      test: (cands) => {
        calls += cands.length;
        return Promise.resolve(cands.map(grows));
      },
    });
    expect(shrunk.reproduced).toBe(true);
    const steps = realize(shrunk.ops, MEM);
    expect(steps.map((s) => Object.keys(s.step)[0])).toEqual(['create_session', 'memfd', 'preserve', 'kexec', 'retrieve']);
    expect(steps[1]?.step.memfd).toMatchObject({ size: 4096, seals: ['grow'] });
    expect(shrunk.tries).toBe(calls);
  });

  it('names a failure by what broke, not by names and numbers', () => {
    expect(normalizeMessage("memfd 'p0m3' (session 'p0s1', token 2) came back different: size: preserved 5000, retrieved 0")).toBe(
      normalizeMessage("memfd 'p1m0' (session 'a', token 77) came back different: size: preserved 4096, retrieved 1"),
    );
    expect(normalizeMessage('expected EEXIST from PRESERVE_FD, got EBUSY')).not.toBe(normalizeMessage('expected EEXIST from PRESERVE_FD, got ENOENT'));
  });
});

describe('--duration', () => {
  it('takes 90s, 10m, 1h and seconds; anything else is a usage error naming the option', () => {
    expect(parseDuration('90s', '--duration')).toBe(90_000);
    expect(parseDuration('10m', '--duration')).toBe(600_000);
    expect(parseDuration('1h', '--duration')).toBe(3_600_000);
    expect(parseDuration('45', '--duration')).toBe(45_000);
    expect(() => parseDuration('ten', '--duration')).toThrow(/^--duration: 'ten' is not a duration/);
  });
});
