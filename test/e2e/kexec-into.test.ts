// Issue 5 (handover between two kernels): the memfd round trip from 7.2 into 7.3 and back through
// `handover matrix`, a scenario's own kexec_into with capabilities probed again on kernel B, and
// the matrix's negative control: a 7.3 patched to expect another LUO format must be reported as
// incompatible-handover with the kernel's own line, not as a generic crash.
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { cacheDir } from '../../orchestrator/paths.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';
import type { MatrixResult } from '../../orchestrator/scenario/matrix.ts';
import { handover } from '../helpers/cli.ts';
import { kernelTreeForTests } from '../helpers/tree.ts';

const K72 = 'debian:linux-source-7.2';
const K73 = 'debian:linux-source-7.3';
const LUO_ABI = 'include/linux/kho/abi/luo.h';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let out = '';
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'handover-kexec-into-'));
});

/**
 * The default tree with one line changed: LUO_ABI_COMPATIBLE "luo-v5" → "luo-v6". A hard-linked
 * copy of the cached Debian tree whose patched file is a new file (the cache is never written); its
 * fixed place keeps the build dir, so a second run is a cache hit.
 */
async function luoV6Tree(): Promise<string> {
  const tree = join(await cacheDir('test-trees'), 'linux-luo-v6');
  const patched = await readFile(join(tree, LUO_ABI), 'utf8').catch(() => '');
  if (patched.includes('#define LUO_ABI_COMPATIBLE\t"luo-v6"')) return tree;
  const source = await kernelTreeForTests();
  await rm(tree, { recursive: true, force: true });
  await execa('cp', ['-al', source, tree]);
  const original = await readFile(join(source, LUO_ABI), 'utf8');
  const text = original.replace('#define LUO_ABI_COMPATIBLE\t"luo-v5"', '#define LUO_ABI_COMPATIBLE\t"luo-v6"');
  if (text === original) throw new Error(`${LUO_ABI}: the luo-v5 define to patch is not there`);
  await unlink(join(tree, LUO_ABI));
  await writeFile(join(tree, LUO_ABI), text);
  return tree;
}

describe('handover matrix between Debian 7.2 and 7.3', () => {
  it('runs the memfd round trip 7.2 → 7.3 and 7.3 → 7.2, with build and blackout figures in the JSON', async () => {
    const dir = join(out, 'matrix');
    const r = await handover(['matrix', '--accel', 'tcg', '--output', dir]);
    expect(r.stderr).not.toMatch(/^(FAIL|ERR) /m);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^from \\ to +7\.2\.\d+ +7\.3\.\d+$/m);
    expect(r.stdout).toMatch(/^7\.2\.\d+ +— +passed$/m);
    expect(r.stdout).toMatch(/^7\.3\.\d+ +passed +—$/m);
    const m = JSON.parse(await readFile(join(dir, 'matrix.json'), 'utf8')) as MatrixResult;
    expect(m.cells.map((c) => [c.releases.from.slice(0, 3), c.releases.to.slice(0, 3), c.scenario, c.outcome])).toEqual([
      ['7.2', '7.3', 'memfd-round-trip', 'passed'],
      ['7.3', '7.2', 'memfd-round-trip', 'passed'],
    ]);
    for (const c of m.cells) {
      // Every boot is attributed to the kernel that ran it.
      expect(c.releases.boots).toEqual([c.releases.from, c.releases.to]);
      expect(c.build.from.seconds).toBeGreaterThan(0);
      expect(c.build.to.seconds).toBeGreaterThan(0);
      expect(c.blackoutsMs).toHaveLength(1);
      expect(c.blackoutsMs[0]).toBeGreaterThan(0);
      const boot2 = await readFile(join(c.artifactsDir, 'console.boot-2.log'), 'utf8');
      expect(boot2).toContain(`Linux version ${c.releases.to} `);
      expect(boot2).toContain(`KHO: exec from: ${c.releases.from} (count 1)`);
    }
    expect(m.kernels.map((k) => k.spec)).toEqual([`${K72}@sid`, `${K73}@trixie-backports`]);
    const junit = await readFile(join(dir, 'matrix-junit.xml'), 'utf8');
    expect(junit.match(/<testcase [^>]*name="memfd-round-trip"/g)).toHaveLength(2);
  });
});

describe('handover matrix: bad options stop it before anything is built or booted', () => {
  it('one kernel twice, a bad spec, a bad reporter: usage errors (exit 2) naming the option', async () => {
    const same = await handover(['matrix', '--kernels', `${K73},linux-source-7.3`, '--output', join(out, 'bad')]);
    expect([same.exitCode, same.stderr]).toEqual([2, expect.stringContaining('expected at least two different kernel specs')]);
    const spec = await handover(['matrix', '--kernels', `${K73},linux-7.2`, '--output', join(out, 'bad')]);
    expect([spec.exitCode, spec.stderr]).toEqual([2, expect.stringContaining("--kernels: 'linux-7.2' is not a kernel spec")]);
    const rep = await handover(['matrix', '--reporter', 'ktap', '--output', join(out, 'bad')]);
    expect([rep.exitCode, rep.stderr]).toEqual([2, expect.stringContaining('--reporter ktap')]);
    await expect(readdir(join(out, 'bad'))).rejects.toThrow();
  });
});

