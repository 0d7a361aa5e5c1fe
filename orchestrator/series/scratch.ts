import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HandoverError, usageError } from '../errors.ts';
import { acquireLock } from '../host/lock.ts';
import { cacheDir } from '../paths.ts';
import type { Progress } from '../log/progress.ts';
import { formatSeconds } from '../log/progress.ts';
import { resolveSource } from '../kernel/source.ts';
import { parseKernelSpec } from '../kernel/spec.ts';
import { git, gitTopLevel, gitTry } from './git.ts';

/**
 * A scratch git repository of a base kernel tree, where a series is applied. It lives in the
 * cache at a path fixed per base (its location for a git base, its identity otherwise), so the
 * kernel build's output dir, which is keyed by the tree's location, stays warm across runs.
 */
export interface ScratchTree {
  /** The scratch repository's work tree: build it as `path:<dir>`. */
  dir: string;
  /** The commit the series applies to. */
  baseCommit: string;
  /** What the base is, for reports: a path and commit, or a package version. */
  describe: string;
  /** 'clone': `git clone --shared` of a git base; 'copy': a throwaway repo made from a plain tree. */
  kind: 'clone' | 'copy';
  /** Where per-base state (the warning maps) is kept. */
  stateDir: string;
  /** Releases the per-base lock: one series at a time per scratch tree. */
  release: () => Promise<void>;
}

const BASE_TAG = 'handover-base';

/**
 * Opens (creating on first use) the scratch tree for `baseSpec` and resets it to the base:
 * the user's checkout is never written to (a git base is cloned with --shared --no-checkout,
 * which only reads its objects; `git worktree add` would write into its .git).
 */
