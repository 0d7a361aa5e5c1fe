import { createHash } from 'node:crypto';
import { access, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HandoverError } from '../errors.ts';
import { runTool } from '../host/run-tool.ts';
import { cacheDir } from '../paths.ts';
import { fetchDebianSource } from './debian-source.ts';
import type { KernelSpec } from './spec.ts';

/** A kernel tree ready to build out of tree, and what it is. */
export interface SourceTree {
  spec: KernelSpec;
  dir: string;
  /** Stable while the tree's content is unchanged; part of the build cache key. */
  identity: string;
  /** Names the tree's place (not its content): builds of one place share an output dir. */
  location: string;
  /** A human description: package version, commit, or path. */
  describe: string;
  fetchSeconds: number;
}

export async function resolveSource(spec: KernelSpec): Promise<SourceTree> {
  switch (spec.kind) {
    case 'debian': {
      const t = await fetchDebianSource(spec.package, spec.suite);
      return {
        spec,
        dir: t.dir,
        identity: `debian:${t.package}=${t.version}`,
        location: `debian:${t.package}`,
        describe: `Debian ${t.package} ${t.version} (${t.suite})`,
        fetchSeconds: t.fetchSeconds,
      };
    }
    case 'git':
      return gitSource(spec);
    case 'local':
      return localSource(spec);
  }
}

async function localSource(spec: Extract<KernelSpec, { kind: 'local' }>): Promise<SourceTree> {
  const { dir } = spec;
  try {
    await access(join(dir, 'Makefile'));
    await access(join(dir, 'Kconfig'));
  } catch {
    throw new HandoverError('usage-error', `--kernel ${spec.text}: ${dir} is not a kernel tree (no Makefile and Kconfig)`);
  }
  await refuseInTreeBuild(dir, spec.text);
  return {
    spec,
    dir,
    identity: `local:${dir}:${await treeFingerprint(dir)}`,
    location: `local:${dir}`,
    describe: dir,
    fetchSeconds: 0,
  };
}

/**
 * Kbuild refuses O= builds of a tree that was configured in place; we never clean the user's
 * tree, so say what to do instead of letting make fail later.
 */
async function refuseInTreeBuild(dir: string, text: string): Promise<void> {
  for (const marker of ['.config', 'include/config']) {
    const found = await stat(join(dir, marker)).then(() => true, () => false);
    if (found) {
      throw new HandoverError(
        'usage-error',
        `--kernel ${text}: the tree has an in-tree build (${marker}); handover builds out of tree and never cleans your tree: run 'make mrproper' there yourself, or point --kernel at a clean checkout`,
      );
    }
  }
}

/**
 * A fingerprint of every file's path, size and mtime (not contents: a stat walk by find(1) is
 * a fraction of a second on a kernel tree, while hashing 1.5 GB is not).
 */
async function treeFingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const find = execa('find', ['.', '-path', './.git', '-prune', '-o', '-type', 'f', '-printf', '%P\t%s\t%T@\n'], {
    cwd: dir,
    buffer: false,
    stdin: 'ignore',
  });
  find.stdout.on('data', (chunk: Buffer) => hash.update(chunk));
  await find;
  return hash.digest('hex').slice(0, 16);
}

async function gitSource(spec: Extract<KernelSpec, { kind: 'git' }>): Promise<SourceTree> {
  const started = Date.now();
  const slot = createHash('sha256').update(spec.repository).digest('hex').slice(0, 16);
  const base = await cacheDir('git', slot);
  const bare = join(base, 'repo.git');
  const worktree = join(base, 'worktree');
  const git = (args: string[], what: string, cwd = base) =>
    runTool('git', args, { outcome: 'source-failed', what, cwd });

  if (!(await exists(join(bare, 'HEAD')))) {
    await git(['init', '--bare', '-q', bare], 'create the cache repository');
  }
  await git(['--git-dir', bare, 'fetch', '-q', '--no-tags', spec.repository, `+${spec.ref}:refs/handover/wanted`], `fetch ${spec.ref} from ${spec.repository}`);
  const commit = (await git(['--git-dir', bare, 'rev-parse', 'refs/handover/wanted^{commit}'], `resolve ${spec.ref}`)).stdout.trim();
  if (!(await exists(join(worktree, '.git')))) {
    await mkdir(base, { recursive: true });
    await git(['--git-dir', bare, 'worktree', 'add', '-q', '--detach', worktree, commit], 'create the worktree');
  } else {
    // Checking out in place touches only the files that differ, so the next build is incremental.
    // trustctime off: the build tree's hard links move every file's ctime (see series/scratch.ts).
    await git(['-c', 'core.trustctime=false', 'checkout', '-q', '--detach', '--force', commit], `check out ${commit}`, worktree);
  }
  return {
    spec,
    dir: worktree,
    identity: `git:${spec.repository}@${commit}`,
    location: `git:${spec.repository}`,
    describe: `${spec.repository} ${spec.ref} (${commit.slice(0, 12)})`,
    fetchSeconds: (Date.now() - started) / 1000,
  };
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}
