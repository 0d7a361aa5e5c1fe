// A Guest: the SSH session to a booted handover guest. Commands go as argv (quoted for the
// guest's busybox sh), results carry exit code, signal, output and duration. A connection that
// drops mid-command is an error, never a silent success: kexec and crashes look exactly like that.

import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { HandoverError } from '../errors.ts';
import { type ConnectTuning, connectWithRetry, type SshEndpoint, SshNotReadyError } from './connect.ts';
import { quoteArgv } from './shell-quote.ts';

export interface ExecOptions {
  /** Kill the channel and fail with `step-failed` after this long (times the guest's `timeScale`). Default 60 s. */
  readonly timeoutMs?: number;
  /** Written to the command's stdin, which is then closed (it is always closed). */
  readonly input?: string | Buffer;
  /** Cap on each of stdout and stderr kept in memory; beyond it output is dropped (and flagged). */
  readonly maxOutputBytes?: number;
}

export interface ExecResult {
  readonly argv: readonly string[];
  /** null when the command died of a signal. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly truncated: boolean;
}

export interface WaitReadyOptions extends SshEndpoint, ConnectTuning {
  /** How long to keep trying, in ms from the call. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
  readonly log?: (message: string) => void;
}

export interface ReconnectOptions {
  /** boot_id read before the kexec; the new connection must show a different one. */
  readonly previousBootId: string;
  /** If given, `uname -r` of the new kernel must equal it. */
  readonly expectRelease?: string;
  /** How long to wait for the new kernel's sshd, in ms from the call. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
}

export interface RebootProof {
  readonly bootId: string;
  readonly release: string;
  /** From the call to the first command that ran on the new boot. */
  readonly durationMs: number;
  readonly attempts: number;
}

interface ChannelExit {
  /** null when the command died of a signal. */
  readonly code: number | null;
  readonly signal: string | null;
}

