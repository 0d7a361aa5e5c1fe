import { mkdtemp, readFile, rm, unlink, writeFile, readdir, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKernel, type KernelBuild } from '../../orchestrator/kernel/build.ts';
import { HandoverError } from '../../orchestrator/errors.ts';
import { cacheDir } from '../../orchestrator/paths.ts';
import { createProgress } from '../../orchestrator/log/progress.ts';
import { handover } from '../helpers/cli.ts';

const progress = () => createProgress({ tty: false, intervalMs: 60_000 });

describe('kernel pipeline on the default kernel (Debian linux-source-7.3)', () => {
  let first: KernelBuild;
  beforeAll(async () => {
    first = await buildKernel({ progress: progress() });
  });

  it('builds a kernel whose final .config has KHO enabled by default, LUO and memfd preservation', async () => {
    const config = await readFile(first.artifacts.config, 'utf8');
    for (const line of ['CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y', 'CONFIG_KEXEC_HANDOVER_DEBUGFS=y', 'CONFIG_LIVEUPDATE=y', 'CONFIG_LIVEUPDATE_MEMFD=y']) {
      expect(config.split('\n')).toContain(line);
    }
    expect(first.metadata.release).toMatch(/^7\.3\./);
    expect(first.metadata.source.identity).toMatch(/^debian:linux-source-7\.3=/);
    await stat(join(first.artifacts.headers, 'linux', 'liveupdate.h'));
    expect((await stat(first.artifacts.bzImage)).size).toBeGreaterThan(1_000_000);
    expect(first.metadata.reproducer).toBe('handover kernel build --kernel debian:linux-source-7.3');
  });

  it('is a cache hit, without running make, when nothing changed', async () => {
    const again = await buildKernel();
    expect(again.cacheHit).toBe(true);
    expect(again.dir).toBe(first.dir);
    console.log(`no-op rebuild: ${again.seconds.toFixed(2)} s`);
  });

  it('fails with config-dropped (exit 3) naming the symbol, the fragment line and the unmet dependency', async () => {
    const r = await handover(['kernel', 'build', '--config', 'CONFIG_KEXEC_HANDOVER=n']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('handover: config-dropped:');
    expect(r.stderr).toContain('CONFIG_LIVEUPDATE=y (asked by kernel-config/luo.config:2)');
    expect(r.stderr).toMatch(/depends on .*KEXEC_HANDOVER \[=n\]/);
    expect(r.stderr).toContain('(kernel/liveupdate/Kconfig:');
  });

  it('reports a symbol that does not exist in the tree (exit 3)', async () => {
    const r = await handover(['kernel', 'build', '--config', 'CONFIG_KEXEC_HANDOVR=y']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('handover: config-unknown-symbol:');
    expect(r.stderr).toMatch(/CONFIG_KEXEC_HANDOVR=y .*does not exist.*did you mean CONFIG_KEXEC_HANDOVER\?/);
  });

  it('refuses a malformed --config item as a usage error (exit 2) before building anything', async () => {
    const r = await handover(['kernel', 'build', '--config', 'CONFIG_FOO=maybe']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--config CONFIG_FOO=maybe:1:1');
  });
});

describe('a local tree', () => {
  let tree: string;
  let marker: number;
  const edited = 'kernel/liveupdate/luo_core.c';
  // Write a new file instead of through the hard link, so the cached Debian tree stays untouched.
  const replace = async (rel: string, text: string) => {
    await unlink(join(tree, rel));
    await writeFile(join(tree, rel), text);
  };

  beforeAll(async () => {
    const debian = await buildKernel();
    // A hard-linked copy at a fixed place: its output dir stays warm across test runs.
    tree = join(await cacheDir('test-trees'), 'linux-local');
    if ((await readdir(tree).catch(() => [])).length === 0) {
      await rm(tree, { recursive: true, force: true });
      await execa('cp', ['-al', debian.metadata.source.dir, tree]);
    }
    marker = Date.now();
  });

  it('builds, then rebuilds incrementally after one file changes, and fails clearly on a compile error', async () => {
    const original = await readFile(join(tree, edited), 'utf8');
    await replace(edited, original);
    const base = await buildKernel({ kernel: tree, progress: progress() });
    expect(base.metadata.source.kind).toBe('local');

    await replace(edited, `${original}\n/* handover one-file rebuild ${Date.now()} */\n`);
    const incremental = await buildKernel({ kernel: tree, progress: progress() });
    expect(incremental.cacheHit).toBe(false);
    const log = await readFile(incremental.artifacts.buildLog, 'utf8');
    const compiled = log.split('\n').filter((l) => /^ {2}CC\s/.test(l));
    expect(compiled.map((l) => l.trim())).toContain(`CC      ${edited.replace(/\.c$/, '.o')}`);
    expect(compiled.length).toBeLessThan(20);
    console.log(`one-file rebuild: ${incremental.seconds.toFixed(1)} s (${compiled.length} objects compiled)`);

    await replace(edited, `${original}\n#error handover-test-error\n`);
    const failure = await buildKernel({ kernel: tree }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(HandoverError);
    expect((failure as HandoverError).outcome).toBe('build-failed');
    expect((failure as HandoverError).evidence.join('\n')).toMatch(/luo_core\.c:\d+:\d+: error: #error handover-test-error/);
    await replace(edited, original);
  });

  it('a copy of the tree at another path, built by `run`, comes from ccache, with make -j the CPU count', async () => {
    // A new path every time: a new build tree, so only ccache (not an incremental build) can be fast.
    const copy = await mkdtemp(join(await cacheDir('test-trees'), 'linux-elsewhere-'));
    await rm(copy, { recursive: true });
    await execa('cp', ['-al', tree, copy]);
    const dir = await mkdtemp(join(tmpdir(), 'handover-copy-run-'));
    try {
      const r = await handover(['run', 'kho-on-by-default', '--kernel', copy, '--accel', 'tcg', '--reporter', 'json', '--output', dir]);
      expect(r.exitCode, r.stderr).toBe(0);
      const line = /^ccache: (\d+) of (\d+) compilations from the cache$/m.exec(r.stderr);
      expect(line, r.stderr.slice(-2000)).not.toBeNull();
      const [hits, all] = [Number(line?.[1]), Number(line?.[2])];
      console.log(`copy at another path: ccache ${hits} of ${all} compilations`);
      expect(all).toBeGreaterThan(1000);
      expect(hits / all).toBeGreaterThan(0.95);
      const build = await buildKernel({ kernel: copy });
      expect(build.cacheHit).toBe(true);
      expect(build.metadata.ccache).toEqual({ compilations: all, hits, misses: all - hits });
      // `run --jobs` is the VM count: make got the CPU count.
      expect(build.metadata.make.jobs).toBe(availableParallelism());
      expect(build.metadata.make.commands.find((c) => c.endsWith(' bzImage'))).toContain(` -j${availableParallelism()} `);
      // The compiler saw the tree as `..`, not as the copy's path.
      expect(await readFile(build.artifacts.buildLog, 'utf8')).not.toContain(copy);
    } finally {
      const built = await buildKernel({ kernel: copy }).catch(() => undefined);
      if (built !== undefined) await rm(built.dir, { recursive: true, force: true });
      // The copy's build tree (its hard links and output dir): <root>/src, as metadata names it.
      if (built?.metadata.tree !== undefined) await rm(dirname(built.metadata.tree.dir), { recursive: true, force: true });
      await rm(copy, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is never written to: no .config, no objects, nothing new but the file the test edited', async () => {
    const { stdout } = await execa('find', [tree, '-newermt', `@${Math.floor(marker / 1000) - 1}`, '-not', '-type', 'd']);
    const changed = stdout.split('\n').filter((p) => p !== '' && !p.endsWith(edited));
    expect(changed).toEqual([]);
  });
});
