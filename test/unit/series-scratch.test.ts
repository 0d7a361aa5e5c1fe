import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScratchTree } from '../../orchestrator/series/scratch.ts';

// Real git on small trees; the cache is a temp dir (HANDOVER_CACHE_DIR).
describe('scratch trees for a series', () => {
  let root: string;
  let saved: string | undefined;
  const git = (cwd: string, ...args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd });
  const listing = async (dir: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) out.push(join(e.parentPath, e.name));
    return out.sort();
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'handover-series-scratch-'));
    saved = process.env.HANDOVER_CACHE_DIR;
    process.env.HANDOVER_CACHE_DIR = join(root, 'cache');
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.HANDOVER_CACHE_DIR;
    else process.env.HANDOVER_CACHE_DIR = saved;
    await rm(root, { recursive: true, force: true });
  });

  it('clones a git base with --shared, never writing to the user checkout, at a stable path', async () => {
    const user = join(root, 'linux');
    await mkdir(user);
    await git(user, 'init', '-q');
    await writeFile(join(user, 'Makefile'), 'all:\n');
    await git(user, 'add', '.');
    await git(user, 'commit', '-qm', 'base');
    const head = (await git(user, 'rev-parse', 'HEAD')).stdout.trim();
    const before = await listing(join(user, '.git'));

    const s = await openScratchTree(user);
    await s.release();
    expect(s.kind).toBe('clone');
    expect(s.baseCommit).toBe(head);
    expect(await readFile(join(s.dir, 'Makefile'), 'utf8')).toBe('all:\n');
    expect(await readFile(join(s.dir, '.git', 'objects', 'info', 'alternates'), 'utf8')).toContain(join(user, '.git', 'objects'));
    expect(await listing(join(user, '.git'))).toEqual(before);

    // Dirt in the scratch tree is gone at the next open, and the path is the same.
    await writeFile(join(s.dir, 'Makefile.rej'), 'x');
    await writeFile(join(s.dir, 'Makefile'), 'changed\n');
    const again = await openScratchTree(user);
    await again.release();
    expect(again.dir).toBe(s.dir);
    expect(await readFile(join(s.dir, 'Makefile'), 'utf8')).toBe('all:\n');
    expect((await git(s.dir, 'status', '--porcelain', '--ignored')).stdout).toBe('');
  });

  it('makes a throwaway repository of a plain tree, once, with the base tagged', async () => {
    const plain = join(root, 'plain');
    await mkdir(join(plain, 'kernel'), { recursive: true });
    await writeFile(join(plain, 'Makefile'), 'all:\n');
    await writeFile(join(plain, 'Kconfig'), '');
    await writeFile(join(plain, 'kernel', 'a.o'), 'ignored by a .gitignore, still part of the base');
    await writeFile(join(plain, '.gitignore'), '*.o\n');
    const s = await openScratchTree(plain);
    await s.release();
    expect(s.kind).toBe('copy');
    expect((await git(s.dir, 'rev-parse', 'handover-base')).stdout.trim()).toBe(s.baseCommit);
    expect((await git(s.dir, 'ls-files')).stdout.split('\n').sort()).toEqual(['.gitignore', 'Kconfig', 'Makefile', 'kernel/a.o']);
    // The source is untouched: no .git appeared in it.
    expect((await readdir(plain)).sort()).toEqual(['.gitignore', 'Kconfig', 'Makefile', 'kernel']);
  });

  it('refuses a git range on a base that is not a git checkout (usage error)', async () => {
    const plain = join(root, 'plain');
    await expect(openScratchTree(plain, { baseRev: 'v1' })).rejects.toMatchObject({ outcome: 'usage-error' });
  });
});
