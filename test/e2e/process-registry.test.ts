// The exit/signal sweep of orchestrator/host/process-registry.ts, on its own: a node child registers
// a plain `sleep` (spawned WITHOUT setpriv, so nothing but the registry can kill it), then ends in
// one of the ways the registry must cover. A surviving `sleep` would be orphaned to init.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';

function alive(pid: number): boolean {
  try {
    // A zombie waiting for init to reap it is dead for our purpose.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const t0 = performance.now();
  while (alive(pid)) {
    if (performance.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

type Ending = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'throw' | 'exit';

/** Runs a child that registers a sleep, ends it as told; returns the sleep pid and how the child ended. */
async function runChild(ending: Ending, extra = ''): Promise<{
  sleepPid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}> {
  const script = `
    import { spawn } from 'node:child_process';
    import { createServer } from 'vite';
    const server = await createServer({ logLevel: 'error', server: { middlewareMode: true, hmr: false }, appType: 'custom', optimizeDeps: { noDiscovery: true, include: [] } });
    const { registerQemu } = await server.ssrLoadModule('/orchestrator/host/process-registry.ts');
    await server.close();
    const sleep = spawn('sleep', ['1000'], { stdio: 'ignore' });
    registerQemu(sleep.pid);
    ${extra}
    console.log('READY ' + sleep.pid);
    const ending = ${JSON.stringify(ending)};
    if (ending === 'throw') setTimeout(() => { throw new Error('boom'); }, 50);
    else if (ending === 'exit') setTimeout(() => process.exit(3), 50);
    else setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const sleepPid = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /READY (\d+)/.exec(out);
      if (m?.[1] !== undefined) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`child ended before READY: ${out}`)));
  });
  expect(alive(sleepPid)).toBe(true);
  if (ending.startsWith('SIG')) child.kill(ending as NodeJS.Signals);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])),
  );
  return { sleepPid, code, signal, out };
}

describe('process registry', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
    'on %s kills registered processes, then re-raises so the parent sees the signal',
    async (sig) => {
      const r = await runChild(sig);
      expect(await goneWithin(r.sleepPid, 2000)).toBe(true);
      expect(r).toMatchObject({ code: null, signal: sig });
    },
  );

  it('on an uncaught error kills registered processes and lets Node crash as usual', async () => {
    const r = await runChild('throw');
    expect(await goneWithin(r.sleepPid, 2000)).toBe(true);
    expect(r.code).toBe(1);
    expect(r.out).toContain('boom');
  });

  it('on process.exit kills registered processes and keeps the exit code', async () => {
    const r = await runChild('exit');
    expect(await goneWithin(r.sleepPid, 2000)).toBe(true);
    expect(r.code).toBe(3);
  });

  it('leaves the ending to another SIGINT listener (the CLI) but still kills at once', async () => {
    // The child's own listener takes its time and exits 130 itself: the registry must not re-raise.
    const r = await runChild(
      'SIGINT',
      `process.on('SIGINT', () => { console.log('CLI-HANDLER ran'); setTimeout(() => process.exit(130), 300); });`,
    );
    expect(r.out).toContain('CLI-HANDLER ran');
    expect(r).toMatchObject({ code: 130, signal: null });
    expect(await goneWithin(r.sleepPid, 2000)).toBe(true);
  });

  it('control: without the registry, a SIGKILLed parent orphans its child', async () => {
    // Control: the same child, ended by SIGKILL, which no handler sees. The sleep survives.
    const script = `
      import { spawn } from 'node:child_process';
      const sleep = spawn('sleep', ['1000'], { stdio: 'ignore' });
      console.log('READY ' + sleep.pid);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /READY (\d+)/.exec(out);
        if (m?.[1] !== undefined) resolve(Number(m[1]));
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const survived = !(await goneWithin(pid, 500));
    process.kill(pid, 'SIGKILL'); // clean up the orphan this control made on purpose
    expect(survived).toBe(true);
  });
});