export async function openScratchTree(baseSpec: string, opts: { baseRev?: string; progress?: Progress } = {}): Promise<ScratchTree> {
  const spec = parseKernelSpec(baseSpec);
  let origin: { kind: 'clone'; gitDir: string; rev: string; describe: string; slot: string } | { kind: 'copy'; src: string; describe: string; slot: string };
  const localTop = spec.kind === 'local' ? await gitTopLevel(spec.dir) : undefined;
  if (spec.kind === 'local' && localTop === spec.dir) {
    origin = { kind: 'clone', gitDir: await commonDir(spec.dir), rev: opts.baseRev ?? 'HEAD', describe: spec.dir, slot: `clone:${spec.dir}` };
    // Read-only (GIT_OPTIONAL_LOCKS=0: not even the index's stat cache is refreshed).
    const dirty = await gitTry(['status', '--porcelain', '--untracked-files=no'], { cwd: spec.dir, env: { GIT_OPTIONAL_LOCKS: '0' } });
    if (dirty.stdout.trim() !== '') opts.progress?.info(`note: ${spec.dir} has uncommitted changes; the series is applied to ${origin.rev} as committed`);
  } else if (spec.kind === 'git') {
    const source = await resolveSource(spec);
    origin = { kind: 'clone', gitDir: await commonDir(source.dir), rev: opts.baseRev ?? 'HEAD', describe: source.describe, slot: `clone:${spec.repository}` };
    if (opts.baseRev === undefined) origin.rev = (await git(['rev-parse', 'HEAD'], { cwd: source.dir, what: 'resolve the base' })).trim();
  } else {
    if (opts.baseRev !== undefined) throw usageError(`a git range needs a git --kernel base; ${spec.text} is not a git repository`);
    const source = await resolveSource(spec);
    origin = { kind: 'copy', src: source.dir, describe: source.describe, slot: `copy:${source.identity}` };
  }

  const slotDir = await cacheDir('series', createHash('sha256').update(origin.slot).digest('hex').slice(0, 16));
  const release = await acquireLock(join(slotDir, '.lock'), {
    waitMs: 3_600_000,
    onWait: (pid) => opts.progress?.info(`waiting for another series (pid ${pid}) using ${slotDir}`),
  });
  try {
    const dir = join(slotDir, 'tree');
    const stateDir = join(slotDir, 'state');
    await mkdir(stateDir, { recursive: true });
    let baseCommit: string;
    if (origin.kind === 'clone') {
      const commit = await git(['rev-parse', '--verify', `${origin.rev}^{commit}`], { cwd: origin.gitDir, what: `resolve ${origin.rev} in ${origin.describe}`, outcome: 'usage-error' });
      baseCommit = commit.trim();
      if (!(await exists(join(dir, '.git')))) {
        const partial = `${dir}.partial-${process.pid}`;
        await rm(partial, { recursive: true, force: true });
        await git(['clone', '-q', '--shared', '--no-checkout', origin.gitDir, partial], { cwd: slotDir, what: 'clone the base' });
        await rename(partial, dir);
      }
    } else {
      if (!(await exists(join(dir, '.git')))) await makeThrowawayRepo(origin.src, dir, `base: ${origin.describe}`, opts.progress);
      baseCommit = (await git(['rev-parse', `${BASE_TAG}^{commit}`], { cwd: dir, what: 'find the base commit' })).trim();
    }
    await resetTo(dir, baseCommit);
    const describe = origin.kind === 'clone' ? `${origin.describe} @ ${baseCommit.slice(0, 12)}` : origin.describe;
    return { dir, baseCommit, describe, kind: origin.kind, stateDir, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * Turns a plain tree (the Debian source, a directory) into a git repository with one commit,
 * tagged handover-base. A full copy, never hard links: git am and checkout then cannot write
 * through to the source. Built beside `dir` and renamed into place, so it is all or nothing.
 */
export async function makeThrowawayRepo(src: string, dir: string, message: string, progress?: Progress): Promise<void> {
  const started = Date.now();
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  progress?.info(`making a throwaway git repository of ${src} (once per base; a kernel tree takes a minute or two)`);
  try {
    await mkdir(partial, { recursive: true });
    const cp = await execa('cp', ['-a', '--reflink=auto', `${src}/.`, partial], { reject: false, stdin: 'ignore' });
    if (cp.exitCode !== 0) throw new HandoverError('source-failed', `copy ${src} to ${partial} failed`, { evidence: [String(cp.stderr)] });
    await git(['init', '-q', partial], { cwd: partial, what: 'create the throwaway repository' });
    // -f: a source tree may carry files its .gitignore names; they are part of the base too.
    await git(['add', '-A', '-f'], { cwd: partial, what: 'add the base tree' });
    await git(['commit', '-q', '--no-verify', '-m', message], { cwd: partial, what: 'commit the base tree' });
    await git(['tag', BASE_TAG], { cwd: partial, what: 'tag the base' });
    await rename(partial, dir);
    progress?.info(`throwaway repository ready in ${formatSeconds((Date.now() - started) / 1000)}: ${dir}`);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Back to `commit` with nothing else in the tree: an interrupted git am is dropped, and
 * untracked files (.rej files of a diagnosis) are removed. Only files that differ are rewritten,
 * so the next build stays incremental.
 */
export async function resetTo(dir: string, commit: string): Promise<void> {
  if (await exists(join(dir, '.git', 'rebase-apply'))) await gitTry(['am', '--abort'], { cwd: dir });
  // trustctime off: the build tree's hard links change every file's ctime, and a forced checkout
  // would rewrite each file whose ctime moved, making the next build a full one.
  await git(['-c', 'core.trustctime=false', 'checkout', '-q', '--detach', '--force', commit], { cwd: dir, what: `check out ${commit.slice(0, 12)}` });
  await git(['clean', '-q', '-f', '-d', '-x'], { cwd: dir, what: 'clean the scratch tree' });
}

async function commonDir(dir: string): Promise<string> {
  return (await git(['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: dir, what: `read ${dir}` })).trim();
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

/** True when `dir` is a directory. */
export async function isDir(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => undefined))?.isDirectory() === true;
}
