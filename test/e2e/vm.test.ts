// The VM layer against a real QEMU and the real 7.3 KHO/LUO kernel (the default build).
// At most two VMs run at once: the machines this runs on have two cores.

import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { chooseAccel, TCG_ARGS, type AccelChoice } from '../../orchestrator/vm/accel.ts';
import { liveQemuPids } from '../../orchestrator/host/process-registry.ts';
import { bootVm } from '../../orchestrator/vm/vm.ts';
import {
  MARKER_THEN_POWEROFF,
  testKernel,
  writeKexecInitramfs,
  writeTestInitramfs,
} from './vm-initramfs.ts';
import { rejection } from '../helpers/rejection.ts';

const MARKER = /HANDOVER-TEST-MARKER boot=(\d)/;
let TEST_KERNEL = '';
const MARKER_THEN_SLEEP = 'echo "HANDOVER-TEST-MARKER boot=1"\nexec /bin/busybox sleep 100000';

/** What the probe's cache key should record for /dev/kvm on this host. */
async function kvmDeviceHere(): Promise<string> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    return 'rw';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'no-access';
  }
}

async function pgrep(pattern: string): Promise<string[]> {
  const r = await promisify(execFile)('pgrep', ['-af', pattern]).catch(() => ({ stdout: '' }));
  // pgrep -f also matches itself on some systems; keep QEMU only.
  return r.stdout.split('\n').filter((l) => l.includes('qemu-system'));
}


