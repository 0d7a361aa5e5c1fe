// The lifetime, memory and scale ops (rootfs/agent/{lifetimes,meminfo,scale}.c) against replies
// recorded from the real agent on 7.3.4 (test/fixtures/agent/lifetimes-7.3.jsonl: runs of
// session-lifetimes, no-leaks and the stress scenarios): every reply decodes, and the memory
// step's judgement passes no-leaks' bounds on the recorded figures and fails, saying why, on
// figures that break them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeReply, type MemInfo, type Op, parseLine } from '../../orchestrator/guest/agent-protocol.ts';
import { memoryDelta, memoryProblems } from '../../orchestrator/scenario/memory-check.ts';

interface Exchange {
  kind: 'exchange';
  scenario: string;
  daemon: number;
  request: string;
  reply: string;
}

const records = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'agent', 'lifetimes-7.3.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => JSON.parse(l) as Exchange | { kind: 'meta' })
  .filter((r): r is Exchange => r.kind === 'exchange');
const opOf = (x: Exchange) => (parseLine(x.request) as { op: Op }).op;
const MiB = 2 ** 20;

describe('the recorded lifetime, memory and scale replies', () => {
  it('all decode', () => {
    for (const x of records) expect(() => decodeReply(opOf(x), x.reply), x.request).not.toThrow();
  });

  it('hold: the forked and SCM_RIGHTS holders have the session, the exec()ed one has not', () => {
    const holds = records.filter((x) => opOf(x) === 'hold').map((x) => decodeReply('hold', x.reply));
    expect(holds.map((h) => (h.ok ? [h.mode, h.holderHasSession, h.agentClosed] : h.message))).toEqual([
      ['fork', true, true],
      ['scm-rights', true, true],
      ['exec', false, true],
    ]);
  });

  it('bulk: 2000 sessions and 500 files, each all done, with their times', () => {
    const bulk = records.filter((x) => opOf(x).startsWith('bulk-')).map((x) => decodeReply(opOf(x) as 'bulk-retrieve', x.reply));
    expect(bulk.map((b) => (b.ok ? `${b.op} ${b.sessionsDone}/${b.filesDone}` : b.message))).toEqual([
      'bulk-preserve 2000/2000',
      'bulk-retrieve 2000/2000',
      'bulk-preserve 1/500',
      'bulk-retrieve 1/500',
    ]);
    for (const b of bulk) if (b.ok) expect(b.ms).toBeGreaterThan(0);
  });
});

describe("the memory step's judgement on no-leaks' recorded figures", () => {
  const series: MemInfo[] = records
    .filter((x) => x.scenario === 'no-leaks' && opOf(x) === 'meminfo')
    .map((x) => decodeReply('meminfo', x.reply))
    .map((r) => {
      if (!r.ok) throw new Error(r.message);
      return r;
    });
  const cold = series[0] as MemInfo;
  const at = (i: number) => memoryDelta(cold, series[i] as MemInfo);

  it('has the cold mark and every comparison of the scenario', () => {
    expect(series).toHaveLength(9);
  });

  it('passes every bound of scenarios/no-leaks.yaml', () => {
    expect(memoryProblems('cold', at(1), { reserved_min: 96 * MiB })).toEqual([]);
    expect(memoryProblems('cold', at(2), { reserved_max: 33 * MiB, reserved_min: 32 * MiB, shmem_max_growth: 2 * MiB })).toEqual([]);
    expect(memoryProblems('cold', at(5), { reserved_max: 1 * MiB })).toEqual([]);
    expect(memoryProblems('cold', at(6), { reserved_max: 1 * MiB, shmem_max_growth: 2 * MiB, memfree_max_loss: 24 * MiB })).toEqual([]);
  });

  it('fails memory that did not come back, naming the figure and the bound', () => {
    // Right after the kexec the 96 MiB preserved are still held: a 1 MiB bound must fail there.
    expect(memoryProblems('cold', at(1), { reserved_max: 1 * MiB })).toEqual([
      "KHO holds 96.4 MiB more than at 'cold' (MemTotal down by that), at most 1.0 MiB allowed: preserved memory did not come back",
    ]);
    expect(memoryProblems('cold', at(6), { reserved_min: 32 * MiB })[0]).toMatch(/^KHO holds 0\.0 MiB more than at 'cold' .* at least 32\.0 MiB expected/);
    const leak = { ...(series[6] as MemInfo), shmem: (series[6] as MemInfo).shmem + 16 * MiB, memFree: (series[6] as MemInfo).memFree - 16 * MiB };
    expect(memoryProblems('cold', memoryDelta(cold, leak), { shmem_max_growth: 2 * MiB, memfree_max_loss: 24 * MiB })).toEqual([
      "Shmem is 16.0 MiB above 'cold', at most 2.0 MiB allowed: memfd pages were not freed",
      "MemFree is 27.5 MiB below 'cold', at most 24.0 MiB allowed: memory did not come back",
    ]);
    expect(memoryProblems('cold', at(1), { memfree_max_loss: 24 * MiB })[0]).toMatch(/^MemFree is 96\.\d MiB below 'cold', at most 24\.0 MiB allowed/);
  });
});
