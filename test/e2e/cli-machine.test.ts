// Issue 3's promises, through the real CLI as a user runs it: exec, crashes, SIGKILL, parallel
// VMs, and the interactive shell driven through a pseudo-terminal.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { spawn as spawnPty } from '@lydell/node-pty';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { handover } from '../helpers/cli.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'handover.js');
let release = '';

/** QEMU processes whose parent is `pid` (setpriv execs QEMU, so the parent is handover itself). */
async function qemuChildrenOf(pid: number): Promise<number[]> {
  const r = await execa('pgrep', ['-P', String(pid), '-f', 'qemu-system'], { reject: false });
  return String(r.stdout).split('\n').filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  release = (await buildKernel()).metadata.release;
});

describe('handover exec', () => {
  it('prints the built release and exits 0', async () => {
    const r = await handover(['exec', '--', 'uname', '-r']);
    expect(r.stdout.trim()).toBe(release);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/guest up in .* under (tcg|kvm) \(/);
  });

  it('exits with the guest command failure, passing its output through', async () => {
    const r = await handover(['exec', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
  });

  it('turns a panicking command line into kernel-crash with the panic excerpt, long before the boot deadline', async () => {
    const started = performance.now();
    const r = await handover(['exec', '--append', 'rdinit=/nonexistent init=/nonexistent', '--', 'true']);
    const seconds = (performance.now() - started) / 1000;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('handover: kernel-crash:');
    expect(r.stderr).toContain('Kernel panic - not syncing');
    expect(r.stderr).toMatch(/console: \/\S+serial\.log/);
    // The boot deadline is 60 s and a missed panic would end as boot-timeout: the outcome above is
    // the proof of detection. Wall time also counts CLI start-up and the rootfs on a loaded host,
    // so it is only bounded loosely (a hang would run to exec's 600 s timeout).
    expect(r.stderr).not.toContain('boot-timeout');
    expect(seconds).toBeLessThan(300);
    console.log(`panic reported after ${seconds.toFixed(1)} s`);
  });

  it('runs two in parallel, each with its own port', async () => {
    const [a, b] = await Promise.all([
      handover(['exec', '--', 'cat', '/proc/sys/kernel/random/boot_id']),
      handover(['exec', '--', 'cat', '/proc/sys/kernel/random/boot_id']),
    ]);
    expect(a.exitCode).toBe(0);
    expect(b.exitCode).toBe(0);
    expect(a.stdout.trim()).not.toBe(b.stdout.trim());
  });
});

describe('teardown', () => {
  it('leaves no QEMU behind when handover is killed with SIGKILL during a boot', async () => {
    const child = spawn('node', [BIN, 'boot'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const pid = child.pid ?? 0;
    let qemu: number[] = [];
    for (let i = 0; i < 100 && qemu.length === 0; i++) {
      await sleep(200);
      qemu = await qemuChildrenOf(pid);
    }
    expect(qemu.length).toBe(1);
    child.kill('SIGKILL');
    const q = qemu[0] ?? 0;
    for (let i = 0; i < 50 && alive(q); i++) await sleep(100);
    expect(alive(q)).toBe(false);
  });

  it('stops the guest on SIGTERM and exits 0 from boot', async () => {
    const child = spawn('node', [BIN, 'boot'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 300 && !out.includes('Ctrl-C to stop'); i++) await sleep(200);
    expect(out).toMatch(/ssh: +ssh -i \S+ -p \d+ .*root@127\.0\.0\.1/);
    const qemu = await qemuChildrenOf(child.pid ?? 0);
    expect(qemu.length).toBe(1); // else the checks below would pass on nothing
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const q of qemu) expect(alive(q)).toBe(false);
  });
});

describe('handover shell', () => {
  it('gives an interactive shell on a terminal', async () => {
    const pty = spawnPty('node', [BIN, 'shell'], { cols: 100, rows: 30, env: { ...process.env, TERM: 'xterm' } });
    let screen = '';
    pty.onData((d) => (screen += d));
    const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
    // Typing may start once handover says the shell is there: input waits in the terminal until then.
    for (let i = 0; i < 300 && !screen.includes('exit the shell to stop it'); i++) await sleep(200);
    pty.write('echo "sum=$((40+2))"; uname -r\r');
    for (let i = 0; i < 50 && !screen.includes('sum=42'); i++) await sleep(100);
    pty.write('exit\r');
    expect(await exit).toBe(0);
    expect(screen).toContain('sum=42');
    expect(screen).toContain(release);
  });
});

describe('handover console', () => {
  it('attaches the serial console to a terminal, takes typing, and detaches on Ctrl-]', async () => {
    const pty = spawnPty('node', [BIN, 'console'], { cols: 100, rows: 30, env: { ...process.env, TERM: 'xterm' } });
    let screen = '';
    pty.onData((d) => (screen += d));
    const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
    for (let i = 0; i < 300 && !screen.includes('Ctrl-] stops'); i++) await sleep(200);
    await sleep(500);
    pty.write('echo "sum=$((40+2))"; cat /proc/cmdline\r');
    for (let i = 0; i < 50 && !screen.includes('sum=42'); i++) await sleep(100);
    pty.write('\x1d');
    expect(await exit).toBe(0);
    expect(screen).toContain('Linux version'); // the boot so far is replayed
    expect(screen).toContain('sum=42');
    expect(screen).toContain('liveupdate=on');
  });
});
