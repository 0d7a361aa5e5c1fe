import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { HandoverError } from '../errors.ts';
import { Guest } from '../guest/guest.ts';
import { generateRunKeys, type RunKeys } from '../guest/keys.ts';
import { archOf, type KernelBuild } from '../kernel/build.ts';
import { timeScaleOf } from '../kernel/fragments.ts';
import { privateTempDir } from '../paths.ts';
import type { Progress } from '../log/progress.ts';
import { buildRootfs, type Rootfs } from '../rootfs/build.ts';
import { PRELOADED_KEXEC_DIR, writeBootInitrd, writeInitrd } from '../rootfs/overlay.ts';
import { bootVm, type Vm } from '../vm/vm.ts';
import type { AccelPolicy } from '../vm/accel.ts';

export interface MachineOptions {
  kernel: KernelBuild;
  /** Extra kernel command line, after handover's own (console, panic, liveupdate=on). */
  append?: string;
  accel?: AccelPolicy;
  memoryMiB?: number;
  cpus?: number;
  /** From QEMU start to sshd up on the console (kernel boot + /init). */
  bootDeadlineMs?: number;
  /** Where the console log and the run's files go; a private temp dir by default (removed at stop). */
  dir?: string;
  signal?: AbortSignal;
  progress?: Progress;
  /** Lets the caller type into the serial console (handover console). */
  interactiveConsole?: boolean;
  /** More QEMU arguments (bench/ tries machine types and TCG options with it). */
  extraQemuArgs?: readonly string[];
}

/** A booted guest we can talk to: the VM, an SSH session, and the files of the run. */
export interface Machine extends AsyncDisposable {
  kernel: KernelBuild;
  vm: Vm;
  guest: Guest;
  keys: RunKeys;
  rootfs: Rootfs;
  /** The combined initrd (base image + this run's keys): also what a kexec'd kernel gets. */
  initrd: string;
  /**
   * The images the cold boot's rootfs already holds (guest paths), for the first kexec: the
   * machine's own bzImage and `initrd`. A kexec'd kernel boots the lean initrd, so only boot 1 has them.
   */
  preloaded: { boot: number; bzImage: string; initrd: string };
  dir: string;
  /** Milliseconds: QEMU start → sshd up on the console → first SSH session. */
  timings: { rootfsMs: number; bootMs: number; sshMs: number };
  /** When the first SSH session was ready, on the console's clock (ms since QEMU was spawned). */
  sshReadyAtMs: number;
  stop(): Promise<void>;
}

export const HANDOVER_APPEND = 'liveupdate=on';
const SSHD_UP = /^handover: sshd up\b/;

/**
 * Boots the kernel with handover's initramfs and logs in. Every wait has a deadline and fails
 * with its own outcome (boot-timeout, kernel-crash as soon as the console shows one, vm-failed,
 * ssh-failed); on any failure the VM is stopped before the error propagates.
 */
export async function startMachine(opts: MachineOptions): Promise<Machine> {
  const progress = opts.progress;
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await privateTempDir('run'));
  progress?.phase('rootfs');
  // The kernel's architecture decides the guest's: its binaries, its agent, its QEMU machine.
  const arch = archOf(opts.kernel.metadata);
  const rootfs = await buildRootfs({ uapiInclude: opts.kernel.artifacts.headers, arch });
  const keys = generateRunKeys();
  const initrd = await writeInitrd(join(dir, 'initrd'), rootfs.basePath, keys);
  const bootInitrd = await writeBootInitrd(join(dir, 'boot-initrd'), initrd, opts.kernel.artifacts.bzImage);

  progress?.phase('boot');
  const started = performance.now();
  const vm = await bootVm({
    kernel: opts.kernel.artifacts.bzImage,
    arch,
    initrd: bootInitrd,
    extraAppend: [HANDOVER_APPEND, opts.append ?? ''].join(' ').trim(),
    accel: opts.accel ?? 'auto',
    logDir: dir,
    serial: opts.interactiveConsole === true ? 'socket' : 'file',
    ...(opts.memoryMiB === undefined ? {} : { memoryMiB: opts.memoryMiB }),
    ...(opts.cpus === undefined ? {} : { cpus: opts.cpus }),
    ...(opts.extraQemuArgs === undefined ? {} : { extraQemuArgs: opts.extraQemuArgs }),
  }).finally(() => rm(bootInitrd, { force: true }));
  // QEMU read -initrd into guest memory before it answered QMP: the copy with the keys can go.
  const stop = async (keepFiles = false) => {
    await guest?.close().catch(() => {});
    await vm.stop();
    if (ownDir && !keepFiles) await rm(dir, { recursive: true, force: true });
  };
  let guest: Guest | undefined;
  // A profile that runs slower by design (KASAN) gets longer deadlines, never a boot-timeout.
  const scale = timeScaleOf(opts.kernel.metadata.config.fragments);
  try {
    await vm.waitForLine(SSHD_UP, {
      deadlineMs: opts.bootDeadlineMs ?? 60_000 * scale,
      outcome: 'boot-timeout',
      description: 'the guest to start sshd',
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    const bootMs = performance.now() - started;
    progress?.phase('ssh');
    guest = await Guest.waitReady({
      port: vm.sshPort,
      keys,
      deadlineMs: 20_000 * scale,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    const sshMs = performance.now() - started;
    const sshReadyAtMs = vm.console.elapsedMs();
    progress?.end();
    const connected = guest;
    connected.timeScale = scale;
    return {
      kernel: opts.kernel,
      vm,
      guest: connected,
      keys,
      rootfs,
      initrd,
      preloaded: { boot: 1, bzImage: `${PRELOADED_KEXEC_DIR}/bzImage`, initrd: `${PRELOADED_KEXEC_DIR}/initrd` },
      dir,
      timings: { rootfsMs: rootfs.durationMs, bootMs, sshMs },
      sshReadyAtMs,
      stop: () => stop(),
      [Symbol.asyncDispose]: () => stop(),
    };
  } catch (err) {
    progress?.end();
    // The run's files stay for a failure: the console log is the evidence.
    await stop(true);
    if (!(err instanceof HandoverError)) throw err;
    const tail = vm.console.lines().slice(-15).map((l) => l.text);
    throw new HandoverError(err.outcome, err.message, {
      evidence: err.evidence.length > 0 ? err.evidence : ['console tail:', ...tail],
      artifacts: { ...err.artifacts, console: vm.consoleLog },
      cause: err,
    });
  }
}