describe('VM layer on a real kernel', () => {
  let dir: string;
  let tcg: AccelChoice;
  let markerInitrd: string;
  let sleepInitrd: string;

  beforeAll(async () => {
    TEST_KERNEL = await testKernel();
    dir = await mkdtemp(join(tmpdir(), 'handover-vm-e2e-'));
    tcg = await chooseAccel('tcg', { kernel: TEST_KERNEL });
    markerInitrd = await writeTestInitramfs(dir, MARKER_THEN_POWEROFF, 'marker.cpio');
    sleepInitrd = await writeTestInitramfs(dir, MARKER_THEN_SLEEP, 'sleep.cpio');
  });
  afterAll(async () => {
    expect(liveQemuPids()).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it('boots to userspace, sees the marker, and tells a clean poweroff from a crash', async () => {
    const t0 = performance.now();
    await using vm = await bootVm({ kernel: TEST_KERNEL, initrd: markerInitrd, accel: tcg, logDir: join(dir, 'clean') });
    const started = performance.now() - t0;
    const banner = await vm.waitForBoot(1, { deadlineMs: 60_000 });
    const marker = await vm.waitForLine(MARKER, { deadlineMs: 60_000 });
    const exit = await vm.waitForExit({ deadlineMs: 60_000 });
    console.log(
      `[vm e2e] bootVm ${started.toFixed(0)} ms; QEMU start -> banner ${banner.atMs.toFixed(0)} ms, -> /init marker ${marker.line.atMs.toFixed(0)} ms; ${marker.line.text}`,
    );
    expect(vm.sshPort).toBeGreaterThan(1023);
    expect(vm.boots).toBe(1);
    expect(exit).toMatchObject({ code: 0, shutdownReason: 'guest-shutdown', clean: true, crashes: [] });
    expect(await readFile(vm.consoleLog, 'utf8')).toContain('\r\n'); // raw bytes, as QEMU wrote them
    const slice = await readFile(vm.bootLog(1), 'utf8');
    expect(slice).toContain('HANDOVER-TEST-MARKER boot=1');
    expect(slice).not.toContain('\r');
  });

  it('reports a panicking boot as kernel-crash with the panic excerpt, long before the deadline', async () => {
    // No initramfs: "VFS: Unable to mount root fs"; panic=-1 + -no-reboot make QEMU exit.
    await using vm = await bootVm({ kernel: TEST_KERNEL, accel: tcg, logDir: join(dir, 'panic') });
    const t0 = performance.now();
    const err = await rejection(vm.waitForLine(MARKER, { deadlineMs: 300_000 }));
    const ms = performance.now() - t0;
    console.log(`[vm e2e] panic reported ${ms.toFixed(0)} ms after the wait began`);
    // Detection, not the deadline: a missed panic would end at the 300 s deadline. Half of it is
    // far above a TCG boot to the panic on a loaded host (seconds), so load cannot fail this.
    expect(ms).toBeLessThan(150_000);
    expect(err.outcome).toBe('kernel-crash');
    expect(err.message).toContain('Kernel panic - not syncing: VFS: Unable to mount root fs');
    expect(err.evidence.join('\n')).toContain('Call Trace:');
    const exit = await vm.waitForExit({ deadlineMs: 30_000 });
    expect(exit.clean).toBe(false);
    expect(exit.shutdownReason).toBe('guest-reset');
    expect(exit.crashes.map((c) => c.kind)).toEqual(['panic']);
  });

  // Whatever this host's KVM does (absent, not ours, aborting QEMU, a guest that never prints, or
  // working): auto picks kvm only when a guest really ran, else TCG with a reason naming each
  // attempt; the verdict is cached; --accel kvm fails with accel-unusable without re-probing.
  // The failure shapes themselves are unit-tested on recorded outcomes (test/unit/accel.test.ts).
  it('auto accel picks KVM only if a guest ran, else TCG with the reason; caches it; kvm agrees', async () => {
    const previous = process.env.HANDOVER_CACHE_DIR;
    process.env.HANDOVER_CACHE_DIR = join(dir, 'cache');
    try {
      const auto = await chooseAccel('auto', { kernel: TEST_KERNEL });
      const again = await chooseAccel('auto', { kernel: TEST_KERNEL });
      console.log(`[vm e2e] accel probe ${auto.probeMs} ms: ${auto.reason}`);
      expect(auto.cached).toBe(false);
      expect(again).toMatchObject({ accel: auto.accel, reason: auto.reason, cached: true, probeMs: 0 });
      // The per-host file cache, read by another process (here: different options, same host key).
      const saved = JSON.parse(await readFile(join(dir, 'cache', 'accel', 'kvm-probe.json'), 'utf8')) as {
        key: { hostBootId: string; qemuVersion: string; kvmDevice: string };
        verdict: { usable: boolean };
      };
      expect(saved.key.hostBootId).toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
      expect(saved.key.qemuVersion).toMatch(/^QEMU emulator version /);
      expect(saved.key.kvmDevice).toBe(await kvmDeviceHere());
      expect(saved.verdict.usable).toBe(auto.accel === 'kvm');
      const fromFile = await chooseAccel('auto', { kernel: TEST_KERNEL, probeDeadlineMs: 3999 });
      expect(fromFile).toMatchObject({ accel: auto.accel, cached: true, probeMs: 0, reason: auto.reason });

      if (auto.accel === 'kvm') {
        expect(auto.reason).toMatch(/^auto: KVM booted the kernel \((-cpu host|default CPU)\) in \d+ ms$/);
        // It really runs a guest: the same choice boots to userspace.
        await using vm = await bootVm({ kernel: TEST_KERNEL, initrd: markerInitrd, accel: auto, logDir: join(dir, 'kvm') });
        await vm.waitForLine(MARKER, { deadlineMs: 60_000 });
        expect(await chooseAccel('kvm', { kernel: TEST_KERNEL })).toMatchObject({ accel: 'kvm', cached: true });
        return;
      }
      expect(auto.qemuArgs).toEqual(TCG_ARGS);
      const why = /^auto: KVM unusable \((.+)\); using TCG$/.exec(auto.reason)?.[1] ?? '';
      expect(why).not.toBe('');
      const device = await kvmDeviceHere();
      if (device === 'absent') expect(why).toBe('/dev/kvm does not exist');
      else if (device === 'no-access') expect(why).toBe('/dev/kvm is not readable and writable');
      else {
        // Each CPU model tried is named with why it failed, in whatever words QEMU or the deadline gave.
        for (const cpu of ['-cpu host', 'default CPU']) expect(why).toMatch(new RegExp(`(^|; )${cpu}: \\S`));
      }
      // Not re-probed: the cached verdict answers, and says so.
      const err = await rejection(chooseAccel('kvm', { kernel: TEST_KERNEL }));
      expect(err.outcome).toBe('accel-unusable');
      expect(err.message).toBe(`KVM was requested but cannot run a guest: ${why}`);
      expect(err.evidence).toContain('(cached verdict; delete the accel cache to re-probe)');
    } finally {
      if (previous === undefined) delete process.env.HANDOVER_CACHE_DIR;
      else process.env.HANDOVER_CACHE_DIR = previous;
    }
  });

  it('counts boots across an announced kexec and keeps a console slice per boot', async () => {
    const initrd = await writeKexecInitramfs(dir, TEST_KERNEL);
    await using vm = await bootVm({ kernel: TEST_KERNEL, initrd, accel: tcg, logDir: join(dir, 'kexec') });
    await vm.waitForLine(MARKER, { deadlineMs: 60_000 });
    const next = vm.expectKexec();
    expect(next).toBe(2);
    const banner2 = await vm.waitForBoot(next, { deadlineMs: 60_000 });
    const marker2 = await vm.waitForLine(MARKER, { boot: next, deadlineMs: 60_000 });
    expect(marker2.match[1]).toBe('2');
    const exit = await vm.waitForExit({ deadlineMs: 60_000 });
    console.log(`[vm e2e] kexec: boot 2 banner at ${banner2.atMs.toFixed(0)} ms, its /init at ${marker2.line.atMs.toFixed(0)} ms`);
    expect(vm.boots).toBe(2);
    expect(exit.clean).toBe(true);
    const slice2 = await readFile(vm.bootLog(2), 'utf8');
    expect(slice2).toMatch(/^\[ +0\.000000\] Linux version/);
    expect(slice2).toContain('KHO: found kexec handover data.');
    expect(await readFile(vm.bootLog(1), 'utf8')).not.toContain('boot=2');
  });

  it('reports an unannounced kexec as an unexpected reboot', async () => {
    const initrd = await writeKexecInitramfs(dir, TEST_KERNEL);
    await using vm = await bootVm({ kernel: TEST_KERNEL, initrd, accel: tcg, logDir: join(dir, 'reboot') });
    const err = await rejection(vm.waitForLine(/HANDOVER-TEST-MARKER boot=2/, { deadlineMs: 60_000 }));
    expect(err.outcome).toBe('kernel-crash');
    expect(err.message).toContain('unexpected reboot: boot 2 began without an announced kexec');
    expect(err.evidence.join('\n')).toContain('kexec_core: Starting new kernel');
  });

  it('leaves no QEMU behind when the node process that started it is SIGKILLed', async () => {
    const name = `handover-sigkill-${process.pid}`;
    // A separate node process loads the TypeScript sources through vite (vitest's own loader).
    const script = `
      import { createServer } from 'vite';
      const server = await createServer({ logLevel: 'error', server: { middlewareMode: true, hmr: false }, appType: 'custom', optimizeDeps: { noDiscovery: true, include: [] } });
      const { bootVm } = await server.ssrLoadModule('/orchestrator/vm/index.ts');
      const vm = await bootVm(${JSON.stringify({ kernel: TEST_KERNEL, initrd: sleepInitrd, accel: 'tcg', name, logDir: join(dir, 'sigkill') })});
      await vm.waitForLine(/HANDOVER-TEST-MARKER/, { deadlineMs: 60000 });
      console.log('READY ' + vm.pid);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: PACKAGE_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /READY (\d+)/.exec(out);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
    });
    expect(await pgrep(name)).toHaveLength(1); // it really was running
    child.kill('SIGKILL');
    const t0 = performance.now();
    let left = await pgrep(name);
    // PDEATHSIG kills QEMU at once; the 30 s only bounds the wait for pgrep on a loaded host.
    while (left.length > 0 && performance.now() - t0 < 30_000) {
      await new Promise((r) => setTimeout(r, 100));
      left = await pgrep(name);
    }
    console.log(`[vm e2e] QEMU ${ready} gone ${(performance.now() - t0).toFixed(0)} ms after SIGKILL of its node parent`);
    expect(left).toEqual([]);
  });

  it('runs two VMs in parallel on different SSH ports', async () => {
    const [a, b] = await Promise.all(
      ['a', 'b'].map((n) => bootVm({ kernel: TEST_KERNEL, initrd: sleepInitrd, accel: tcg, logDir: join(dir, `par-${n}`) })),
    );
    if (a === undefined || b === undefined) throw new Error('two VMs expected');
    try {
      await Promise.all([a, b].map((vm) => vm.waitForLine(MARKER, { deadlineMs: 90_000 })));
      expect(a.sshPort).not.toBe(b.sshPort);
      expect(a.pid).not.toBe(b.pid);
      expect(await pgrep(a.name)).toHaveLength(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(await pgrep(a.name)).toEqual([]);
    expect(await pgrep(b.name)).toEqual([]);
    // stop() is idempotent and reports how QEMU ended.
    expect((await a.stop()).shutdownReason).toBe('host-qmp-quit');
  });
});
