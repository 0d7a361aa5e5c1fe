// make as one process group (orchestrator/host/process-group.ts): a recursive make whose sub-make
// runs a long `sleep`, as kbuild's sub-makes run compilers. An abort, or the death of the process
// that started it (even by SIGKILL), must leave no process of that tree behind.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGroup } from '../../orchestrator/host/process-group.ts';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';

let dir: string;
// A marker only this test's processes carry on their command line.
const MARK = `${process.pid}${Date.now() % 100000}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'handover-pgroup-'));
  await writeFile(join(dir, 'Makefile'), `all:\n\t$(MAKE) -f sub.mk\n`);
  await writeFile(join(dir, 'sub.mk'), `all:\n\tsleep 3${MARK}\n`);
});
afterAll(async () => {
  await execa('pkill', ['-KILL', '-f', `sleep 3${MARK}`], { reject: false });
  await rm(dir, { recursive: true, force: true });
});

/** Pids of live (not zombie) processes whose command line holds `text`. */
async function pidsWith(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = (await readFile(`/proc/${e}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      if (cmd.includes(text) && !/^\d+ \(.*\) Z/.test(stat)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
  const t0 = performance.now();
  while (!(await what())) {
    if (performance.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const sleeping = async () => (await pidsWith(`sleep 3${MARK}`)).length > 0;
const noneLeft = async () => (await pidsWith(`sleep 3${MARK}`)).length === 0;

describe('make as one process group', () => {
  it('an abort kills make, its sub-make and the command under it', async () => {
    const ac = new AbortController();
    const child = runGroup('make', ['-C', dir], { signal: ac.signal });
    expect(await until(sleeping, 5000), 'the sub-make started its sleep').toBe(true);
    ac.abort();
    await child;
    expect(await until(noneLeft, 5000), `still running: ${(await pidsWith(`sleep 3${MARK}`)).join(' ')}`).toBe(true);
  });

  it('SIGKILL of the process that started it: pdeathsig ends make, which ends the rest', async () => {
    const script = `
      import { createServer } from 'vite';
      const server = await createServer({ logLevel: 'error', server: { middlewareMode: true, hmr: false }, appType: 'custom', optimizeDeps: { noDiscovery: true, include: [] } });
      const { runGroup } = await server.ssrLoadModule('/orchestrator/host/process-group.ts');
      await server.close();
      runGroup('make', ['-C', ${JSON.stringify(dir)}]);
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: PACKAGE_ROOT, stdio: 'ignore' });
    expect(await until(sleeping, 15000), 'the sub-make started its sleep').toBe(true);
    parent.kill('SIGKILL');
    expect(await until(noneLeft, 5000), `still running: ${(await pidsWith(`sleep 3${MARK}`)).join(' ')}`).toBe(true);
  });

  it('control: make SIGKILLed alone (no group to kill, no pdeathsig to pass on) leaves the sub-make’s command running', async () => {
    const ac = new AbortController();
    // No pipes: the orphan would hold them open and the promise would never settle.
    const child = execa('make', ['-C', dir], { reject: false, stdio: 'ignore', cancelSignal: ac.signal, killSignal: 'SIGKILL' });
    expect(await until(sleeping, 5000)).toBe(true);
    ac.abort();
    await child;
    // SIGKILL gives make no chance to pass it on: the sleep is orphaned.
    await new Promise((r) => setTimeout(r, 300));
    expect(await sleeping()).toBe(true);
    await execa('pkill', ['-KILL', '-f', `sleep 3${MARK}`], { reject: false });
  });
});
