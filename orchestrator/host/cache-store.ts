// What the cache holds and how to bound it: entries by kind with their sizes (hard links counted
// once: a build tree is mostly links into its source), last use, and whether a running handover
// holds them; LRU collection to a size and pruning by age, never touching a held entry.
import { execa } from 'execa';
import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { processAlive } from './lock.ts';

/** The cache's kinds, in the order their bytes are counted (a hard link counts where it is met first). */
export const CACHE_KINDS = [
  { kind: 'sources', dir: 'sources/debian', what: 'unpacked Debian kernel sources' },
  { kind: 'git', dir: 'git', what: 'cache repositories and worktrees of git: specs' },
  { kind: 'series', dir: 'series', what: 'series scratch trees' },
  { kind: 'trees', dir: 'trees', what: 'build trees: hard-linked copies with their O= output dirs' },
  { kind: 'build', dir: 'build', what: 'output dirs of handover before build trees (unused now)' },
  { kind: 'kernels', dir: 'kernels', what: 'built kernels (bzImage, vmlinux, headers, metadata)' },
  { kind: 'rootfs', dir: 'rootfs', what: 'guest images' },
  { kind: 'kselftests', dir: 'kselftests', what: 'compiled upstream selftests' },
  { kind: 'apt', dir: 'apt', what: 'private apt configurations and package lists' },
  { kind: 'test-trees', dir: 'test-trees', what: "trees handover's own tests made" },
  { kind: 'bench', dir: 'bench', what: "bench's upstream selftest builds" },
] as const;

export interface CacheEntry {
  kind: string;
  path: string;
  bytes: number;
  /** Newest of the entry's own mtime and its use stamp (see markUsed), ms since the epoch. */
  lastUsedMs: number;
  /** Why it must not be deleted now: a live lock or use marker, with its pid. */
  heldBy?: string;
}

const USE_STAMP = '.handover-used';
const IN_USE = '.handover-in-use-';

/** Records a use of an entry (a cache hit): gc collects the least recently used first. */
export async function markUsed(dir: string): Promise<void> {
  const now = new Date();
  await utimes(dir, now, now).catch(() => undefined);
  await writeFile(join(dir, USE_STAMP), '').catch(() => undefined);
}

/**
 * Marks entries as in use by this process until the returned function runs (a run's kernels and
 * guest image: a gc in another shell must not delete a bzImage a kexec is about to load). A marker
 * left by a killed process names a dead pid and holds nothing.
 */
export async function holdEntries(dirs: readonly string[]): Promise<() => Promise<void>> {
  const markers = [...new Set(dirs)].map((d) => join(d, `${IN_USE}${process.pid}`));
  await Promise.all(markers.map((m) => writeFile(m, '').catch(() => undefined)));
  return async () => {
    await Promise.all(markers.map((m) => rm(m, { force: true })));
  };
}


/** A live holder of `dir`: a lock file (build, series), an in-use marker, or a partial build's pid. */
async function holder(dir: string, name: string): Promise<string | undefined> {
  const partial = /\.partial-(\d+)$/.exec(name);
  if (partial !== null && processAlive(Number(partial[1]))) return `a build in progress (pid ${partial[1]})`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    if (n === '.handover.lock' || n === '.lock') {
      const pid = Number.parseInt(await readFile(join(dir, n), 'utf8').catch(() => ''), 10);
      if (Number.isFinite(pid) && processAlive(pid)) return `locked by pid ${pid} (${n})`;
    } else if (n.startsWith(IN_USE)) {
      const pid = Number(n.slice(IN_USE.length));
      if (processAlive(pid)) return `in use by pid ${pid}`;
    }
  }
  return undefined;
}

async function lastUsed(dir: string): Promise<number> {
  const [own, stamp] = await Promise.all([stat(dir).catch(() => undefined), stat(join(dir, USE_STAMP)).catch(() => undefined)]);
  return Math.max(own?.mtimeMs ?? 0, stamp?.mtimeMs ?? 0);
}

/** Sizes of `paths` by one du(1): an inode is counted once, for the first path that reaches it. */
async function sizes(paths: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (paths.length === 0) return out;
  const r = await execa('du', ['-s', '-B1', '--', ...paths], { reject: false, stdin: 'ignore', maxBuffer: 1 << 26 });
  for (const line of String(r.stdout).split('\n')) {
    const m = /^(\d+)\t(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[2], Number(m[1]));
  }
  return out;
}

/** Every entry of the cache under `root`, in CACHE_KINDS order. */
export async function listCache(root: string): Promise<CacheEntry[]> {
  const found: { kind: string; path: string; name: string }[] = [];
  for (const k of CACHE_KINDS) {
    const dir = join(root, k.dir);
    const names = (await readdir(dir).catch(() => [] as string[])).sort();
    for (const name of names) found.push({ kind: k.kind, path: join(dir, name), name });
  }
  const bytes = await sizes(found.map((f) => f.path));
  return Promise.all(
    found.map(async (f) => {
      const heldBy = await holder(f.path, f.name);
      return { kind: f.kind, path: f.path, bytes: bytes.get(f.path) ?? 0, lastUsedMs: await lastUsed(f.path), ...(heldBy === undefined ? {} : { heldBy }) };
    }),
  );
}

export interface Collected {
  removed: CacheEntry[];
  /** Entries that would have gone but a running handover holds them. */
  kept: CacheEntry[];
  bytesBefore: number;
  bytesAfter: number;
}

/** Deletes least recently used entries until the cache is at most `maxBytes`; held ones stay. */
export async function gcCache(root: string, maxBytes: number): Promise<Collected> {
  const entries = await listCache(root);
  const before = total(entries);
  let now = before;
  const removed: CacheEntry[] = [];
  const kept: CacheEntry[] = [];
  for (const e of [...entries].sort((a, b) => a.lastUsedMs - b.lastUsedMs)) {
    if (now <= maxBytes) break;
    if (e.heldBy !== undefined) {
      kept.push(e);
      continue;
    }
    await rm(e.path, { recursive: true, force: true });
    removed.push(e);
    // Freed bytes are not the entry's du share alone (links into it from later entries now count
    // there): measure again.
    now = total(await listCache(root));
  }
  return { removed, kept, bytesBefore: before, bytesAfter: now };
}

/** Deletes entries not used for `olderThanMs`; held ones stay. */
export async function pruneCache(root: string, olderThanMs: number, nowMs = Date.now()): Promise<Collected> {
  const entries = await listCache(root);
  const removed: CacheEntry[] = [];
  const kept: CacheEntry[] = [];
  for (const e of entries) {
    if (nowMs - e.lastUsedMs < olderThanMs) continue;
    if (e.heldBy !== undefined) kept.push(e);
    else {
      await rm(e.path, { recursive: true, force: true });
      removed.push(e);
    }
  }
  return { removed, kept, bytesBefore: total(entries), bytesAfter: total(await listCache(root)) };
}

function total(entries: readonly CacheEntry[]): number {
  return entries.reduce((a, e) => a + e.bytes, 0);
}

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `2G`, `500M`, `1.5G`, `1073741824` (bytes; binary units). */
export function parseByteSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (m === null) throw new HandoverError('usage-error', `${option}: '${text}' is not a size (e.g. 2G, 500M)`);
  return Math.floor(Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1));
}

const SPANS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `2w`, `90m`. */
export function parseAge(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([mhdw])$/.exec(text.trim());
  if (m === null) throw new HandoverError('usage-error', `${option}: '${text}' is not an age (e.g. 30d, 12h, 2w, 90m)`);
  return Number(m[1]) * (SPANS[m[2] ?? 'd'] ?? 0);
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
