// The exported API, as a program that depends on handover uses it: a module importing only from
// the package entry ('handover', resolved through node_modules to dist/index.js) runs a shipped
// scenario on the default kernel and gets the same results and report files `handover run` writes.
// The program sits in a temp dir whose node_modules holds only the package: nothing else resolves.
import { mkdtemp, readFile, rm, symlink, writeFile, mkdir, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';

const PROGRAM = `import { runSuite, exitCodeFor } from 'handover';

const [output, control] = process.argv.slice(2);
const run = await runSuite({
  scenarios: ['memfd-round-trip'],
  accel: 'tcg',
  output,
  reports: ['json', 'junit'],
  retries: 0,
  // The negative control: the kexec'd kernel boots with KHO off, so the handover cannot arrive.
  ...(control === 'kho-off' ? { overrides: { kexecAppend: 'kho=off' } } : {}),
});
const s = run.scenarios[0];
console.log(JSON.stringify({ exit: exitCodeFor(run), summary: run.summary, status: s?.status, outcome: s?.outcome, message: s?.message }));
`;

let work = '';
beforeAll(async () => {
  await buildKernel();
  work = await mkdtemp(join(tmpdir(), 'handover-api-'));
  await mkdir(join(work, 'node_modules'));
  await symlink(PACKAGE_ROOT, join(work, 'node_modules', 'handover'));
  await writeFile(join(work, 'program.mjs'), PROGRAM);
});
afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

async function program(out: string, ...args: string[]) {
  const r = await execa('node', ['program.mjs', join(work, out), ...args], { cwd: work, reject: false, stdin: 'ignore', timeout: 240_000 });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout).trim().split('\n').pop() ?? '{}') as { exit: number; status: string; outcome?: string; message?: string; summary: { passed: number; failed: number } };
}

describe('the exported API', () => {
  it('runSuite runs memfd-round-trip on the default kernel and writes the reports', async () => {
    const r = await program('ok');
    expect(r).toMatchObject({ exit: 0, status: 'passed', summary: { passed: 1, failed: 0 } });
    const results = JSON.parse(await readFile(join(work, 'ok', 'results.json'), 'utf8')) as { scenarios: { name: string; status: string }[] };
    expect(results.scenarios.map((s) => [s.name, s.status])).toEqual([['memfd-round-trip', 'passed']]);
    await access(join(work, 'ok', 'junit.xml'));
  });

  it('control: with KHO off on the kexec’d kernel the same program reports the failure and exit code 1', async () => {
    const r = await program('off', 'kho-off');
    expect(r).toMatchObject({ exit: 1, status: 'failed' });
    expect(r).toMatchObject({ outcome: 'test-failed' });
    expect(r.message).toContain("the handover did not arrive: boot 2's console has no 'luo: Retrieved live update data'");
  });
});
