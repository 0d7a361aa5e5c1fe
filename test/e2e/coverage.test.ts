// Issue 16's coverage profile on the real default tree: the coverage kernel (gcov for
// kernel/liveupdate/ and mm/memfd_luo.c) builds as its own cache entry, memfd-round-trip's two
// boots are read (before the kexec, and at the end) and reach luo_core.c and memfd_luo.c; the
// controls: a scenario that unmounts debugfs before the end has its boot reported as not
// counted, with the reason, and --coverage on a kernel without gcov stops before any VM starts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKernel, type KernelBuild } from '../../orchestrator/kernel/build.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';
import { parseLcov } from '../../orchestrator/coverage/lcov.ts';
import { mergeAll, summarizeFile } from '../../orchestrator/coverage/model.ts';
import { runScenarios } from '../../orchestrator/scenario/runner.ts';
import { loadSuite } from '../../orchestrator/suite.ts';
import { agentFor } from '../../orchestrator/scenario/agent-binding.ts';
import { handover } from '../helpers/cli.ts';

let dir = '';
let kernel: KernelBuild;
beforeAll(async () => {
  kernel = await buildKernel({ profiles: ['coverage'] });
  dir = await mkdtemp(join(tmpdir(), 'handover-coverage-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const UNMOUNTS = `description: unmounts debugfs before the end, so its boot's counters cannot be read (coverage control)
steps:
  - exec: [umount, /sys/kernel/debug]
`;

describe('--coverage on the default tree', () => {
  it('is its own cache entry with gcov notes for the live-update files only', async () => {
    const config = (await readFile(kernel.artifacts.config, 'utf8')).split('\n');
    expect(config).toContain('CONFIG_GCOV_KERNEL=y');
    expect(config).toContain('# CONFIG_GCOV_PROFILE_ALL is not set');
    const def = await buildKernel();
    expect(kernel.metadata.key).not.toBe(def.metadata.key);
    expect(kernel.metadata.make.commands.find((c) => c.includes(' bzImage'))).toContain('GCOV_PROFILE_luo_core.o=y');
    expect(def.metadata.make.commands.join(' ')).not.toContain('GCOV_PROFILE');
  });

  it('reads both boots of memfd-round-trip and reaches luo_core.c and memfd_luo.c; a boot without debugfs is named as not counted', async () => {
    const control = join(dir, 'unmounts-debugfs.yaml');
    await writeFile(control, UNMOUNTS);
    const out = join(dir, 'run');
    const r = await handover(['run', 'memfd-round-trip', control, '--coverage', '--accel', 'tcg', '--jobs', '1', '--output', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    const run = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult;
    const [trip, unmounted] = run.scenarios;
    expect(trip?.coverage?.boots).toEqual([1, 2]);
    expect(trip?.coverage?.missed).toBeUndefined();
    expect(unmounted?.coverage?.boots).toEqual([]);
    expect(unmounted?.coverage?.missed?.[0]?.reason).toMatch(/^no gcov counters: \/sys\/kernel\/debug\/gcov does not exist in the guest/);

    const cov = mergeAll(parseLcov(await readFile(join(out, 'coverage.info'), 'utf8')).map((t) => t.coverage));
    for (const file of ['kernel/liveupdate/luo_core.c', 'mm/memfd_luo.c']) {
      const f = cov.get(file);
      expect(f, file).toBeDefined();
      const s = summarizeFile(file, f as NonNullable<typeof f>);
      expect(s.lines.hit, file).toBeGreaterThan(0);
      expect(s.functions.hit, file).toBeGreaterThan(0);
    }
    // memfd_luo_retrieve runs only in the kexec'd boot: boot 2 was counted.
    expect(cov.get('mm/memfd_luo.c')?.functions.get('memfd_luo_retrieve')?.count).toBeGreaterThan(0);
    // The console table and the reports a CI system reads.
    expect(r.stderr).toMatch(/^coverage of the live-update code by 2 scenarios \(hit\/found\):$/m);
    expect(r.stderr).toMatch(/^ {2}mm\/memfd_luo\.c +\d+\/\d+ +\d+\.\d% /m);
    expect(r.stderr).toMatch(/^ {2}not counted: unmounts-debugfs boot 1: no gcov counters/m);
    expect(await readFile(join(out, 'coverage.xml'), 'utf8')).toMatch(/<class name="memfd_luo.c" filename="mm\/memfd_luo.c" line-rate="0\.\d+"/);
    expect(await readFile(join(out, 'coverage-html', 'mm', 'memfd_luo.c.gcov.html'), 'utf8')).toContain('memfd_luo_retrieve');
  });

  it('control: --coverage on a kernel without the coverage profile stops before any VM, naming the profile', async () => {
    const scenarios = await loadSuite(['memfd-round-trip']);
    await expect(runScenarios({ scenarios, kernel: {}, output: join(dir, 'no-gcov'), agentFor, coverage: true, accel: 'tcg' })).rejects.toThrow(
      /^coverage: kernel 7\.3\.\S+ has no gcov notes \(.*\/gcov\): build it with the coverage profile/,
    );
  });
});
