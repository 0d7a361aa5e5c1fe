import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { findScenarioFiles } from '../../orchestrator/scenario/discover.ts';
import { loadScenarios } from '../../orchestrator/scenario/load.ts';
import { planJobs } from '../../orchestrator/scenario/runner.ts';
import { parseShard, shardOf } from '../../orchestrator/scenario/shard.ts';

describe('--shard i/n', () => {
  it('reads i/n and refuses what is not a shard', () => {
    expect(parseShard('1/2')).toEqual({ index: 1, total: 2 });
    expect(parseShard('3/3')).toEqual({ index: 3, total: 3 });
    for (const bad of ['0/2', '3/2', 'x/y', '1/0', '1', '-1/2', '1/2/3', '']) expect(() => parseShard(bad), bad).toThrow(InvalidArgumentError);
    expect(() => parseShard('3/2')).toThrow('i must be between 1 and 2');
  });

  it('splits the shipped suite by name: every scenario in exactly one shard, whatever the order found', async () => {
    const suite = await loadScenarios(await findScenarioFiles([]));
    for (const n of [1, 2, 3, 5, suite.length, suite.length + 2]) {
      const shards = Array.from({ length: n }, (_, k) => shardOf(suite, { index: k + 1, total: n }).map((s) => s.name));
      expect(shards.flat().sort(), `n=${n}`).toEqual(suite.map((s) => s.name).sort());
      expect(new Set(shards.flat()).size).toBe(suite.length);
      // Balanced: shard sizes differ by at most one.
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      // The order they were found in does not matter.
      const reversed = Array.from({ length: n }, (_, k) => shardOf([...suite].reverse(), { index: k + 1, total: n }).map((s) => s.name).sort());
      expect(reversed).toEqual(shards.map((s) => [...s].sort()));
    }
    // More shards than scenarios: the extra shards are empty, not an error.
    expect(shardOf(suite, { index: suite.length + 1, total: suite.length + 1 })).toEqual([]);
  });

  it('keeps each shard in the order given', async () => {
    const suite = await loadScenarios(await findScenarioFiles([]));
    const names = shardOf(suite, { index: 1, total: 2 }).map((s) => s.name);
    expect(names).toEqual(suite.map((s) => s.name).filter((n) => names.includes(n)));
    expect(names[0]).toBe('chain');
  });
});

describe('--jobs N bounded by the host', () => {
  it('keeps what fits, lowers to CPUs and to free memory and says why', async () => {
    const suite = await loadScenarios(await findScenarioFiles([]));
    expect(planJobs(2, suite, { cpus: 2, freeMiB: 20_000 })).toEqual({ jobs: 2, notes: [] });
    const cpus = planJobs(4, suite, { cpus: 2, freeMiB: 20_000 });
    expect(cpus.jobs).toBe(2);
    expect(cpus.notes).toEqual(['--jobs 4 lowered to 2: this machine has 2 CPUs']);
    const mem = planJobs(8, suite, { cpus: 16, freeMiB: 3000 });
    expect(mem.jobs).toBe(2);
    expect(mem.notes[0]).toBe('--jobs 8 lowered to 2: 3000 MiB free, up to 1408 MiB per VM (guest memory + QEMU)');
    // Never below one, never more than there are scenarios.
    expect(planJobs(4, suite, { cpus: 4, freeMiB: 100 }).jobs).toBe(1);
    expect(planJobs(8, suite.slice(0, 3), { cpus: 16, freeMiB: 100_000 })).toEqual({ jobs: 3, notes: [] });
  });
});
