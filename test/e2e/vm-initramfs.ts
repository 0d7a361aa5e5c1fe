// Tiny initramfs images for the VM-layer tests: static busybox, an /init script, and for the kexec
// test the host's kexec-tools with its shared libraries. Written as newc cpio (uncompressed: every
// kernel accepts it). Not the project's rootfs (orchestrator/rootfs/ builds that); just enough
// userspace to print markers, kexec and power off.

import { execFile } from 'node:child_process';
import { readFile, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { writeNewc, type CpioEntry } from '../../orchestrator/rootfs/cpio.ts';

/** The default kernel from the real pipeline (a cache hit once built), or $HANDOVER_TEST_BZIMAGE. */
export async function testKernel(): Promise<string> {
  return process.env.HANDOVER_TEST_BZIMAGE ?? (await buildKernel()).artifacts.bzImage;
}
const BUSYBOX = process.env.HANDOVER_TEST_BUSYBOX ?? '/bin/busybox';
const KEXEC = '/sbin/kexec';

/** A cpio with /dev/console, busybox, /init = `script`, and `files` (parent dirs added). */
async function image(script: string, files: Record<string, Buffer> = {}): Promise<Buffer> {
  const init = `#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n${script}\n`;
  const all: Record<string, Buffer> = { 'bin/busybox': await readFile(BUSYBOX), ...files };
  const dirs = new Set(['dev', 'proc']);
  for (const path of Object.keys(all)) {
    for (let d = dirname(path); d !== '.'; d = dirname(d)) dirs.add(d);
  }
  return writeNewc([
    ...[...dirs].map((path): CpioEntry => ({ type: 'dir', path, mode: 0o755 })),
    { type: 'nod', path: 'dev/console', mode: 0o600, dev: 'c', major: 5, minor: 1 },
    ...Object.entries(all).map(([path, data]): CpioEntry => ({ type: 'file', path, mode: 0o755, data })),
    { type: 'file', path: 'init', mode: 0o755, data: Buffer.from(init) },
  ]);
}

/** Writes `<dir>/<file>` with busybox and `/init` = `script` (run by busybox sh). */
export async function writeTestInitramfs(dir: string, script: string, file = 'initramfs.cpio'): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, await image(script));
  return path;
}

/** `/init` that prints a marker with the guest uptime, then powers off at once. */
export const MARKER_THEN_POWEROFF =
  'echo "HANDOVER-TEST-MARKER boot=1 uptime=$(/bin/busybox cut -d" " -f1 /proc/uptime)"\n/bin/busybox poweroff -f';

/**
 * An initramfs whose /init prints `HANDOVER-TEST-MARKER boot=1`, kexecs into `kernel` with an inner
 * initramfs that prints `… boot=2` and powers off. kexec-tools comes from the host.
 */
export async function writeKexecInitramfs(dir: string, kernel: string): Promise<string> {
  const inner = await image(
    'echo "HANDOVER-TEST-MARKER boot=2 uptime=$(/bin/busybox cut -d" " -f1 /proc/uptime)"\n/bin/busybox poweroff -f',
  );
  const files: Record<string, Buffer> = {
    'sbin/kexec': await readFile(KEXEC),
    'boot/bzImage': await readFile(kernel),
    'boot/inner.cpio': inner,
  };
  // kexec-tools is dynamically linked: take its ldd closure along.
  const { stdout } = await promisify(execFile)('ldd', [KEXEC]);
  for (const m of stdout.matchAll(/(\/\S+) \(0x/g)) {
    const lib = m[1];
    if (lib !== undefined) files[lib.slice(1)] = await readFile(await realpath(lib));
  }
  const script = [
    'echo "HANDOVER-TEST-MARKER boot=1"',
    '/sbin/kexec -s -l /boot/bzImage --initrd=/boot/inner.cpio --reuse-cmdline || echo "kexec load failed"',
    '/sbin/kexec -e',
  ].join('\n');
  const path = join(dir, 'kexec.cpio');
  await writeFile(path, await image(script, files));
  return path;
}
