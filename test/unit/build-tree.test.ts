import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCcacheStats } from '../../orchestrator/kernel/build.ts';
import { OUT_PREFIX, prepareBuildTree } from '../../orchestrator/kernel/build-tree.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'handover-build-tree-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const ino = async (p: string) => (await stat(p)).ino;

describe('the build tree: a hard-linked copy with the output dir inside', () => {
  it('copies by hard links, keeps the output dir across syncs and follows adds, removals, replacements', async () => {
    const src = join(work, 'linux');
    const root = join(work, 'root');
    await mkdir(join(src, 'kernel', 'sub'), { recursive: true });
    await mkdir(join(src, '.git'), { recursive: true });
    await writeFile(join(src, 'Makefile'), 'all:\n');
    await writeFile(join(src, 'kernel', 'fork.c'), 'int fork;\n');
    await writeFile(join(src, 'kernel', 'sub', 'gone.c'), 'x\n');
    await writeFile(join(src, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    await symlink('fork.c', join(src, 'kernel', 'link.c'));

    const first = await prepareBuildTree(root, src, '');
    expect(first.srcDir).toBe(join(root, 'src'));
    expect(first.outDir).toBe(join(root, 'src', `${OUT_PREFIX}default`));
    expect(await ino(join(first.srcDir, 'kernel', 'fork.c'))).toBe(await ino(join(src, 'kernel', 'fork.c')));
    expect(await readlink(join(first.srcDir, 'kernel', 'link.c'))).toBe('fork.c');
    // .git travels with the tree: scripts/setlocalversion reads it.
    expect(await readFile(join(first.srcDir, '.git', 'HEAD'), 'utf8')).toContain('refs/heads/main');
    await writeFile(join(first.outDir, 'vmlinux.o'), 'object');

    // A checkout replaces a file (new inode), adds one, removes one; a symlink changes target.
    await unlink(join(src, 'kernel', 'fork.c'));
    await writeFile(join(src, 'kernel', 'fork.c'), 'int fork2;\n');
    await writeFile(join(src, 'kernel', 'new.c'), 'new\n');
    await rm(join(src, 'kernel', 'sub'), { recursive: true });
    await unlink(join(src, 'kernel', 'link.c'));
    await symlink('new.c', join(src, 'kernel', 'link.c'));

    const second = await prepareBuildTree(root, src, '');
    expect(await readFile(join(second.srcDir, 'kernel', 'fork.c'), 'utf8')).toBe('int fork2;\n');
    expect(await ino(join(second.srcDir, 'kernel', 'fork.c'))).toBe(await ino(join(src, 'kernel', 'fork.c')));
    expect(await readFile(join(second.srcDir, 'kernel', 'new.c'), 'utf8')).toBe('new\n');
    expect(await stat(join(second.srcDir, 'kernel', 'sub')).catch(() => undefined)).toBeUndefined();
    expect(await readlink(join(second.srcDir, 'kernel', 'link.c'))).toBe('new.c');
    expect(await readFile(join(second.outDir, 'vmlinux.o'), 'utf8')).toBe('object');
    expect(second.synced.linked).toBeGreaterThanOrEqual(3);
    expect(second.synced.removed).toBeGreaterThanOrEqual(2);

    // Nothing changed: nothing to do; another profile set gets its own output dir.
    const third = await prepareBuildTree(root, src, 'debug');
    expect(third.synced).toMatchObject({ linked: 0, removed: 0 });
    expect(third.outDir).toBe(join(root, 'src', `${OUT_PREFIX}debug`));
  });
});

describe("ccache's per-build stats log", () => {
  it('counts hits (direct and preprocessed) and misses, not the calls it cannot cache', () => {
    const log = [
      '# kernel/fork.c', 'direct_cache_hit', 'local_storage_hit',
      '# kernel/exit.c', 'cache_miss', 'direct_cache_miss', 'preprocessed_cache_miss',
      '# mm/memfd.c', 'preprocessed_cache_hit', 'direct_cache_miss',
      '# arch/x86/kernel/vmlinux.lds.S', 'called_for_preprocessing',
      '',
    ].join('\n');
    expect(parseCcacheStats(log)).toEqual({ compilations: 3, hits: 2, misses: 1 });
    expect(parseCcacheStats('')).toEqual({ compilations: 0, hits: 0, misses: 0 });
  });
});
