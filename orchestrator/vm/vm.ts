// bootVm(): one started VM, always torn down.
//
//   await using vm = await bootVm({ kernel, initrd, accel: 'auto', logDir });
//   await vm.waitForLine(/HANDOVER-READY/, { deadlineMs: 30_000 });  // boot-timeout on expiry
//   ssh to 127.0.0.1:vm.sshPort …
//   const next = vm.expectKexec();           // the next banner is a kexec, not a crash
//   … fire `kexec -e` over SSH …
//   await vm.waitForBoot(next, { deadlineMs: 30_000 });             // kexec-timeout on expiry
//   await vm.waitForLine(/HANDOVER-READY/, { boot: next, deadlineMs: 30_000 });
//   const exit = await vm.stop();            // idempotent; also run by `await using`
//
// Every wait rejects with a HandoverError: its own outcome on the deadline, `kernel-crash` (with the
// report excerpt) as soon as the crash catalogue sees a crash on the console, `vm-failed` when QEMU
// dies. `vm.crashes` keeps every crash, `vm.bootLog(n)` each boot's console slice, `vm.consoleLog`
// the raw serial bytes.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import type { Arch } from '../host/arch.ts';
import { privateTempDir } from '../paths.ts';
import type { AccelChoice, AccelPolicy } from './accel.ts';
import {
  ConsoleWatcher,
  type BootInfo,
  type ConsoleEnd,
  type ConsoleLine,
  type LineMatch,
  type WaitOptions,
  type WaitStrategy,
} from './console.ts';
import type { Crash } from './crash-catalogue.ts';
import { chooseMachineAccel, machineArch, type MachineArch } from './machine-arch.ts';
import { launchQemu, type QemuExit, type QemuInstance } from './qemu.ts';
import type { QmpClient } from './qmp.ts';

export const DEFAULT_APPEND = 'console=ttyS0 panic=-1';

/** The default command line on a machine: its serial console, and a panic ends QEMU. */
export function defaultAppend(m: MachineArch): string {
  return m.console === 'ttyS0' ? DEFAULT_APPEND : `console=${m.console} panic=-1`;
}

export interface BootVmOptions {
  readonly kernel: string;
  /** The kernel's architecture: which QEMU, machine and console (machine-arch.ts); default x86_64. */
  readonly arch?: Arch | undefined;
  readonly initrd?: string | undefined;
  /** The whole command line; default `console=ttyS0 panic=-1` (with -no-reboot, a panic ends QEMU). */
  readonly append?: string | undefined;
  /** Appended to `append` (e.g. `kho=on liveupdate=on`). */
  readonly extraAppend?: string | undefined;
  readonly memoryMiB?: number | undefined;
  readonly cpus?: number | undefined;
  /** A policy to resolve now, or a choice already made (resolve once per run, reuse for each VM). */
  readonly accel?: AccelPolicy | AccelChoice | undefined;
  /** Where console logs and QEMU's stderr go; default: a fresh private temp dir, kept after stop. */
  readonly logDir?: string | undefined;
  readonly name?: string | undefined;
  readonly qemuBinary?: string | undefined;
  readonly extraQemuArgs?: readonly string[] | undefined;
  /** Crash-catalogue lines to ignore, e.g. a WARNING the scenario provokes on purpose. */
  readonly crashIgnore?: readonly RegExp[] | undefined;
  readonly startDeadlineMs?: number | undefined;
  /** 'socket' lets writeConsole() type into ttyS0 (interactive use only: see qemu.ts); default 'file'. */
  readonly serial?: 'file' | 'socket' | undefined;
}

export interface VmExit extends QemuExit {
  /** A clean poweroff: QMP said `guest-shutdown` and the console reported no crash. */
  readonly clean: boolean;
  readonly crashes: readonly Crash[];
}

