// `handover cache gc --max-size 2G` on a real cache (issue 15): a cache holding the default
// kernel, its source tree, the guest images and 900 MiB of stale entries is brought under 2 GiB,
// and the next run still works, from the cache. The cache is a hard-linked copy of the real one
// (HANDOVER_CACHE_DIR), so the real one loses nothing.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKernel, type KernelBuild } from '../../orchestrator/kernel/build.ts';
import { cacheRoot, PACKAGE_ROOT } from '../../orchestrator/paths.ts';

const GIB = 1024 ** 3;
const STALE = ['0000000000000000000000a1', '0000000000000000000000a2', '0000000000000000000000a3'];
let real = '';
let cache = '';
let kernel: KernelBuild;

/** The CLI with the copy as its cache. */
async function handover(args: string[]) {
  const r = await execa('node', [join(PACKAGE_ROOT, 'bin', 'handover.js'), ...args], {
    reject: false,
    stdin: 'ignore',
    env: { HANDOVER_CACHE_DIR: cache },
    timeout: 900_000,
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const link = (from: string) => promisify(execFile)('cp', ['-al', from, join(cache, relative(real, dirname(from)))]);

async function total(): Promise<{ bytes: number; kernels: string[] }> {
  const r = await handover(['cache', 'list', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  const entries = JSON.parse(r.stdout) as { kind: string; path: string; bytes: number }[];
  return { bytes: entries.reduce((n, e) => n + e.bytes, 0), kernels: entries.filter((e) => e.kind === 'kernels').map((e) => basename(e.path)) };
}

beforeAll(async () => {
  kernel = await buildKernel();
  real = cacheRoot();
  // Beside the real cache: hard links need the same file system.
  cache = await mkdtemp(join(dirname(real), 'handover-gc-test-'));
  for (const kind of ['sources/debian', 'kernels', 'rootfs', 'apt']) await mkdir(join(cache, kind), { recursive: true });
  await link(dirname(kernel.metadata.source.dir));
  await link(join(real, 'kernels', kernel.metadata.key));
  for (const e of await readdir(join(real, 'rootfs'))) await link(join(real, 'rootfs', e));
  for (const e of await readdir(join(real, 'apt'))) await link(join(real, 'apt', e));
  // Stale kernels nobody used for ten days: 300 MiB each, allocated (du counts blocks).
  const old = new Date(Date.now() - 10 * 86_400_000);
  for (const key of STALE) {
    const dir = join(cache, 'kernels', key);
    await mkdir(dir);
    await execa('fallocate', ['-l', '300M', join(dir, 'vmlinux')]);
    await writeFile(join(dir, 'metadata.json'), '{}');
    await utimes(dir, old, old);
  }
}, 900_000);

afterAll(async () => {
  if (cache !== '') await rm(cache, { recursive: true, force: true });
});

describe('handover cache gc --max-size 2G', () => {
  it('brings a cache of more than 2 GiB under it, least recently used first, and the next run still works', async () => {
    // First a run, so what it needs is recently used.
    const first = await handover(['run', 'memfd-round-trip', '--accel', 'tcg', '-r', 'json', '-o', join(cache, 'out-1')]);
    expect(first.exitCode, first.stderr).toBe(0);
    const before = await total();
    // The control: the bound is not met before gc (else the check below proves nothing).
    expect(before.bytes).toBeGreaterThan(2 * GIB);
    expect(before.kernels).toEqual(expect.arrayContaining([...STALE, kernel.metadata.key]));

    const gc = await handover(['cache', 'gc', '--max-size', '2G']);
    expect(gc.exitCode, gc.stderr).toBe(0);
    const after = await total();
    expect(after.bytes).toBeLessThanOrEqual(2 * GIB);
    // Least recently used first: the stale kernels went, the one the run used stayed.
    for (const k of STALE) expect(after.kernels).not.toContain(k);
    expect(after.kernels).toContain(kernel.metadata.key);

    const next = await handover(['run', 'memfd-round-trip', '--accel', 'tcg', '-r', 'json', '-o', join(cache, 'out-2')]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout + next.stderr).toMatch(/1 passed/);
    // From the cache: the kernel was not built again.
    const res = JSON.parse(await readFile(join(cache, 'out-2', 'results.json'), 'utf8')) as { kernel: { cacheHit: boolean } };
    expect(res.kernel.cacheHit).toBe(true);
  });
});