const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Guest implements AsyncDisposable {
  private client: Client;
  private connected = true;
  /** The last error ssh2 reported on the current connection. */
  private connectionError: string | undefined;
  private readonly endpoint: SshEndpoint;
  private readonly tuning: ConnectTuning;
  private readonly log: (message: string) => void;
  /**
   * Every command's time limit is multiplied by this: a kernel that runs slower by design (a
   * KASAN profile under TCG, see `timeScaleOf`) gets proportionally longer, not a timeout.
   */
  timeScale = 1;

  private constructor(client: Client, endpoint: SshEndpoint, tuning: ConnectTuning, log: (m: string) => void) {
    this.client = client;
    this.endpoint = endpoint;
    this.tuning = tuning;
    this.log = log;
    this.watch(client);
  }

  /** Wait until the guest's sshd completes a handshake and accepts the run's key. */
  static async waitReady(opts: WaitReadyOptions): Promise<Guest> {
    const log = opts.log ?? ((): void => {});
    const started = performance.now();
    const { client, attempts, durationMs } = await connectWithRetry(opts, {
      ...tuningOf(opts),
      deadlineMs: opts.deadlineMs,
      onRetry: (n, e) => log(`ssh: attempt ${n} failed at ${Math.round(performance.now() - started)} ms: ${e.message}`),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    log(`ssh: connected to 127.0.0.1:${opts.port} after ${durationMs} ms (${attempts} attempts)`);
    return new Guest(client, { port: opts.port, keys: opts.keys, ...(opts.user === undefined ? {} : { user: opts.user }) }, tuningOf(opts), log);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** An interactive login shell on a PTY (`handover shell`); the caller wires it to a terminal. */
  openShell(window: { rows: number; cols: number; term: string }): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.shell({ rows: window.rows, cols: window.cols, term: window.term }, (err, channel) => {
        if (err === undefined || err === null) resolve(channel);
        else reject(new HandoverError('ssh-failed', `could not open a shell: ${err.message}`));
      });
    });
  }

  /** Run argv in the guest and collect its result; a non-zero exit is a result, not an error. */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const command = quoteArgv(argv);
    const timeoutMs = Math.round((opts.timeoutMs ?? 60_000) * this.timeScale);
    const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
    const started = performance.now();
    return new Promise<ExecResult>((resolve, reject) => {
      const out = new Collector(max);
      const err = new Collector(max);
      let channel: ClientChannel | undefined;
      let exit: ChannelExit | undefined;
      let done = false;
      const finish = (fail: HandoverError | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (fail !== null) {
          channel?.destroy();
          reject(fail);
          return;
        }
        resolve({
          argv: [...argv],
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          stdout: out.text(),
          stderr: err.text(),
          durationMs: Math.round(performance.now() - started),
          truncated: out.truncated || err.truncated,
        });
      };
      const evidence = (): string[] => [`$ ${command}`, ...tail(out.text(), 10), ...tail(err.text(), 10).map((l) => `stderr: ${l}`)];
      const timer = setTimeout(() => {
        finish(new HandoverError('step-failed', `command timed out after ${timeoutMs} ms: ${command}`, { evidence: evidence() }));
      }, timeoutMs);
      this.openExec(command, (ch, exited) => {
        channel = ch;
        ch.on('data', (d: Buffer) => out.push(d));
        ch.stderr.on('data', (d: Buffer) => err.push(d));
        ch.on('close', () => {
          // The exit status, once it arrived, is the result even if the connection then closed.
          exit = exited();
          if (exit !== undefined) finish(null);
          else finish(new HandoverError('ssh-failed', `connection lost while running: ${command}${this.lostBecause()}`, { evidence: evidence() }));
        });
        ch.on('error', (e: Error) => {
          finish(new HandoverError('ssh-failed', `channel error while running ${command}: ${e.message}`, { cause: e, evidence: evidence() }));
        });
        ch.end(opts.input ?? undefined);
      }).catch((e: unknown) => finish(e instanceof HandoverError ? e : new HandoverError('ssh-failed', String(e))));
    });
  }

  /** exec, but a non-zero exit or a signal is an error (`step-failed`) carrying the output. */
  async run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(argv, opts);
    if (r.exitCode === 0) return r;
    const how = r.signal === null ? `exit ${r.exitCode}` : `signal ${r.signal}`;
    throw new HandoverError('step-failed', `${quoteArgv(argv)} failed (${how})`, {
      evidence: [...tail(r.stdout, 10), ...tail(r.stderr, 10).map((l) => `stderr: ${l}`)],
    });
  }

  /**
   * Start argv detached from the SSH session (own session, stdin from /dev/null, output to the
   * guest console so failures show in the serial log) after `delayMs`, and return as soon as the
   * guest shell has forked it. For `kexec -e`: the delay lets this exec finish cleanly before
   * the kernel goes away, since a kexec never closes the TCP connection. `until` (e.g. the new
   * banner on the console) also counts as done: the command ran even if its close never came.
   */
  async execDetached(argv: readonly string[], opts: { delayMs?: number; until?: Promise<unknown> } = {}): Promise<void> {
    // With `until` a lost close costs nothing, so the kexec need not wait long for it.
    const delay = ((opts.delayMs ?? (opts.until === undefined ? 200 : 30)) / 1000).toFixed(3);
    const inner = quoteArgv(['setsid', 'sh', '-c', 'sleep "$0"; exec "$@"', delay, ...argv]);
    const command = `${inner} </dev/null >/dev/console 2>&1 &`;
    let closed: () => void = () => {};
    const whenClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    let exited: () => ChannelExit | undefined = () => undefined;
    const channel = await this.openExec(command, (ch, ex) => {
      exited = ex;
      ch.on('close', () => closed());
      ch.resume();
      ch.stderr.resume();
      ch.end();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 10_000);
    });
    // `until`: proof from elsewhere (the console) that the command ran, e.g. the kexec'd banner.
    const elsewhere = opts.until?.then(
      () => 'elsewhere' as const,
      () => new Promise<never>(() => {}),
    );
    const r = await Promise.race([whenClosed, timedOut, ...(elsewhere === undefined ? [] : [elsewhere])]);
    clearTimeout(timer);
    if (r === 'timeout') {
      channel.destroy();
      throw new HandoverError('step-failed', `could not start detached: ${command}`);
    }
    if (r === 'elsewhere') {
      channel.destroy();
      return;
    }
    // No exit status means the guest went away already: what the command was for.
    const code = exited()?.code;
    if (code !== undefined && code !== 0) throw new HandoverError('step-failed', `starting ${command} exited ${code ?? exited()?.signal}`);
  }

  /**
   * argv on a channel left open: its stdin and stdout are the caller's (a long-lived line protocol,
   * e.g. the agent's `ctl --stream`). The channel closes when the command exits or the connection goes.
   */
  openChannel(argv: readonly string[]): Promise<ClientChannel> {
    return this.openExec(quoteArgv(argv), () => {});
  }

  async bootId(): Promise<string> {
    const r = await this.run(['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs: 15_000 });
    const id = r.stdout.trim();
    if (!BOOT_ID.test(id)) throw new HandoverError('step-failed', `unexpected boot_id: ${JSON.stringify(id)}`);
    return id;
  }

  /** boot_id and `uname -r` in one round trip (both from /proc). */
  async bootIdAndRelease(): Promise<{ bootId: string; release: string }> {
    const r = await this.run(['cat', '/proc/sys/kernel/random/boot_id', '/proc/sys/kernel/osrelease'], { timeoutMs: 15_000 });
    const [id = '', release = ''] = r.stdout.split('\n').map((l) => l.trim());
    if (!BOOT_ID.test(id)) throw new HandoverError('step-failed', `unexpected boot_id: ${JSON.stringify(id)}`);
    return { bootId: id, release };
  }

  async kernelRelease(): Promise<string> {
    return (await this.run(['uname', '-r'], { timeoutMs: 15_000 })).stdout.trim();
  }

  /** Replace the connection with a fresh one (e.g. after it dropped); same endpoint and pinned key. */
  async reconnect(opts: { deadlineMs: number; signal?: AbortSignal }): Promise<void> {
    this.dropConnection();
    const { client } = await connectWithRetry(this.endpoint, {
      ...this.tuning,
      deadlineMs: opts.deadlineMs,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    this.client = client;
    this.connected = true;
    this.watch(client);
  }

  /**
   * After `kexec -e`: drop the old connection, reconnect until a guest with a *different* boot_id
   * answers (the old kernel may still answer for a moment), and check the release. Failure to see
   * a new boot in time is `kexec-timeout`. The host key is pinned, so the new kernel must have
   * booted the run's initrd.
   */
  async reconnectAfterKexec(opts: ReconnectOptions): Promise<RebootProof> {
    const started = performance.now();
    const deadline = started + opts.deadlineMs;
    this.dropConnection();
    let attempts = 0;
    let sawOldBoot = 0;
    let lastError = '';
    while (performance.now() < deadline) {
      opts.signal?.throwIfAborted();
      let client: Client;
      try {
        const r = await connectWithRetry(this.endpoint, {
          ...this.tuning,
          deadlineMs: Math.max(1, deadline - performance.now()),
          onRetry: (n, e) => this.log(`ssh: reconnect attempt ${attempts + n} at ${Math.round(performance.now() - started)} ms: ${e.message}`),
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        });
        attempts += r.attempts;
        client = r.client;
      } catch (err) {
        if (err instanceof SshNotReadyError) {
          lastError = err.message;
          break;
        }
        throw err;
      }
      this.client = client;
      this.connected = true;
      this.watch(client);
      let bootId: string;
      let release: string;
      try {
        ({ bootId, release } = await this.bootIdAndRelease());
      } catch (err) {
        // The old kernel can vanish between handshake and command; that is progress, retry.
        lastError = err instanceof Error ? err.message : String(err);
        this.dropConnection();
        continue;
      }
      if (bootId === opts.previousBootId) {
        sawOldBoot++;
        this.log(`ssh: old boot still answering at ${Math.round(performance.now() - started)} ms`);
        this.dropConnection();
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const durationMs = Math.round(performance.now() - started);
      this.log(`ssh: new boot ${bootId} (${release}) after ${durationMs} ms`);
      if (opts.expectRelease !== undefined && release !== opts.expectRelease) {
        throw new HandoverError('step-failed', `after kexec the kernel is ${release}, expected ${opts.expectRelease}`, {
          evidence: [`boot_id ${bootId}`],
        });
      }
      return { bootId, release, durationMs, attempts };
    }
    throw new HandoverError('kexec-timeout', `no new boot answered SSH within ${opts.deadlineMs} ms after kexec`, {
      evidence: [
        `previous boot_id ${opts.previousBootId}`,
        `old kernel still answered ${sawOldBoot} time(s)`,
        ...(lastError === '' ? [] : [`last error: ${lastError}`]),
      ],
    });
  }

  /** Upload a host file (SFTP). */
  async upload(localPath: string, remotePath: string, opts: { mode?: number } = {}): Promise<void> {
    await this.withSftp(`upload ${localPath} -> ${remotePath}`, (sftp, cb) =>
      sftp.fastPut(localPath, remotePath, opts.mode === undefined ? {} : { mode: opts.mode }, cb),
    );
  }

  /** Download a guest file (SFTP). */
  async download(remotePath: string, localPath: string): Promise<void> {
    await this.withSftp(`download ${remotePath} -> ${localPath}`, (sftp, cb) => sftp.fastGet(remotePath, localPath, {}, cb));
  }

  /** Write bytes to a guest file (SFTP). */
  async writeFile(remotePath: string, data: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
    await this.withSftp(`write ${remotePath}`, (sftp, cb) =>
      sftp.writeFile(remotePath, data, opts.mode === undefined ? {} : { mode: opts.mode }, cb),
    );
  }

  /** Read a guest file (SFTP). */
  async readFile(remotePath: string): Promise<Buffer> {
    let out: Buffer = Buffer.alloc(0);
    await this.withSftp(`read ${remotePath}`, (sftp, cb) =>
      sftp.readFile(remotePath, (err, data) => {
        if (!err) out = data;
        cb(err ?? null);
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    const client = this.client;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 2000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
    this.connected = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private watch(client: Client): void {
    this.connectionError = undefined;
    client.on('error', (e: Error) => {
      if (this.client === client) this.connectionError = e.message;
    });
    client.on('close', () => {
      if (this.client === client) this.connected = false;
    });
  }

  /** Forget the current connection without a goodbye: after kexec the peer is gone. */
  private dropConnection(): void {
    this.connected = false;
    this.client.destroy();
  }

  /**
   * Opens an exec channel and hands it to `attach` synchronously, inside ssh2's callback: a quick
   * command's output, exit status and close can arrive in the same read as the exec's reply,
   * and ssh2 emits 'exit' while parsing it, before an awaiting caller could listen. `exited()`
   * gives the status recorded from then on (undefined if none came).
   */
  private openExec(
    command: string,
    attach: (channel: ClientChannel, exited: () => ChannelExit | undefined) => void,
  ): Promise<ClientChannel> {
    if (!this.connected) return Promise.reject(new HandoverError('ssh-failed', `not connected (running: ${command})`));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) {
          reject(new HandoverError('ssh-failed', `could not start ${command}: ${err.message}`, { cause: err }));
          return;
        }
        let exit: ChannelExit | undefined;
        channel.on('exit', (code: number | null, sig?: string) => {
          exit = { code: typeof code === 'number' ? code : null, signal: typeof sig === 'string' ? sig : null };
        });
        attach(channel, () => exit);
        resolve(channel);
      });
    });
  }

  /** Why the connection went away, when ssh2 said (e.g. a keepalive timeout), for error messages. */
  private lostBecause(): string {
    return this.connectionError === undefined ? '' : ` (connection: ${this.connectionError})`;
  }

  private async withSftp(what: string, op: (sftp: SFTPWrapper, cb: (err: Error | null | undefined) => void) => void): Promise<void> {
    if (!this.connected) throw new HandoverError('ssh-failed', `not connected (${what})`);
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, s) => {
        if (err) reject(new HandoverError('ssh-failed', `SFTP session failed (${what}): ${err.message}`, { cause: err }));
        else resolve(s);
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        // If the connection drops, the SFTP channel closes without calling back: fail then.
        const onClose = (): void => reject(new HandoverError('ssh-failed', `connection lost during SFTP ${what}`));
        sftp.once('close', onClose);
        op(sftp, (err) => {
          sftp.removeListener('close', onClose);
          if (err) reject(new HandoverError('step-failed', `SFTP ${what} failed: ${err.message}`, { cause: err }));
          else resolve();
        });
      });
    } finally {
      // Wait for the SFTP channel to be closed on both sides before the next request goes out.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        sftp.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        sftp.end();
      });
    }
  }
}

function tuningOf(t: ConnectTuning): ConnectTuning {
  return {
    ...(t.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: t.handshakeTimeoutMs }),
    ...(t.bannerTimeoutMs === undefined ? {} : { bannerTimeoutMs: t.bannerTimeoutMs }),
    ...(t.keepaliveIntervalMs === undefined ? {} : { keepaliveIntervalMs: t.keepaliveIntervalMs }),
    ...(t.keepaliveCountMax === undefined ? {} : { keepaliveCountMax: t.keepaliveCountMax }),
  };
}

class Collector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  push(d: Buffer): void {
    if (this.size >= this.max) {
      this.truncated = true;
      return;
    }
    const part = d.subarray(0, this.max - this.size);
    if (part.length < d.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function tail(text: string, n: number): string[] {
  return text.split('\n').filter((l) => l.trim() !== '').slice(-n);
}
