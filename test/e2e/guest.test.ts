// The guest side end to end: build the initramfs, boot the real KHO/LUO kernel under QEMU (TCG),
// drive it over SSH, and kexec it into itself. QEMU is launched directly here until the VM layer
// (orchestrator/vm/) can do it.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { Guest } from '../../orchestrator/guest/guest.ts';
import { generateRunKeys, type RunKeys } from '../../orchestrator/guest/keys.ts';
import { privateTempDir } from '../../orchestrator/paths.ts';
import { buildRootfs, type Rootfs } from '../../orchestrator/rootfs/build.ts';
import { parseMilestone } from '../../orchestrator/rootfs/milestones.ts';
import { writeInitrd } from '../../orchestrator/rootfs/overlay.ts';

// The kernel under test comes from the real pipeline (a cache hit after the kernel e2e test).
let BZIMAGE = '';
let UAPI = '';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function milestones(log: string): ReturnType<typeof parseMilestone>[] {
  return log.split('\n').map(parseMilestone).filter((m) => m !== null);
}

describe('guest on the default kernel', () => {
  let dir = '';
  let qemu: ChildProcess | undefined;
  let qemuExit: Promise<void> = Promise.resolve();
  let guest: Guest;
  let keys: RunKeys;
  let rootfs: Rootfs;
  let port = 0;
  let initrd = '';
  let serialLog = '';
  let release = '';
  const timings: Record<string, number> = {};
  const console_ = (): string => (existsSync(serialLog) ? readFileSync(serialLog, 'utf8') : '');

  beforeAll(async () => {
    const kernel = await buildKernel();
    BZIMAGE = kernel.artifacts.bzImage;
    UAPI = kernel.artifacts.headers;
    release = kernel.metadata.release;
    dir = await privateTempDir('guest-e2e');
    rootfs = await buildRootfs({ uapiInclude: UAPI });
    timings[rootfs.cached ? 'rootfs build (cache hit)' : 'rootfs build (cold)'] = rootfs.durationMs;
    const again = await buildRootfs({ uapiInclude: UAPI });
    expect(again.cached).toBe(true);
    expect(again.basePath).toBe(rootfs.basePath);
    timings['rootfs build (cache hit)'] = again.durationMs;

    keys = generateRunKeys();
    initrd = await writeInitrd(join(dir, 'initrd'), rootfs.basePath, keys);
    port = await freePort();
    serialLog = join(dir, 'serial.log');
    const started = performance.now();
    qemu = spawn(
      'setpriv',
      [
        '--pdeathsig', 'KILL', '--',
        'qemu-system-x86_64', '-accel', 'tcg', '-m', '1G', '-smp', '2', '-nodefaults', '-display', 'none', '-no-reboot',
        '-serial', `file:${serialLog}`,
        '-kernel', BZIMAGE, '-initrd', initrd,
        '-append', 'console=ttyS0 panic=-1 liveupdate=on',
        '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0',
        '-device', 'virtio-rng-pci',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let qemuStderr = '';
    qemu.stderr?.on('data', (d: Buffer) => (qemuStderr += d.toString()));
    qemuExit = new Promise((resolve) => qemu?.once('exit', () => resolve()));
    const exitedEarly = qemuExit.then(() => {
      throw new Error(`QEMU exited early: ${qemuStderr}\n${console_().slice(-3000)}`);
    });
    try {
      guest = await Promise.race([Guest.waitReady({ port, keys, deadlineMs: 120_000, log: (m) => console.log(`[${Math.round(performance.now() - started)} ms] ${m}`) }), exitedEarly]);
      await guest.run(['true']);
    } catch (err) {
      console.error(`serial console:\n${console_().slice(-4000)}`);
      throw err;
    }
    timings['QEMU start -> first SSH command ok'] = Math.round(performance.now() - started);
    const up = milestones(console_()).find((m) => m?.event === 'sshd up');
    if (up?.uptime !== undefined) timings['guest uptime at "sshd up" (ms)'] = Math.round(up.uptime * 1000);
  });

  afterAll(async () => {
    await guest?.close();
    if (qemu !== undefined && qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGKILL');
      await qemuExit;
    }
    console.log(`timings (ms):\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('runs the kernel under test, and /init reported its milestones with this boot_id', async () => {
    expect(await guest.kernelRelease()).toBe(release);
    const bootId = await guest.bootId();
    const seen = milestones(console_());
    expect(seen.map((m) => m?.event)).toEqual(['init start', 'net up', 'sshd up']);
    for (const m of seen) expect(m?.fields.boot_id).toBe(bootId);
  });

  it('returns exit codes, stdout and stderr, with arguments passed verbatim', async () => {
    const fail = await guest.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(fail).toMatchObject({ exitCode: 7, signal: null, stdout: 'out\n', stderr: 'err\n' });
    const nasty = ["it's", '$(reboot)', 'a b', '*', ''];
    const echo = await guest.run(['printf', '%s|', ...nasty]);
    expect(echo.stdout).toBe(`${nasty.join('|')}|`);
    const killed = await guest.exec(['sh', '-c', 'kill -9 $$']);
    expect(killed.exitCode === null ? killed.signal : killed.exitCode).toMatch(/KILL|137/);
    await expect(guest.run(['false'])).rejects.toMatchObject({ outcome: 'step-failed' });
    const stdin = await guest.run(['cat'], { input: 'via stdin\n' });
    expect(stdin.stdout).toBe('via stdin\n');
    await expect(guest.exec(['sleep', '30'], { timeoutMs: 500 })).rejects.toMatchObject({ outcome: 'step-failed' });
  });

  it('moves files both ways over SFTP', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    const up = join(dir, 'up.bin');
    const down = join(dir, 'down.bin');
    await writeFile(up, payload);
    await guest.upload(up, '/tmp/up.bin', { mode: 0o600 });
    const sum = await guest.run(['sha256sum', '/tmp/up.bin']);
    const { createHash } = await import('node:crypto');
    expect(sum.stdout.split(' ')[0]).toBe(createHash('sha256').update(payload).digest('hex'));
    await guest.download('/tmp/up.bin', down);
    expect((await readFile(down)).equals(payload)).toBe(true);
    await guest.writeFile('/tmp/small.txt', 'hello\n');
    expect((await guest.readFile('/tmp/small.txt')).toString()).toBe('hello\n');
  });

  it('rejects a guest whose host key is not the pinned one, and a wrong client key, at once', async () => {
    const other = generateRunKeys('other');
    const t0 = performance.now();
    // Long deadlines: failing at once (no retry until the deadline) is the promise, not a speed.
    const wrongHost = Guest.waitReady({ port, keys: { client: keys.client, host: other.host }, deadlineMs: 300_000 });
    await expect(wrongHost).rejects.toThrow(HandoverError);
    await expect(wrongHost).rejects.toMatchObject({ outcome: 'ssh-failed', message: /host key/ });
    const wrongClient = Guest.waitReady({ port, keys: { client: other.client, host: keys.host }, deadlineMs: 300_000 });
    await expect(wrongClient).rejects.toMatchObject({ outcome: 'ssh-failed', message: /authentication failed/ });
    expect(performance.now() - t0).toBeLessThan(120_000); // both failed fast, far from one 300 s deadline
  });

  it('has the agent built against this kernel, and /dev/liveupdate is there', async () => {
    const r = await guest.run(['handover-agent', 'probe']);
    const probe = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(probe).toMatchObject({ ok: true, command: 'probe', release, liveupdate_dev: true });
    expect(probe.ioctls).toMatchObject({ type: 0xba, create_session: 0xba00 });
  });

  it('kexecs into the same kernel and initrd, and reconnects to the new boot with the same host key', async () => {
    const before = await guest.bootId();
    await guest.upload(BZIMAGE, '/tmp/bzImage');
    await guest.upload(initrd, '/tmp/initrd', { mode: 0o600 });
    const load = await guest.run(['kexec', '-s', '-l', '/tmp/bzImage', '--initrd=/tmp/initrd', '--reuse-cmdline']);
    timings['kexec -s -l over SSH'] = load.durationMs;
    // A second session with a command in flight: kexec drops it without a FIN, and keepalive
    // must end it (as ssh-failed) instead of leaving it hanging.
    const bystander = await Guest.waitReady({ port, keys, deadlineMs: 30_000 });
    let t0 = performance.now();
    const inFlight = bystander.exec(['sleep', '600'], { timeoutMs: 300_000 }).then(
      () => 'finished',
      (err: unknown) => {
        timings['kexec -e -> in-flight command on the old boot failed'] = Math.round(performance.now() - t0);
        return err instanceof HandoverError ? err.outcome : String(err);
      },
    );
    t0 = performance.now();
    await guest.execDetached(['kexec', '-e']);
    const proof = await guest.reconnectAfterKexec({ previousBootId: before, expectRelease: release, deadlineMs: 120_000 });
    timings['kexec -e -> first SSH command on the new boot'] = Math.round(performance.now() - t0);
    expect(await inFlight).toBe('ssh-failed');
    await bystander.close();
    expect(proof.bootId).not.toBe(before);
    expect(proof.release).toBe(release);
    expect(await guest.bootId()).toBe(proof.bootId);
    // The new kernel received the KHO handover from the old one.
    expect(console_()).toMatch(/KHO: exec from/);
    const ups = milestones(console_()).filter((m) => m?.event === 'sshd up');
    expect(ups.map((m) => m?.fields.boot_id)).toEqual([before, proof.bootId]);
    const upAgain = ups[1]?.uptime;
    if (upAgain !== undefined) timings['new kernel uptime at "sshd up" (ms)'] = Math.round(upAgain * 1000);
  });
});
