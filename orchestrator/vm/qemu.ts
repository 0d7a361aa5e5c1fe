// Starting one QEMU process: its command line, its QMP socket, its serial console, its SSH port.
//
// QMP: this process listens and QEMU connects as the client (`-chardev socket,path=…` without
// `server=on`) while parsing its command line, so there is no "socket file not there yet" polling
// nor the `wait=on` ordering trap. The serial console goes to a regular file that we follow
// (serial-tail.ts): a file never refuses a write, so no byte is dropped however busy the host is.
// Only an interactive console (`serial: 'socket'`) needs a socket, for the keys typed into it.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { registerQemu } from '../host/process-registry.ts';
import { findSetpriv } from '../host/process-group.ts';
import { tailSerialLog } from './serial-tail.ts';
import { QmpClient } from './qmp.ts';

export const DEFAULT_QEMU = 'qemu-system-x86_64';

export interface QemuArgsInput {
  readonly name: string;
  readonly kernel: string;
  readonly initrd?: string | undefined;
  readonly append: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  /** Accelerator flags from accel.ts, e.g. `-accel tcg,thread=multi -cpu max`. */
  readonly accelArgs: readonly string[];
  readonly qmpSocket: string;
  readonly serialSocket: string;
  readonly serialLog: string;
  /** file: output only, never loses a byte; socket: also takes input (interactive console). */
  readonly serial?: 'file' | 'socket' | undefined;
  readonly extraArgs?: readonly string[] | undefined;
  /** Another architecture's machine type and devices (machine-arch.ts); default x86_64's q35. */
  readonly machine?: MachineDevices | undefined;
}

/** What differs between the architectures' machines on the command line. */
export interface MachineDevices {
  readonly machineArgs: readonly string[];
  readonly netDevice: string;
  readonly rngDevice: string;
}

/** QEMU option values split on ',', so a literal comma in a path is written twice. */
const optValue = (s: string): string => s.replaceAll(',', ',,');

export function qemuArgs(i: QemuArgsInput): string[] {
  return [
    '-name', i.name,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    // q35, not the default i440fx pc: under TCG its kernel boot measured ~25 % faster cold and the
    // kexec'd kernel's ~45 % faster (blackout 2.7-3.0 s vs 4.0-4.3 s, alternating; README).
    ...(i.machine?.machineArgs ?? ['-machine', 'q35']),
    ...i.accelArgs,
    '-m', `${i.memoryMiB}M`,
    '-smp', String(i.cpus),
    // QMP first: both chardevs connect during argument parsing, in this order.
    '-chardev', `socket,id=qmp0,path=${optValue(i.qmpSocket)}`,
    '-mon', 'chardev=qmp0,mode=control',
    '-chardev',
    i.serial === 'socket'
      ? `socket,id=ser0,path=${optValue(i.serialSocket)},logfile=${optValue(i.serialLog)},logappend=off`
      : `file,id=ser0,path=${optValue(i.serialLog)}`,
    '-serial', 'chardev:ser0',
    // Port 0: the host picks a free port, bound to loopback only; read back through `info usernet`.
    '-netdev', 'user,id=n0,hostfwd=tcp:127.0.0.1:0-:22',
    '-device', `${i.machine?.netDevice ?? 'virtio-net-pci'},netdev=n0`,
    '-device', i.machine?.rngDevice ?? 'virtio-rng-pci',
    '-kernel', i.kernel,
    ...(i.initrd === undefined ? [] : ['-initrd', i.initrd]),
    '-append', i.append,
    ...(i.extraArgs ?? []),
  ];
}

/** Parses the forwarded host port for guest port 22 out of `info usernet`. */
export function parseUsernetPort(text: string): number | undefined {
  const m = /HOST_FORWARD\]\s+\d+\s+\S+\s+(\d+)\s+\S+\s+22\b/.exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * Spawns a command so that it dies with this process: through `setpriv --pdeathsig KILL`, which
 * execs, so the pid is the command's own. Registered for the exit/signal sweep until it exits.
 * pdeathsig fires when the spawning *thread* ends: spawn from the main thread, not a worker.
 */
export function spawnTied(command: string, args: readonly string[], stdio: 'pipe' | 'ignore-out'): ChildProcess {
  const setpriv = findSetpriv();
  const [file, argv] =
    setpriv === undefined ? [command, args] : [setpriv, ['--pdeathsig', 'KILL', '--', command, ...args]];
  const child = spawn(file, argv, {
    stdio: stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'ignore', 'pipe'],
  });
  if (child.pid !== undefined) {
    const unregister = registerQemu(child.pid);
    child.once('exit', unregister);
  }
  return child;
}

export interface QemuExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The QMP SHUTDOWN reason: `guest-shutdown` is a clean poweroff, `guest-reset` a reset/panic. */
  readonly shutdownReason: string | undefined;
  /** The tail of QEMU's stderr. */
  readonly stderr: string;
}

export interface QemuInstance {
  readonly pid: number;
  readonly argv: readonly string[];
  /** The console's bytes as QEMU wrote them. */
  readonly serial: Readable;
  /** Where typed input goes: only for an interactive console (`serial: 'socket'`). */
  readonly input: Socket | undefined;
  readonly qmp: QmpClient;
  readonly sshPort: number;
  /** Resolves once QEMU has exited and its QMP socket has been drained. */
  readonly exited: Promise<QemuExit>;
  readonly exit: QemuExit | undefined;
  kill(): void;
}