export interface Vm extends AsyncDisposable {
  readonly name: string;
  readonly pid: number;
  readonly sshPort: number;
  readonly accel: AccelChoice;
  readonly machine: MachineArch;
  /** The raw serial console, every byte from the first (QEMU's own chardev logfile). */
  readonly consoleLog: string;
  readonly logDir: string;
  /** `Linux version` banners seen: 1 after the cold boot, 2 after one kexec. */
  readonly boots: number;
  readonly bootInfo: readonly BootInfo[];
  readonly crashes: readonly Crash[];
  readonly qmp: QmpClient;
  readonly console: ConsoleWatcher;
  /** The full QEMU command line, for a reproducer. */
  readonly argv: readonly string[];
  /** Set once QEMU has exited. */
  readonly exit: VmExit | undefined;
  bootLog(n: number): string;
  waitForLine(re: RegExp, opts: WaitOptions): Promise<LineMatch>;
  waitForBoot(n: number, opts: Omit<WaitOptions, 'boot'>): Promise<ConsoleLine>;
  waitFor<T>(strategy: WaitStrategy<T>): Promise<T>;
  /** Announces kexec(s); returns the boot number the (last) new kernel will have. */
  expectKexec(count?: number): number;
  onLine(fn: (line: ConsoleLine) => void): () => void;
  onCrash(fn: (crash: Crash) => void): () => void;
  /** Raw serial bytes as they arrive (an interactive console shows them verbatim). */
  onConsoleData(fn: (bytes: Buffer) => void): () => void;
  /** Types into the serial console (the guest's ttyS0). */
  writeConsole(data: string | Buffer): void;
  /** Waits for QEMU to exit by itself (guest poweroff, panic), `outcome` on the deadline. */
  waitForExit(opts: { deadlineMs: number; outcome?: WaitOptions['outcome'] }): Promise<VmExit>;
  /** Kills QEMU (if running) and flushes the logs; resolves with how QEMU ended. Idempotent. */
  stop(): Promise<VmExit>;
}

export async function bootVm(options: BootVmOptions): Promise<Vm> {
  const machine = machineArch(options.arch ?? 'x86_64');
  const accel =
    typeof options.accel === 'object'
      ? options.accel
      : await chooseMachineAccel(machine, options.accel ?? 'auto', { kernel: options.kernel, qemuBinary: options.qemuBinary });
  const runtimeDir = await privateTempDir('vm');
  const name = options.name ?? `handover-${runtimeDir.slice(-6)}`;
  const logDir = options.logDir ?? (await privateTempDir('vmlog'));
  await mkdir(logDir, { recursive: true });
  const consoleLog = join(logDir, 'serial.log');
  const stderrLog = join(logDir, 'qemu.stderr.log');

  const watcher = new ConsoleWatcher({
    logDir,
    crash: { ignore: options.crashIgnore },
    artifacts: { serial: consoleLog, 'qemu-stderr': stderrLog },
  });

  let qemu: QemuInstance;
  try {
    qemu = await launchQemu({
      name,
      kernel: options.kernel,
      initrd: options.initrd,
      append: [options.append ?? defaultAppend(machine), accel.accel === 'tcg' ? machine.tcgAppend : '', options.extraAppend ?? ''].filter((a) => a !== '').join(' '),
      memoryMiB: options.memoryMiB ?? 1024,
      cpus: options.cpus ?? 1,
      accelArgs: accel.qemuArgs,
      serialLog: consoleLog,
      serial: options.serial,
      stderrLog,
      runtimeDir,
      qemuBinary: options.qemuBinary ?? machine.qemu,
      machine,
      extraArgs: options.extraQemuArgs,
      startDeadlineMs: options.startDeadlineMs,
    });
  } catch (err) {
    await watcher.end({ outcome: 'vm-failed', message: 'QEMU did not start' });
    throw err;
  } finally {
    // Both sockets are connected (or never will be): the dir has served its purpose, and removing
    // it now means not even a SIGKILL of this process can leave it behind.
    await rm(runtimeDir, { recursive: true, force: true });
  }
  return new RunningVm(name, qemu, watcher, accel, machine, logDir, consoleLog);
}

class RunningVm implements Vm {
  readonly name: string;
  readonly accel: AccelChoice;
  readonly machine: MachineArch;
  readonly logDir: string;
  readonly consoleLog: string;
  readonly console: ConsoleWatcher;
  readonly #qemu: QemuInstance;
  readonly #exited: Promise<VmExit>;
  #exit: VmExit | undefined;
  #stopping: Promise<VmExit> | undefined;