describe('kexec_into in a scenario file', () => {
  it('boots 7.3, kexecs into 7.2, and probes capabilities again on 7.2 (a missing one is a skip with its reason)', async () => {
    await buildKernel({ kernel: K72 });
    const file = join(out, 'into-72.yaml');
    await writeFile(
      file,
      [
        'description: memfd into 7.2, requirements probed per boot',
        `kexec_into: ${K72}`,
        'steps:',
        '  - create_session: s1',
        '  - memfd: {id: m, size: 64K, seed: 9, seals: [grow]}',
        '  - preserve: {session: s1, token: 7, memfd: m}',
        '  - name: cold boot has out/fdt',
        '    requires: [out-fdt]',
        '    debugfs: {path: kho/out/fdt, fdt_header: true}',
        '  - kexec: {}',
        '  - retrieve: {session: s1, tokens: {"7": m}}',
        '  - name: a KHO-booted kernel has no out/fdt, so this is skipped',
        '    requires: [out-fdt]',
        '    debugfs: {path: kho/out/fdt, fdt_header: true}',
        '  - name: GET_NAME works on 7.2',
        '    requires: [get-name, in-fdt]',
        '    exec: ["true"]',
        '',
      ].join('\n'),
    );
    const dir = join(out, 'into-72');
    const r = await handover(['run', file, '--accel', 'tcg', '--reporter', 'json', '--output', dir]);
    expect(r.exitCode).toBe(0);
    const run = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as RunResult;
    expect(run.kexecInto?.release).toMatch(/^7\.2\./);
    const sc = run.scenarios[0];
    expect(sc?.releases?.map((x) => x.slice(0, 3))).toEqual(['7.3', '7.2']);
    expect(sc?.steps.map((s) => s.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed', 'passed', 'skipped', 'passed']);
    expect(sc?.steps[6]?.message).toMatch(/^no kho\/out\/fdt \(it exists only on a cold boot\) \[kernel 7\.2\.\d+\]$/);
  });

  it('--kexec-into wins over the file’s kexec_into', async () => {
    const dir = join(out, 'into-73');
    const r = await handover(['run', join(out, 'into-72.yaml'), '--kexec-into', K73, '--accel', 'tcg', '--reporter', 'json', '--output', dir]);
    expect(r.exitCode).toBe(0);
    const run = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as RunResult;
    expect(run.kexecInto?.spec).toBe(`${K73}@trixie-backports`);
    expect(run.scenarios[0]?.releases?.map((x) => x.slice(0, 3))).toEqual(['7.3', '7.3']);
  });

  it('a bad --kexec-into is a usage error naming the option, before anything starts', async () => {
    const dir = join(out, 'bad-into');
    const r = await handover(['run', 'memfd-round-trip', '--kexec-into', 'linux-7.2', '--output', dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("handover: usage-error: --kexec-into: 'linux-7.2' is not a kernel spec");
    await expect(readdir(dir)).rejects.toThrow();
  });
});

describe('negative control: a kernel that expects another LUO format', () => {
  it('7.3 ↔ 7.3 patched to luo-v6: both directions are incompatible-handover, with the kernel’s line as evidence', async () => {
    const tree = await luoV6Tree();
    const dir = join(out, 'luo-v6');
    const r = await handover(['matrix', '--kernels', `${K73},path:${tree}`, '--accel', 'tcg', '--output', dir]);
    expect(r.exitCode).toBe(1);
    const m = JSON.parse(await readFile(join(dir, 'matrix.json'), 'utf8')) as MatrixResult;
    expect(m.cells.map((c) => c.outcome)).toEqual(['incompatible-handover', 'incompatible-handover']);
    const [into, back] = m.cells;
    expect(into?.evidence).toContain("luo: LUO state is incompatible with 'luo-v6'");
    expect(back?.evidence).toContain("luo: LUO state is incompatible with 'luo-v5'");
    for (const c of m.cells) {
      // The kernel then panics; the finding is still the incompatibility, with the panic named.
      expect(c.message).toMatch(
        new RegExp(
          `^boot 2 \\(7\\.3\\.\\d+, ${esc(c.to)}\\) refused the LUO state handed over by boot 1 \\(7\\.3\\.\\d+, ${esc(c.from)}\\): it expects 'luo-v[56]', then crashed: Kernel panic - not syncing: The incoming tree failed to initialize properly`,
        ),
      );
      expect(c.releases.boots).toHaveLength(2);
      expect(c.evidence?.some((e) => e.startsWith('Kernel panic - not syncing: The incoming tree failed to initialize properly'))).toBe(true);
    }
    expect(r.stdout).toMatch(/^7\.3\.\d+ \(linux-source-7\.3\) +— +incompatible-handover$/m);
    expect(r.stdout).toMatch(/^7\.3\.\d+ \(linux-luo-v6\) +incompatible-handover +—$/m);
    expect(await readdir(dir)).toContain('matrix-junit.xml');
  });
});
