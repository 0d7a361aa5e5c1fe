// The npm package works outside the checkout (issue 15): packed, installed into a temp prefix,
// and run from an unrelated directory, it finds its fragments, guest sources and scenarios in the
// package, not in a checkout.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';

let work = '';
beforeAll(async () => {
  await buildKernel();
  work = await mkdtemp(join(tmpdir(), 'handover-package-'));
});
afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe('the packed npm package', () => {
  it('installs globally into a prefix and runs memfd-round-trip from another directory', async () => {
    const packed = await execa('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: PACKAGE_ROOT, stdin: 'ignore' });
    const tarball = join(work, String(packed.stdout).trim().split('\n').pop() ?? '');
    const prefix = join(work, 'prefix');
    await execa('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', tarball], { stdin: 'ignore' });
    const bin = join(prefix, 'bin', 'handover');
    const elsewhere = join(work, 'elsewhere');
    await mkdir(elsewhere);
    const r = await execa(bin, ['run', 'memfd-round-trip', '--accel', 'tcg', '--reporter', 'console,json', '--output', 'out'], { cwd: elsewhere, reject: false, stdin: 'ignore' });
    expect(r.exitCode, String(r.stderr).slice(-3000)).toBe(0);
    const run = JSON.parse(await readFile(join(elsewhere, 'out', 'results.json'), 'utf8')) as RunResult;
    expect(run.scenarios.map((s) => `${s.name}: ${s.status}`)).toEqual(['memfd-round-trip: passed']);
    // Its scenario came from the installed package, not from this checkout.
    expect(run.scenarios[0]?.file.startsWith(join(prefix, 'lib', 'node_modules', 'handover', 'scenarios'))).toBe(true);
  });
});
