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
}

const GUEST_DIR = '/run/handover';
const SSHD_UP = /^handover: sshd up\b/;

/** Uploads the images and loads them; the kexec fires later, so preservation can happen in between. */
export async function loadKexec(m: Machine, opts: KexecOptions = {}): Promise<KexecLoaded> {
  const syscall = opts.syscall ?? 'file';
  await m.guest.run(['mkdir', '-p', GUEST_DIR]);
  await m.guest.upload(opts.bzImage ?? m.kernel.artifacts.bzImage, `${GUEST_DIR}/bzImage`);
  await m.guest.upload(opts.initrd ?? m.initrd, `${GUEST_DIR}/initrd`, { mode: 0o600 });
  const flags = syscall === 'file' ? ['-s', '-l'] : ['-c', '-l'];
  const append = opts.append === undefined || opts.append === '' ? [] : [`--append=${opts.append}`];
  const r = await m.guest.run(['kexec', ...flags, `${GUEST_DIR}/bzImage`, `--initrd=${GUEST_DIR}/initrd`, '--reuse-cmdline', ...append]);
  return { syscall, loadMs: r.durationMs };
}

/**
 * Fires the loaded kexec and proves the new boot: a new banner on the console (kexec-timeout if
 * none), the new userspace up (kernel-hang if the banner came and userspace did not), and an SSH session with a different boot_id. The old SSH session
 * vanishes without a FIN, so the trigger runs detached and nothing waits on it.
 */
export async function fireKexec(m: Machine, opts: KexecOptions = {}): Promise<KexecResult> {
  const deadlineMs = opts.deadlineMs ?? 120_000;
  const signal = opts.signal === undefined ? {} : { signal: opts.signal };
  const previousBootId = await m.guest.bootId();
  const boot = m.vm.expectKexec();
  const t0 = performance.now();
  await m.guest.execDetached(['kexec', '-e']);
  await m.vm.waitForBoot(boot, { deadlineMs, outcome: 'kexec-timeout', description: 'the kexec’d kernel’s banner', ...signal });
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
  return { previousBootId, bootId: proof.bootId, release: proof.release, boot, blackoutMs, sshReadyMs: performance.now() - t0 };
}
