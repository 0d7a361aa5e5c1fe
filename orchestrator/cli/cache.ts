import type { Command } from 'commander';
import { CACHE_KINDS, type CacheEntry, cacheRoot, type Collected, formatBytes, gcCache, listCache, parseAge, parseByteSize, pruneCache } from '../index.ts';
import { runCommand } from './run-command.ts';

const day = (ms: number) => (ms === 0 ? 'never' : new Date(ms).toISOString().slice(0, 16).replace('T', ' '));

function table(entries: readonly CacheEntry[], all: boolean): string[] {
  const lines = [`cache: ${cacheRoot()}`];
  const rows: string[][] = [['kind', 'entries', 'size', 'last used', 'what']];
  for (const k of CACHE_KINDS) {
    const these = entries.filter((e) => e.kind === k.kind);
    if (these.length === 0) continue;
    const bytes = these.reduce((a, e) => a + e.bytes, 0);
    rows.push([k.kind, String(these.length), formatBytes(bytes), day(Math.max(...these.map((e) => e.lastUsedMs))), k.what]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows) lines.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '));
  lines.push(`total: ${formatBytes(entries.reduce((a, e) => a + e.bytes, 0))} in ${entries.length} entries (hard links counted once)`);
  if (all) {
    for (const e of [...entries].sort((a, b) => a.lastUsedMs - b.lastUsedMs)) {
      lines.push(`  ${day(e.lastUsedMs)}  ${formatBytes(e.bytes).padStart(10)}  ${e.path}${e.heldBy === undefined ? '' : `  (held: ${e.heldBy})`}`);
    }
  }
  return lines;
}

function collected(c: Collected, what: string): string[] {
  const lines = c.removed.map((e) => `removed ${e.path} (${formatBytes(e.bytes)}, last used ${day(e.lastUsedMs)})`);
  for (const e of c.kept) lines.push(`kept ${e.path}: ${e.heldBy ?? ''}`);
  lines.push(`${what}: ${c.removed.length} entries removed, ${formatBytes(c.bytesBefore)} → ${formatBytes(c.bytesAfter)}`);
  return lines;
}

export function registerCache(program: Command): void {
  const cache = program.command('cache').description('show and bound the build cache ($HANDOVER_CACHE_DIR or ~/.cache/handover)');
  cache
    .command('list')
    .description('sizes per kind (sources, git, series, trees, kernels, rootfs, …) and when each was last used')
    .option('--all', 'every entry, least recently used first')
    .option('--json', 'the entries as JSON on stdout')
    .action((opts: { all?: boolean; json?: boolean }) =>
      runCommand(async () => {
        const entries = await listCache(cacheRoot());
        process.stdout.write(opts.json === true ? `${JSON.stringify(entries, null, 2)}\n` : `${table(entries, opts.all === true).join('\n')}\n`);
        return 0;
      }),
    );
  cache
    .command('gc')
    .description('delete least recently used entries until the cache fits; what a running handover holds stays')
    .requiredOption('--max-size <size>', 'the most the cache may hold, e.g. 20G, 500M')
    .action((opts: { maxSize: string }) =>
      runCommand(async () => {
        const max = parseByteSize(opts.maxSize, '--max-size');
        const c = await gcCache(cacheRoot(), max);
        process.stdout.write(`${collected(c, `gc to ${formatBytes(max)}`).join('\n')}\n`);
        // Still too big only because of held entries: say so, but it is not an error of the user's.
        if (c.bytesAfter > max) process.stderr.write(`handover: the cache is still ${formatBytes(c.bytesAfter)}: ${c.kept.length} held entries could not go\n`);
        return 0;
      }),
    );
  cache
    .command('prune')
    .description('delete entries not used for a while; what a running handover holds stays')
    .requiredOption('--older-than <age>', 'e.g. 30d, 12h, 2w, 90m')
    .action((opts: { olderThan: string }) =>
      runCommand(async () => {
        const age = parseAge(opts.olderThan, '--older-than');
        process.stdout.write(`${collected(await pruneCache(cacheRoot(), age), `prune older than ${opts.olderThan}`).join('\n')}\n`);
        return 0;
      }),
    );
}
