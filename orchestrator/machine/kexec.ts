import type { Machine } from './start.ts';

export interface KexecOptions {
  /** The kernel image to kexec into; default: the one the machine booted. */
  bzImage?: string;
  /** Default: the machine's own initrd (same base image, same pinned host key). */
  initrd?: string;
  /**
   * `file` loads with kexec_file_load (`kexec -s`), the only path that carries the KHO handover.
   * `legacy` uses kexec_load (`kexec -l` without -s), which silently drops it: a negative control.
   */
  syscall?: 'file' | 'legacy';
  /** Added to the reused command line of the new kernel (e.g. kho=off). */
  append?: string;
  /** Release the new kernel must report (`uname -r`). */
  expectRelease?: string;
  /** For the whole transition: trigger → new banner → sshd up → SSH session. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface KexecLoaded {
  syscall: 'file' | 'legacy';
  loadMs: number;
  /** The images that had to be uploaded (none when the cold boot's rootfs held them). */
  uploaded: ('bzImage' | 'initrd')[];
}

export interface KexecResult {
  previousBootId: string;
  bootId: string;
  release: string;
  /** The console's boot number of the new kernel (1-based). */
  boot: number;
  /** From the trigger to the new kernel's userspace (sshd up on its console). */
  blackoutMs: number;
  /** From the trigger to the first command on the new boot over SSH. */
  sshReadyMs: number;
  /** When `kexec -e` was started and when SSH answered on the new boot, on the console's clock. */
  triggerAtMs: number;
  sshReadyAtMs: number;
}

const GUEST_DIR = '/run/handover';
const SSHD_UP = /^handover: sshd up\b/;

/**
 * Loads the images; the kexec fires later, so preservation can happen in between. The cold boot's
 * rootfs holds the machine's own bzImage and initrd (`Machine.preloaded`): those are loaded where
 * they are, and only another image (another kernel, a kexec from a kexec'd boot) is uploaded.
 */
export async function loadKexec(m: Machine, opts: KexecOptions = {}): Promise<KexecLoaded> {
  const syscall = opts.syscall ?? 'file';
  const started = performance.now();
  const onBoot = m.vm.boots === m.preloaded.boot;
  const images = {
    bzImage: { host: opts.bzImage ?? m.kernel.artifacts.bzImage, own: m.kernel.artifacts.bzImage, preloaded: m.preloaded.bzImage },
    initrd: { host: opts.initrd ?? m.initrd, own: m.initrd, preloaded: m.preloaded.initrd },
  };
  const uploaded: KexecLoaded['uploaded'] = [];
  const guestPath = { bzImage: images.bzImage.preloaded, initrd: images.initrd.preloaded };
  for (const name of ['bzImage', 'initrd'] as const) {
    const image = images[name];
    if (onBoot && image.host === image.own) continue;
    if (uploaded.length === 0) await m.guest.run(['mkdir', '-p', GUEST_DIR]);
    guestPath[name] = `${GUEST_DIR}/${name}`;
    await m.guest.upload(image.host, guestPath[name], name === 'initrd' ? { mode: 0o600 } : {});
    uploaded.push(name);
  }
  const flags = syscall === 'file' ? ['-s', '-l'] : ['-c', '-l'];
  const append = opts.append === undefined || opts.append === '' ? [] : [`--append=${opts.append}`];
  await m.guest.run(['kexec', ...flags, guestPath.bzImage, `--initrd=${guestPath.initrd}`, '--reuse-cmdline', ...append]);
  return { syscall, loadMs: performance.now() - started, uploaded };
}

/**
 * Fires the loaded kexec and proves the new boot: a new banner on the console (kexec-timeout if
 * none), the new userspace up (kernel-hang if the banner came and userspace did not), and an SSH session with a different boot_id. The old SSH session
 * vanishes without a FIN, so the trigger runs detached and nothing waits on it.
 */
export async function fireKexec(m: Machine, opts: KexecOptions = {}): Promise<KexecResult> {
  const deadlineMs = opts.deadlineMs ?? 120_000;
  const signal = opts.signal === undefined ? {} : { signal: opts.signal };
  // The boot_id this boot's /init printed with "sshd up" (an SSH round trip saved), else asked.
  const previousBootId = consoleBootId(m) ?? (await m.guest.bootId());
  const boot = m.vm.expectKexec();
  const t0 = performance.now();
  const triggerAtMs = m.vm.console.elapsedMs();
  const banner = m.vm.waitForBoot(boot, { deadlineMs, outcome: 'kexec-timeout', description: 'the kexec’d kernel’s banner', ...signal });
  banner.catch(() => {});
  // The old kernel can go before its sshd reports the trigger's exit: the new banner settles it too.
  await m.guest.execDetached(['kexec', '-e'], { until: banner });
  await banner;
  const remaining = () => Math.max(1, deadlineMs - (performance.now() - t0));
  // The new kernel is running (its banner is out) but never got to userspace: that is the
  // kernel's doing, not the machine's (kernel-hang; retried once to confirm, then bad for bisect).
  await m.vm.waitForLine(SSHD_UP, {
    boot,
    deadlineMs: remaining(),
    outcome: 'kernel-hang',
    description: `boot ${boot} printed its banner after the kexec but never reached userspace (sshd up)`,
    ...signal,
  });
  const blackoutMs = performance.now() - t0;
  const proof = await m.guest.reconnectAfterKexec({
    previousBootId,
    deadlineMs: remaining(),
    ...(opts.expectRelease === undefined ? {} : { expectRelease: opts.expectRelease }),
    ...signal,
  });
  return {
    previousBootId,
    bootId: proof.bootId,
    release: proof.release,
    boot,
    blackoutMs,
    sshReadyMs: performance.now() - t0,
    triggerAtMs,
    sshReadyAtMs: m.vm.console.elapsedMs(),
  };
}

const BOOT_ID_FIELD = /^handover: sshd up\b.*\bboot_id=([0-9a-f-]{36})\b/;

/** The boot_id on the current boot's "sshd up" line, if it printed one. */
function consoleBootId(m: Machine): string | undefined {
  for (const line of m.vm.console.lines(m.vm.boots)) {
    const id = BOOT_ID_FIELD.exec(line.text)?.[1];
    if (id !== undefined) return id;
  }
  return undefined;
}
