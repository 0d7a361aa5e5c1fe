// Where a kernel is compiled: a hard-linked copy of the source tree in the cache, with the output
// dir as a direct subdirectory of it. Kbuild then calls the source tree `..` in every compiler
// command (`-I../include`, `../kernel/fork.c`, `-fmacro-prefix-map=../=`), so the commands are the
// same whatever path the tree has, and ccache serves a copy of a tree (a series scratch tree, a
// bisect checkout, a user's clone) from what the first build of that content compiled.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { copyFile, link, lstat, mkdir, readlink, rename, rm, stat, symlink, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { cacheDir } from '../paths.ts';

/** Output dirs inside the copy start with this; the sync never touches them. */
export const OUT_PREFIX = '.handover-out-';

export interface BuildTree {
  /** The copy of the source tree make runs in (`make -C`). */
  srcDir: string;
  /** The output dir (`O=`), `<srcDir>/.handover-out-<profiles>`. */
  outDir: string;
  /** What the sync did, for the build log. */
  synced: { linked: number; removed: number; seconds: number };
}

/** One copy per source location (not per content: a moving tree syncs only what changed). */
export async function buildTreeRoot(location: string): Promise<string> {
  return cacheDir('trees', createHash('sha256').update(location).digest('hex').slice(0, 16));
}

/**
 * Brings `<root>/src` in line with `sourceDir` (hard links; a copy across file systems) and
 * returns where to build. Call it under the tree's lock: two builds must not sync one copy.
 */
export async function prepareBuildTree(root: string, sourceDir: string, profiles: string): Promise<BuildTree> {
  const started = Date.now();
  const srcDir = join(root, 'src');
  const synced = await syncTree(sourceDir, srcDir);
  const outDir = join(srcDir, `${OUT_PREFIX}${profiles === '' ? 'default' : profiles}`);
  await mkdir(outDir, { recursive: true });
  return { srcDir, outDir, synced: { ...synced, seconds: (Date.now() - started) / 1000 } };
}

interface Entry {
  /** "f" regular file, "l" symlink, "d" directory. */
  type: string;
  /** Size and mtime (ms), a symlink's target: a hard link or a copy made here shares them; a replaced file does not. */
  stamp: string;
}

/**
 * Every file, symlink and directory below `dir` but our output dirs, by one find(1). `.git` is
 * copied too: scripts/setlocalversion reads it, and the release must not change with the copy.
 */
async function listTree(dir: string): Promise<Map<string, Entry>> {
  const r = await execa(
    'find',
    ['.', '-mindepth', '1', '-path', `./${OUT_PREFIX}*`, '-prune', '-o', '-printf', '%y\\0%P\\0%s:%T@\\0%l\\0'],
    { cwd: dir, stdin: 'ignore', reject: false, maxBuffer: 1 << 30 },
  );
  if (r.exitCode !== 0) throw new HandoverError('source-failed', `cannot list the kernel tree ${dir}: ${String(r.stderr).trim()}`);
  const parts = String(r.stdout).split('\0');
  const out = new Map<string, Entry>();
  for (let i = 0; i + 3 < parts.length; i += 4) {
    const type = parts[i] ?? '';
    const [size, mtime] = (parts[i + 2] ?? '').split(':');
    // A symlink made here is newer than its original: its target is what must match.
    const stamp = type === 'l' ? `-> ${parts[i + 3] ?? ''}` : `${size}:${Math.floor(Number(mtime) * 1000)}`;
    out.set(parts[i + 1] ?? '', { type, stamp });
  }
  return out;
}

/** The copy's entry is the source's: same kind and, but for a directory, the same stamp. */
function same(want: Entry | undefined, have: Entry | undefined): boolean {
  return want !== undefined && have !== undefined && want.type === have.type && (want.type === 'd' || want.stamp === have.stamp);
}

async function syncTree(from: string, to: string): Promise<{ linked: number; removed: number }> {
  const fresh = !(await stat(to).then(() => true, () => false));
  if (fresh) {
    // cp -al is several times faster than linking file by file from here.
    await mkdir(dirname(to), { recursive: true });
    await rm(`${to}.partial`, { recursive: true, force: true });
    const r = await execa('cp', ['-al', from, `${to}.partial`], { reject: false, stdin: 'ignore' });
    if (r.exitCode === 0) {
      await rename(`${to}.partial`, to);
      return { linked: -1, removed: 0 };
    }
    // Another file system: fall through and copy file by file.
    await rm(`${to}.partial`, { recursive: true, force: true });
    await mkdir(to, { recursive: true });
  }
  const [want, have] = await Promise.all([listTree(from), listTree(to)]);
  let removed = 0;
  for (const [path, e] of have) {
    if (same(want.get(path), e)) continue;
    await rm(join(to, path), { recursive: true, force: true });
    removed++;
  }
  let linked = 0;
  // Sorted, so a directory comes before what it holds.
  for (const path of [...want.keys()].sort()) {
    const w = want.get(path);
    if (w === undefined || same(w, have.get(path))) continue;
    const src = join(from, path);
    const dst = join(to, path);
    if (w.type === 'd') await mkdir(dst, { recursive: true });
    else if (w.type === 'l') await symlink(await readlink(src), dst);
    else if (w.type === 'f') await linkOrCopy(src, dst);
    linked++;
  }
  return { linked, removed };
}

async function linkOrCopy(src: string, dst: string): Promise<void> {
  await unlink(dst).catch(() => undefined);
  try {
    await link(src, dst);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    // A copy keeps the mtime, so make and the next sync see it as the same file.
    await copyFile(src, dst);
    const s = await lstat(src);
    await utimes(dst, s.atime, s.mtime);
  }
}