export interface LaunchOptions extends Omit<QemuArgsInput, 'qmpSocket' | 'serialSocket'> {
  readonly qemuBinary?: string | undefined;
  /** Private 0700 dir for the sockets; keep it short (unix socket paths are limited to 108 bytes). */
  readonly runtimeDir: string;
  /** Where QEMU's stderr is kept in full. */
  readonly stderrLog: string;
  /** QEMU must connect its sockets and answer QMP within this time. */
  readonly startDeadlineMs?: number | undefined;
}

const SUN_PATH_MAX = 107;

function listen(path: string): Promise<Server> {
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    throw new HandoverError('vm-failed', `socket path too long for a unix socket (${path.length} bytes): ${path}`);
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

function acceptOne(server: Server): Promise<Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

export async function launchQemu(opts: LaunchOptions): Promise<QemuInstance> {
  const qmpSocket = join(opts.runtimeDir, 'q');
  const serialSocket = join(opts.runtimeDir, 's');
  const argv = qemuArgs({ ...opts, qmpSocket, serialSocket });
  const binary = opts.qemuBinary ?? DEFAULT_QEMU;
  const deadlineMs = opts.startDeadlineMs ?? 15_000;

  const interactive = opts.serial === 'socket';
  const servers = await Promise.all([listen(qmpSocket), ...(interactive ? [listen(serialSocket)] : [])]);
  const [qmpServer, serialServer] = servers;
  const qmpConn = acceptOne(qmpServer);
  // The file exists (empty) before QEMU starts, so following it never races QEMU's open.
  const tail = interactive ? undefined : await tailSerialLog(opts.serialLog);
  const serialConn: Promise<Readable> =
    serialServer === undefined ? Promise.resolve((tail as NonNullable<typeof tail>).stream) : acceptOne(serialServer);

  const child = spawnTied(binary, argv, 'ignore-out');
  let stderr = '';
  const stderrFile = createWriteStream(opts.stderrLog);
  stderrFile.on('error', () => {});
  child.stderr?.on('data', (b: Buffer) => {
    stderrFile.write(b);
    stderr = (stderr + b.toString()).slice(-8192);
  });

  let exit: QemuExit | undefined;
  let qmp: QmpClient | undefined;
  let shutdownReason: string | undefined;
  const exited = new Promise<QemuExit>((resolve) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      stderrFile.end();
      exit = { code, signal, shutdownReason, stderr };
      // Everything QEMU wrote is in the file now: read the rest, then end the console stream.
      void (tail?.stop() ?? Promise.resolve()).finally(() => resolve(exit as QemuExit));
    };
    child.once('error', () => finish(null, null));
    child.once('exit', (code, signal) => {
      // The SHUTDOWN event may still be in flight on the QMP socket: give it a moment to drain.
      const t = setTimeout(() => finish(code, signal), 1000);
      const closedNow = (): void => {
        clearTimeout(t);
        finish(code, signal);
      };
      if (qmp === undefined || qmp.closed) closedNow();
      else qmp.onClosed(closedNow);
    });
  });

  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(new HandoverError('vm-failed', `cannot start ${binary}: ${err.message}`, { cause: err })),
    );
    void exited.then((e) => {
      reject(
        new HandoverError('vm-failed', `QEMU exited during start-up (code ${e.code}, signal ${e.signal})`, {
          evidence: e.stderr.trim().split('\n').slice(-20),
        }),
      );
    });
  });
  spawnError.catch(() => {}); // observed below; avoid an unhandled rejection once we are past start-up

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HandoverError('vm-failed', `QEMU did not connect its QMP and serial sockets within ${deadlineMs} ms`, {
            evidence: stderr.trim().split('\n').slice(-20),
          }),
        ),
      deadlineMs,
    );
  });

  try {
    const [qmpSock, serial] = await Promise.race([Promise.all([qmpConn, serialConn]), spawnError, deadline]);
    serial.on('error', () => {}); // a reset at QEMU exit is expected; 'close' ends the console
    qmp = await Promise.race([QmpClient.open(qmpSock, deadlineMs), spawnError, deadline]);
    qmp.on('SHUTDOWN', (ev) => {
      if (typeof ev.data.reason === 'string') shutdownReason = ev.data.reason;
    });
    const usernet = await Promise.race([qmp.hmp('info usernet'), spawnError, deadline]);
    const sshPort = parseUsernetPort(usernet);
    if (sshPort === undefined) {
      throw new HandoverError('vm-failed', 'no SSH host forward in QMP `info usernet`', {
        evidence: usernet.split(/\r?\n/),
      });
    }
    const pid = child.pid;
    if (pid === undefined) throw new HandoverError('vm-failed', `cannot start ${binary}: no pid`);
    const q = qmp;
    return {
      pid,
      argv: [binary, ...argv],
      serial,
      input: interactive ? (serial as Socket) : undefined,
      qmp: q,
      sshPort,
      exited,
      get exit() {
        return exit;
      },
      kill: () => {
        if (exit === undefined) child.kill('SIGKILL');
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    const e = await exited;
    qmp?.close();
    if (err instanceof HandoverError) throw err;
    // QEMU dying in the QMP handshake (e.g. it cannot map the guest's memory) resets the socket
    // before its exit is seen: still QEMU failing to start, with its stderr as the evidence.
    throw new HandoverError('vm-failed', `QEMU failed during start-up: ${err instanceof Error ? err.message : String(err)}`, {
      evidence: e.stderr.trim().split('\n').slice(-20),
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    for (const s of servers) s.close();
  }
}
