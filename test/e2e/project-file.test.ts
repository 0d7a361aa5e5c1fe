// Issue 15's project file, as a kernel tree would use it: a handover.yaml at the top of a
// tree-like directory names the tree's own scenario folder, and a bare `handover run` from a
// subdirectory finds it, runs that scenario (not the shipped suite) on the default kernel and
// writes the results where the file says, relative to the file. A bad value stops it at
// file:line:col with exit 2; a kexec_append: kho=off in the file makes the same scenario fail.
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../orchestrator/scenario/results.ts';
import { handover } from '../helpers/cli.ts';

// memfd-round-trip cut down to its core: one page through one session and a kexec.
const SCENARIO = `description: A tree's own scenario - a page in one session survives a kexec byte for byte
steps:
  - create_session: s1
  - memfd: {id: page, size: 4K, seed: 1}
  - preserve: {session: s1, token: 1, memfd: page}
  - kexec: {}
  - retrieve: {session: s1, tokens: {"1": page}}
  - log: {contains: "KHO: found kexec handover data"}
`;

const PROJECT = `# handover.yaml of a kernel-tree-like project
accel: tcg
scenarios: [tools/testing/handover]
reporters: [json]
output: handover-results
retries: 0
config: [tools/testing/handover/kernel.config]
`;

// The tree's own fragment: a symbol the built-in fragments already set, so the kernel is the cached one.
const FRAGMENT = '# the tree asks for LUO itself\nCONFIG_LIVEUPDATE=y\n';

/** A tree-like directory with its handover.yaml (plus `extra`), its scenario, and a subdirectory to run from. */
const made: string[] = [];
async function tree(extra = '', fragment = FRAGMENT): Promise<{ top: string; sub: string }> {
  const top = await mkdtemp(join(tmpdir(), 'handover-project-e2e-'));
  made.push(top);
  await writeFile(join(top, 'Makefile'), '# not a real kernel tree\n');
  await mkdir(join(top, 'tools', 'testing', 'handover'), { recursive: true });
  await writeFile(join(top, 'tools', 'testing', 'handover', 'tree-memfd.yaml'), SCENARIO);
  await writeFile(join(top, 'tools', 'testing', 'handover', 'kernel.config'), fragment);
  await writeFile(join(top, 'handover.yaml'), PROJECT + extra);
  const sub = join(top, 'drivers', 'misc');
  await mkdir(sub, { recursive: true });
  return { top, sub };
}

const results = async (dir: string) => JSON.parse(await readFile(join(dir, 'handover-results', 'results.json'), 'utf8')) as RunResult;

let good: { top: string; sub: string };
beforeAll(async () => {
  good = await tree();
});
afterAll(async () => {
  await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
});

describe('handover.yaml in a kernel tree', () => {
  it('--print-config from a subdirectory names the file and each value it sets, and runs nothing', async () => {
    const r = await handover(['run', '--print-config', '--jobs', '1'], { cwd: good.sub });
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n').map((l) => l.replace(/ {2,}/g, '  '));
    expect(lines[0]).toBe('# project file: ../../handover.yaml');
    expect(lines).toContain('accel: "tcg"  # ../../handover.yaml:2');
    expect(lines).toContain(`scenarios: ["${join(good.top, 'tools', 'testing', 'handover')}"]  # ../../handover.yaml:3`);
    expect(lines).toContain(`output: "${join(good.top, 'handover-results')}"  # ../../handover.yaml:5`);
    expect(lines).toContain('jobs: 1  # --jobs');
    expect(lines).toContain('kernel: "debian:linux-source-7.3"  # default');
    expect(lines).toContain(`config: ["${join(good.top, 'tools', 'testing', 'handover', 'kernel.config')}"]  # ../../handover.yaml:7`);
    await expect(access(join(good.top, 'handover-results'))).rejects.toThrow();
  });

  it('a bare `handover run` from a subdirectory runs the scenario the file names, and it passes', async () => {
    const r = await handover(['run'], { cwd: good.sub });
    expect(r.exitCode, r.stderr).toBe(0);
    const run = await results(good.top);
    // Only the tree's scenario: the shipped suite was not run.
    expect(run.scenarios.map((s) => `${s.name}: ${s.status}`)).toEqual(['tree-memfd: passed']);
    expect(run.scenarios[0]?.steps.map((s) => s.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed', 'passed']);
    // Nothing was written relative to the cwd.
    await expect(access(join(good.sub, 'handover-results'))).rejects.toThrow();
  });

  it('negative control: kexec_append: kho=off in the file reaches the run and the same scenario fails', async () => {
    const off = await tree('kexec_append: kho=off\n');
    const r = await handover(['run'], { cwd: off.sub });
    expect(r.exitCode, r.stderr).toBe(1);
    const [sc] = (await results(off.top)).scenarios;
    expect(sc?.status).toBe('failed');
    // The handover is what broke: the kexec step's proof of it fails, not the boot or the setup.
    const failed = sc?.steps.find((s) => s.status === 'failed');
    expect(failed?.kind).toBe('kexec');
    expect(failed?.message).toMatch(/^the handover did not arrive: boot 2's console has no 'luo: Retrieved live update data'/);
  });

  it('control: the fragment the file names is the one the kernel is configured from (a symbol the tree lacks stops it, naming the fragment)', async () => {
    const odd = await tree('', '# the tree asks for LUO itself\nCONFIG_HANDOVER_NO_SUCH_SYMBOL=y\n');
    const r = await handover(['run'], { cwd: odd.sub });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain(`CONFIG_HANDOVER_NO_SUCH_SYMBOL=y (asked by ${join(odd.top, 'tools', 'testing', 'handover', 'kernel.config')}:2) does not exist`);
    // `kernel build` in the same tree reads the same file: the same fragment, the same refusal.
    const k = await handover(['kernel', 'build'], { cwd: odd.sub });
    expect(k.exitCode, k.stderr).toBe(3);
    expect(k.stderr).toContain(`(asked by ${join(odd.top, 'tools', 'testing', 'handover', 'kernel.config')}:2)`);
  });

  it('a bad value stops the run at handover.yaml:LINE:COL with exit 2, before anything starts', async () => {
    const bad = await tree('jobs: two\n');
    const r = await handover(['run'], { cwd: bad.sub });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('handover: usage-error: 1 problem in ../../handover.yaml; nothing was run');
    expect(r.stderr).toContain('../../handover.yaml:8:7: error: jobs: Invalid input: expected number, received string');
    await expect(access(join(bad.top, 'handover-results'))).rejects.toThrow();
    // The same file with --no-project is not read: the command line alone decides (here: print and exit 0).
    expect((await handover(['run', '--no-project', '--print-config'], { cwd: bad.sub })).exitCode).toBe(0);
  });
});
