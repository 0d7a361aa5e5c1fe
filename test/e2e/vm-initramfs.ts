// Tiny initramfs images for the VM-layer tests: static busybox, an /init script, and for the kexec
// test the host's kexec-tools with its shared libraries. Written as newc cpio (uncompressed: every
// kernel accepts it). Not the project's rootfs (orchestrator/rootfs/ builds that); just enough
// userspace to print markers, kexec and power off.

import { execFile } from 'node:child_process';
import { readFile, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

export const TEST_KERNEL = process.env.HANDOVER_TEST_BZIMAGE ?? '/tmp/proto-build/arch/x86/boot/bzImage';
const BUSYBOX = process.env.HANDOVER_TEST_BUSYBOX ?? '/bin/busybox';
const KEXEC = '/sbin/kexec';

interface Entry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Buffer;
  readonly rdev?: readonly [number, number];
}

function newc(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const [maj, min] = e.rdev ?? [0, 0];
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, maj, min, name.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`);
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  }
  return Buffer.concat(parts);
}

/** A cpio with /dev/console, busybox, /init = `script`, and `files` (parent dirs added). */
async function image(script: string, files: Record<string, Buffer> = {}): Promise<Buffer> {
  const init = `#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n${script}\n`;
  const all: Record<string, Buffer> = { 'bin/busybox': await readFile(BUSYBOX), ...files };
  const dirs = new Set(['dev', 'proc']);
  for (const path of Object.keys(all)) {
    for (let d = dirname(path); d !== '.'; d = dirname(d)) dirs.add(d);
  }
  return newc([
    ...[...dirs].sort().map((name) => ({ name, mode: 0o040755 })),
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    ...Object.entries(all).map(([name, data]) => ({ name, mode: 0o100755, data })),
    { name: 'init', mode: 0o100755, data: Buffer.from(init) },
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
