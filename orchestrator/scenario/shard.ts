// `--shard i/n`: a split of the scenarios that depends only on their names (sorted, then dealt
// round robin), so every machine and every discovery order gives each shard the same scenarios,
// and neighbouring names (often alike in cost) land in different shards.
import { InvalidArgumentError } from 'commander';

export interface Shard {
  /** 1-based. */
  index: number;
  total: number;
}

/** Parses `i/n` (1 ≤ i ≤ n); commander reports the error with the option's name (exit 2). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null) throw new InvalidArgumentError('expected i/n, e.g. 1/2');
  const index = Number(m[1]);
  const total = Number(m[2]);
  if (total < 1) throw new InvalidArgumentError('n must be at least 1');
  if (index < 1 || index > total) throw new InvalidArgumentError(`i must be between 1 and ${total}`);
  return { index, total };
}

/** Every scenario name in suite order: sorted by code point, whatever order they were found in. */
export function suiteOrder(names: readonly string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The scenarios of one shard, in the order given. */
export function shardOf<T extends { name: string }>(scenarios: readonly T[], shard: Shard): T[] {
  const mine = new Set(suiteOrder(scenarios.map((s) => s.name)).filter((_, i) => i % shard.total === shard.index - 1));
  return scenarios.filter((s) => mine.has(s.name));
}
