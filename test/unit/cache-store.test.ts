import { link, mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gcCache, holdEntries, listCache, markUsed, parseAge, parseByteSize, pruneCache } from '../../orchestrator/host/cache-store.ts';
import { handover } from '../helpers/cli.ts';

const KiB = 1024;
let root = '';

async function file(path: string, bytes: number, ageDays = 0): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes, 1));
  const t = new Date(Date.now() - ageDays * 86_400_000);
  await utimes(path, t, t);
}

async function age(dir: string, days: number): Promise<void> {
  const t = new Date(Date.now() - days * 86_400_000);
  await utimes(dir, t, t);
}

/** A small cache: a source, a build tree linking into it, three kernels (one held), a locked series slot. */
async function makeCache(): Promise<void> {
  await file(join(root, 'sources/debian/linux-7.3/linux/Makefile'), 512 * KiB);
  await file(join(root, 'trees/aaaa/src/.handover-out-default/vmlinux.o'), 256 * KiB);
  await link(join(root, 'sources/debian/linux-7.3/linux/Makefile'), join(root, 'trees/aaaa/src/Makefile'));
  await file(join(root, 'kernels/old/bzImage'), 128 * KiB);
  await file(join(root, 'kernels/new/bzImage'), 128 * KiB);
  await file(join(root, 'kernels/held/bzImage'), 128 * KiB);
  await file(join(root, 'series/bbbb/linux/x.c'), 64 * KiB);
  await writeFile(join(root, 'series/bbbb/.lock'), String(process.pid));
  await age(join(root, 'sources/debian/linux-7.3'), 3);
  await age(join(root, 'trees/aaaa'), 2);
  await age(join(root, 'kernels/old'), 10);
  await age(join(root, 'kernels/held'), 20);
  await age(join(root, 'series/bbbb'), 30);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'handover-cache-'));
  await makeCache();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the cache store', () => {
  it('lists entries by kind, a hard link counted once (where it is met first: the source)', async () => {
    const release = await holdEntries([join(root, 'kernels/held')]);
    try {
      const entries = await listCache(root);
      const by = Object.fromEntries(entries.map((e) => [e.path.slice(root.length + 1), e]));
      expect(Object.keys(by)).toEqual(['sources/debian/linux-7.3', 'series/bbbb', 'trees/aaaa', 'kernels/held', 'kernels/new', 'kernels/old']);
      expect(by['sources/debian/linux-7.3']?.bytes).toBeGreaterThanOrEqual(512 * KiB);
      // The tree's Makefile is the source's inode: only its output dir is its own.
      expect(by['trees/aaaa']?.bytes).toBeLessThan(512 * KiB);
      expect(by['trees/aaaa']?.bytes).toBeGreaterThanOrEqual(256 * KiB);
      expect(by['kernels/held']?.heldBy).toBe(`in use by pid ${process.pid}`);
      expect(by['series/bbbb']?.heldBy).toBe(`locked by pid ${process.pid} (.lock)`);
      expect(by['kernels/old']?.heldBy).toBeUndefined();
    } finally {
      await release();
    }
    expect((await listCache(root)).find((e) => e.path.endsWith('kernels/held'))?.heldBy).toBeUndefined();
  });

  it('gc removes least recently used entries first, until the cache fits, and never a held one', async () => {
    const release = await holdEntries([join(root, 'kernels/held')]);
    // Holding is a use too (the marker touches the dir): age it again to show that held beats LRU.
    await age(join(root, 'kernels/held'), 20);
    try {
      const before = (await listCache(root)).reduce((a, e) => a + e.bytes, 0);
      const c = await gcCache(root, before - 100 * KiB);
      // LRU: series/bbbb (30 d, locked) and kernels/held (20 d, in use) stay; kernels/old (10 d) goes.
      expect(c.removed.map((e) => e.path.slice(root.length + 1))).toEqual(['kernels/old']);
      expect(c.kept.map((e) => e.path.slice(root.length + 1))).toEqual(['series/bbbb', 'kernels/held']);
      expect(c.bytesAfter).toBeLessThanOrEqual(before - 100 * KiB);
      await expect(stat(join(root, 'kernels/old'))).rejects.toThrow();
    } finally {
      await release();
    }
  });

  it('a used entry is recent: markUsed moves it to the back of the LRU order', async () => {
    await markUsed(join(root, 'kernels/old'));
    const c = await gcCache(root, (await listCache(root)).reduce((a, e) => a + e.bytes, 0) - 100 * KiB);
    expect(c.removed[0]?.path.slice(root.length + 1)).toBe('kernels/held');
  });

  it('a dead process holds nothing: its lock and in-use marker are ignored', async () => {
    await writeFile(join(root, 'kernels/held/.handover-in-use-999999999'), '');
    await writeFile(join(root, 'series/bbbb/.lock'), '999999999');
    await age(join(root, 'kernels/held'), 20);
    await age(join(root, 'series/bbbb'), 30);
    const c = await pruneCache(root, 15 * 86_400_000);
    expect(c.removed.map((e) => e.path.slice(root.length + 1)).sort()).toEqual(['kernels/held', 'series/bbbb']);
    expect(c.kept).toEqual([]);
  });

  it('prune removes what was not used for the given age', async () => {
    const c = await pruneCache(root, 5 * 86_400_000);
    expect(c.removed.map((e) => e.path.slice(root.length + 1))).toEqual(['kernels/held', 'kernels/old']);
    expect(c.kept.map((e) => e.path.slice(root.length + 1))).toEqual(['series/bbbb']);
  });

  it('reads sizes and ages, and names the option of a bad one', () => {
    expect(parseByteSize('2G', '--max-size')).toBe(2 * 2 ** 30);
    expect(parseByteSize('1.5M', '--max-size')).toBe(1.5 * 2 ** 20);
    expect(parseByteSize('500MiB', '--max-size')).toBe(500 * 2 ** 20);
    expect(parseByteSize('4096', '--max-size')).toBe(4096);
    expect(() => parseByteSize('2 gigs', '--max-size')).toThrow("--max-size: '2 gigs' is not a size (e.g. 2G, 500M)");
    expect(parseAge('30d', '--older-than')).toBe(30 * 86_400_000);
    expect(parseAge('12h', '--older-than')).toBe(12 * 3_600_000);
    expect(() => parseAge('yesterday', '--older-than')).toThrow("--older-than: 'yesterday' is not an age");
  });
});

describe('handover cache (CLI)', () => {
  it('lists, collects to a size and refuses a bad size with exit 2', async () => {
    process.env.HANDOVER_CACHE_DIR = root;
    try {
      const list = await handover(['cache', 'list']);
      expect(list.exitCode, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/^kernels +3 +/m);
      expect(list.stdout).toMatch(/^total: .* in 6 entries \(hard links counted once\)$/m);
      const gc = await handover(['cache', 'gc', '--max-size', '0']);
      expect(gc.exitCode).toBe(0);
      // The series slot is locked by this (live) process: it stays, and the run says so.
      expect(gc.stdout).toMatch(/^kept .*series\/bbbb: locked by pid \d+ \(\.lock\)$/m);
      expect(gc.stdout).toMatch(/^gc to 0 B: 5 entries removed, /m);
      expect(gc.stderr).toMatch(/the cache is still .*: 1 held entries could not go/);
      const bad = await handover(['cache', 'gc', '--max-size', 'lots']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain("--max-size: 'lots' is not a size");
    } finally {
      delete process.env.HANDOVER_CACHE_DIR;
    }
  });
});
