import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheDir } from '../../orchestrator/paths.ts';
import { openScratchTree } from '../../orchestrator/series/scratch.ts';

// A throwaway git repository of the default tree (made from the same throwaway base repository
// handover series uses) with the four fixture patches as commits; the third breaks memfd
// restoration. It lives at a fixed place in the cache, so its build output dir stays warm:
// on a warm cache each bisect step is an incremental build and one memfd-round-trip run; the
// first run on a machine checks out the tree (~1 min) and builds it cold (~5 min).
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'handover.js');
const PATCHES = join(import.meta.dirname, '..', 'fixtures', 'series', 'patches');
const GIT_ENV = { GIT_COMMITTER_NAME: 'handover test', GIT_COMMITTER_EMAIL: 'test@handover.invalid', GIT_COMMITTER_DATE: '2026-11-25T08:00:00Z' };

describe('git bisect run with handover bisect-step', () => {
  let repo: string;
  let base: string;
  let commits: string[];
  let out: string;
  const git = (...args: string[]) => execa('git', ['-c', 'core.hooksPath=/dev/null', ...args], { cwd: repo, env: GIT_ENV, reject: false, all: true });

  beforeAll(async () => {
    const scratch = await openScratchTree('debian:linux-source-7.3');
    await scratch.release();
    base = scratch.baseCommit;
    repo = join(await cacheDir('test-trees'), 'bisect-repo');
    if ((await readdir(join(repo, '.git')).catch(() => [])).length === 0) {
      await rm(repo, { recursive: true, force: true });
      await execa('git', ['clone', '-q', '--shared', '--no-checkout', scratch.dir, repo]);
    }
    await git('bisect', 'reset');
    const co = await git('checkout', '-q', '--force', '-B', 'bisect-test', base);
    expect(co.exitCode, co.all).toBe(0);
    await git('clean', '-q', '-f', '-d', '-x');
    const patches = (await readdir(PATCHES)).filter((f) => !f.includes('cover-letter')).sort();
    const am = await git('am', '-q', ...patches.map((p) => join(PATCHES, p)));
    expect(am.exitCode, am.all).toBe(0);
    commits = (await git('rev-list', '--reverse', `${base}..HEAD`)).stdout.split('\n');
    expect(commits).toHaveLength(4);
    out = await mkdtemp(join(tmpdir(), 'handover-bisect-e2e-'));
  });
  afterAll(async () => {
    await git('bisect', 'reset');
    await rm(out, { recursive: true, force: true });
  });

  it('names the commit that breaks memfd restoration as the first bad commit', async () => {
    const start = await git('bisect', 'start', 'HEAD', base);
    expect(start.exitCode, start.all).toBe(0);
    const t0 = Date.now();
    const run = await git('bisect', 'run', 'node', BIN, 'bisect-step', 'memfd-round-trip', '--output', out);
    const seconds = (Date.now() - t0) / 1000;
    const steps = (run.all.match(/^bisect-step: /gm) ?? []).length;
    console.log(`git bisect run: ${steps} steps in ${seconds.toFixed(0)} s`);
    expect(run.exitCode, run.all).toBe(0);
    expect(run.all).toContain(`${commits[2]} is the first bad commit`);
    expect(run.all).toContain('mm: memfd_luo: zero restored folios before inserting them');
    // Each step said what it was, as git bisect run reads it.
    expect(run.all).toMatch(/^bisect-step: good \(exit 0\): passed/m);
    expect(run.all).toMatch(/^bisect-step: bad \(exit 1\): test-failed: memfd-round-trip: /m);
  });

  it('exits 125 (skip) for a commit that does not build, 128 (stop) for a bad scenario name or option', async () => {
    await git('bisect', 'reset');
    await git('checkout', '-q', '--force', '-B', 'bisect-broken', base);
    const file = join(repo, 'kernel/liveupdate/luo_core.c');
    await writeFile(file, `#error handover bisect-step skip test\n${await readFile(file, 'utf8')}`);
    await git('commit', '-q', '-a', '-m', 'does not build');
    const skip = await execa('node', [BIN, 'bisect-step', 'memfd-round-trip', '--output', out], { cwd: repo, reject: false, all: true });
    expect(skip.exitCode, skip.all).toBe(125);
    expect(skip.all).toMatch(/^bisect-step: skip \(exit 125\): build-failed: /m);
    expect(skip.all).toContain('error: #error handover bisect-step skip test');

    const bad = await execa('node', [BIN, 'bisect-step', 'no-such-scenario'], { cwd: repo, reject: false, all: true });
    expect(bad.exitCode, bad.all).toBe(128);
    expect(bad.all).toContain("scenario 'no-such-scenario': no such file, folder or shipped scenario");
    const unknownOption = await execa('node', [BIN, 'bisect-step', '--no-such-option'], { cwd: repo, reject: false, all: true });
    expect(unknownOption.exitCode).toBe(128);
    await git('checkout', '-q', '--force', 'bisect-test');
  });
});