  constructor(
    name: string,
    qemu: QemuInstance,
    watcher: ConsoleWatcher,
    accel: AccelChoice,
    machine: MachineArch,
    logDir: string,
    consoleLog: string,
  ) {
    this.name = name;
    this.#qemu = qemu;
    this.console = watcher;
    this.accel = accel;
    this.machine = machine;
    this.logDir = logDir;
    this.consoleLog = consoleLog;

    qemu.serial.on('data', (b: Buffer) => watcher.push(b));
    const serialClosed = new Promise<void>((resolve) => qemu.serial.once('close', () => resolve()));
    this.#exited = qemu.exited.then(async (e) => {
      // Take every console byte QEMU wrote before it went, then tell pending waits why it ended.
      // The timer is cleared, not left pending: it kept every handover process alive 1 s after its work.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([serialClosed, new Promise((r) => (grace = setTimeout(r, 1000)))]);
      clearTimeout(grace);
      qemu.serial.destroy();
      await watcher.end(endOf(e, watcher));
      qemu.qmp.close();
      const exit: VmExit = {
        ...e,
        clean: e.shutdownReason === 'guest-shutdown' && watcher.crashes.length === 0,
        crashes: watcher.crashes,
      };
      this.#exit = exit;
      return exit;
    });
  }

  get pid(): number {
    return this.#qemu.pid;
  }
  get sshPort(): number {
    return this.#qemu.sshPort;
  }
  get qmp(): QmpClient {
    return this.#qemu.qmp;
  }
  get argv(): readonly string[] {
    return this.#qemu.argv;
  }
  get boots(): number {
    return this.console.boots;
  }
  get bootInfo(): readonly BootInfo[] {
    return this.console.bootInfo;
  }
  get crashes(): readonly Crash[] {
    return this.console.crashes;
  }
  get exit(): VmExit | undefined {
    return this.#exit;
  }

  bootLog(n: number): string {
    return this.console.bootLog(n);
  }
  onConsoleData(fn: (bytes: Buffer) => void): () => void {
    this.#qemu.serial.on('data', fn);
    return () => this.#qemu.serial.off('data', fn);
  }
  writeConsole(data: string | Buffer): void {
    const input = this.#qemu.input;
    if (input === undefined) throw new HandoverError('usage-error', 'this VM was started without an interactive console (serial: socket)');
    if (!input.destroyed) input.write(data);
  }
  waitForLine(re: RegExp, opts: WaitOptions): Promise<LineMatch> {
    return this.console.waitForLine(re, opts);
  }
  waitForBoot(n: number, opts: Omit<WaitOptions, 'boot'>): Promise<ConsoleLine> {
    return this.console.waitForBoot(n, opts);
  }
  waitFor<T>(strategy: WaitStrategy<T>): Promise<T> {
    return this.console.waitFor(strategy);
  }
  expectKexec(count = 1): number {
    return this.console.expectKexec(count);
  }
  onLine(fn: (line: ConsoleLine) => void): () => void {
    return this.console.onLine(fn);
  }
  onCrash(fn: (crash: Crash) => void): () => void {
    return this.console.onCrash(fn);
  }

  async waitForExit(opts: { deadlineMs: number; outcome?: WaitOptions['outcome'] }): Promise<VmExit> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new HandoverError(opts.outcome ?? 'vm-failed', `QEMU did not exit within ${opts.deadlineMs} ms`, {
              evidence: this.console.tail(),
              artifacts: { serial: this.consoleLog },
            }),
          ),
        opts.deadlineMs,
      );
    });
    try {
      return await Promise.race([this.#exited, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<VmExit> {
    this.#stopping ??= (async () => {
      if (this.#qemu.exit === undefined) {
        // No need to be gentle with the guest; QMP `quit` just lets QEMU close its files itself.
        await this.#qemu.qmp.execute('quit', undefined, 1000).catch(() => {});
        const t = setTimeout(() => this.#qemu.kill(), 2000);
        await this.#qemu.exited;
        clearTimeout(t);
      }
      return this.#exited;
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** What pending console waits are told when QEMU is gone. */
function endOf(e: QemuExit, watcher: ConsoleWatcher): ConsoleEnd {
  const how = `QEMU exited (${e.signal ?? `code ${e.code}`}${e.shutdownReason === undefined ? '' : `, ${e.shutdownReason}`})`;
  const firstCrash = watcher.crashes[0];
  if (firstCrash !== undefined) {
    return { outcome: 'kernel-crash', message: `${how} after a kernel crash: ${firstCrash.title}`, evidence: firstCrash.excerpt };
  }
  if (e.shutdownReason === 'guest-panic' || e.shutdownReason === 'guest-reset') {
    // With -no-reboot a reset ends QEMU: a reboot nobody asked for, or a triple fault.
    return { outcome: 'kernel-crash', message: `${how}: the guest reset without a crash report (triple fault or reboot)` };
  }
  const stderr = e.stderr.trim();
  return {
    outcome: 'vm-failed',
    message: `${how} before this appeared`,
    evidence: [...watcher.tail(30), ...(stderr === '' ? [] : ['--- QEMU stderr ---', ...stderr.split('\n').slice(-10)])],
  };
}
