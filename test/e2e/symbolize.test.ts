// Crash reports decoded with the build's own vmlinux, on real guests: a kernel that cannot find its
// init panics while booting (`rdinit=/nonexistent init=/nonexistent`: "VFS: Unable to mount root
// fs"), the run's reports show that panic's frames as function, file and line under the kasan profile
// (DWARF 5 line tables) and as function+offset on the default kernel (no DWARF, said so). Negative
// controls: another build's vmlinux and a missing one decode nothing and say why.
import { access, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKernel, type KernelBuild } from '../../orchestrator/kernel/build.ts';
import { symbolizeReports } from '../../orchestrator/kernel/symbolize.ts';
import type { CrashDecoding, RunResult } from '../../orchestrator/scenario/results.ts';
import { handover } from '../helpers/cli.ts';

const NO_INIT = 'rdinit=/nonexistent init=/nonexistent';
let out = '';
let kasan: KernelBuild;
let plain: KernelBuild;
beforeAll(async () => {
  kasan = await buildKernel({ profiles: ['kasan'] });
  plain = await buildKernel({});
  out = await mkdtemp(join(tmpdir(), 'handover-symbolize-'));
});

const results = async (dir: string) => JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as RunResult;

/** Runs one scenario into a kernel that panics at boot; returns its result and what the CLI printed. */
async function panicRun(name: string, profile: string[]) {
  const dir = join(out, name);
  const r = await handover(['run', 'memfd-round-trip', ...profile, '--accel', 'tcg', '--append', NO_INIT, '--retries', '0', '--output', dir]);
  const run = await results(dir);
  const sc = run.scenarios[0];
  expect(sc, r.stderr).toMatchObject({ status: 'failed', outcome: 'kernel-crash' });
  expect(sc?.message).toMatch(/Kernel panic - not syncing: VFS: Unable to mount root fs/);
  // The raw report lines stay the evidence.
  expect(sc?.evidence?.some((l) => / mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+$/.test(l))).toBe(true);
  return { dir, r, sc, decoded: sc?.decodedCrashes?.[0] as CrashDecoding };
}

describe('crash reports decoded with the build’s vmlinux, on real guests', () => {
  let kasanRun: Awaited<ReturnType<typeof panicRun>>;

  it('decodes a real panic under the kasan profile to function, file and line, in every report', async () => {
    kasanRun = await panicRun('kasan', ['--profile', 'kasan']);
    const d = kasanRun.decoded;
    expect(d).toMatchObject({ status: 'decoded', boot: 1, vmlinux: kasan.artifacts.vmlinux });
    const frame = d.frames.find((f) => f.func === 'mount_root_generic');
    const own = frame?.locations.at(-1);
    expect(own, JSON.stringify(frame)).toMatchObject({ func: 'mount_root_generic', file: 'init/do_mounts.c', inlined: false });
    // The line exists in the tree the kernel was built from, and is the call to panic() (a return
    // address decoded one byte back names the call, not the line after it).
    const source = (await readFile(join(kasan.metadata.source.dir, own?.file ?? ''), 'utf8')).split('\n');
    const line = own?.line ?? 0;
    expect(line).toBeGreaterThan(0);
    expect(source.slice(Math.max(0, line - 4), line).join('\n')).toMatch(/panic\(/);
    // Every decoded file is a real file of that tree.
    const files = [...new Set(d.frames.flatMap((f) => f.locations.flatMap((l) => (l.file === undefined ? [] : [l.file]))))];
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) await access(join(kasan.metadata.source.dir, f));

    // Console, JUnit and HTML show the decoded frames beside the raw lines.
    expect(kasanRun.r.stderr).toMatch(/decoded frames of "Kernel panic - not syncing: VFS: Unable to mount root fs on .*" \(boot 1\): decoded with /);
    expect(kasanRun.r.stderr).toMatch(/ {4}mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ init\/do_mounts\.c:\d+/);
    const junit = await readFile(join(kasanRun.dir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ init\/do_mounts\.c:\d+/);
    expect(junit).toMatch(/\[ *\d+\.\d+\] {2}mount_root_generic\+0x/); // the raw line too
    const html = await readFile(join(kasanRun.dir, 'report.html'), 'utf8');
    expect(html).toContain('Decoded frames (boot 1, decoded)');
    expect(html).toMatch(/mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ init\/do_mounts\.c:\d+/);
  });

  it('decodes the same panic on the default kernel to function+offset only, and says it has no DWARF', async () => {
    const { decoded } = await panicRun('default', []);
    expect(decoded).toMatchObject({ status: 'symbols-only', vmlinux: plain.artifacts.vmlinux });
    expect(decoded.note).toMatch(/^no line info: the build has no DWARF/);
    const frame = decoded.frames.find((f) => f.func === 'mount_root_generic');
    expect(frame?.address).toMatch(/^0xffffffff8[0-9a-f]{7}$/);
    expect(frame?.locations).toEqual([{ func: 'mount_root_generic', inlined: false }]);
  });

  it('negative controls: another build’s vmlinux, or none, decodes nothing and says why', async () => {
    const lines = kasanRun.sc?.evidence ?? [];
    const console = await readFile(join(kasanRun.dir, 'memfd-round-trip', 'console.boot-1.log'), 'utf8');
    const banner = console.split('\n').find((l) => / Linux version \d/.test(l))?.replace(/^\[[^\]]*\] /, '');
    expect(banner).toBeDefined();
    const [other] = await symbolizeReports([{ lines, banner }], { vmlinux: plain.artifacts.vmlinux, systemMap: plain.artifacts.systemMap });
    expect(other?.status).toBe('not-decoded');
    expect(other?.note).toMatch(/is another build \(it prints 'Linux version .*', the console's kernel printed 'Linux version .*'\); raw lines kept$/);
    expect(other?.frames.every((f) => f.locations.length === 0)).toBe(true);
    expect(other?.frames.map((f) => f.raw)).toContain(lines.find((l) => l.includes('mount_root_generic+')));
    const [missing] = await symbolizeReports([{ lines, banner }], { vmlinux: join(out, 'no-vmlinux'), systemMap: kasan.artifacts.systemMap });
    expect(missing).toMatchObject({ status: 'not-decoded' });
    expect(missing?.note).toMatch(/^not decoded: cannot read vmlinux .*no-vmlinux \(ENOENT/);
  });
});
