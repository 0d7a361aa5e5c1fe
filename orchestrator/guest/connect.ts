// One SSH connection attempt to a guest through QEMU's loopback port forward, with the run's host
// key pinned, and the retry loop around it. Under QEMU user networking the forwarded port accepts
// TCP long before sshd listens, so "port open" means nothing: only a finished handshake counts.

import { connect as tcpConnect, type Socket } from 'node:net';
// ssh2 is CommonJS: Node's ESM loader gives it only a default export.
import ssh2, { type Client as SshClient, type ConnectConfig } from 'ssh2';

const { Client } = ssh2;
import { HandoverError } from '../errors.ts';
import type { RunKeys } from './keys.ts';

export interface SshEndpoint {
  /** The host side of the forward; always on 127.0.0.1. */
  readonly port: number;
  readonly keys: RunKeys;
  readonly user?: string;
}

export interface ConnectTuning {
  /**
   * Per attempt: from TCP connect to the server's first bytes. Slirp accepts the connection even
   * while the guest is down, and then only retries its SYN to the guest after seconds, so a
   * fresh connection soon is quicker than waiting on a silent one.
   */
  readonly bannerTimeoutMs?: number;
  /**
   * Per attempt, once the banner came: key exchange + authentication (~0.1 s under TCG). Short,
   * because a kernel that is kexec'ing away can send its banner and then never finish.
   */
  readonly handshakeTimeoutMs?: number;
  /** Keepalive probes let a vanished guest (kexec: no FIN through slirp) end the connection. */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
}

export const DEFAULT_TUNING = {
  bannerTimeoutMs: 300,
  handshakeTimeoutMs: 2000,
  // ~10 s: a TCG guest on a host busy building a kernel can miss a few seconds of probes; kexec is
  // noticed on the console, not by keepalive, so this only bounds a command whose guest vanished.
  keepaliveIntervalMs: 2000,
  keepaliveCountMax: 5,
} as const;

/** Why an attempt failed; only `transient` is worth another try. */
export type ConnectFailureKind = 'transient' | 'auth' | 'host-key';

export class ConnectError extends Error {
  readonly kind: ConnectFailureKind;
  readonly level: string | undefined;
  /** Which per-attempt limit ran out, if one did. */
  readonly timeout: 'banner' | 'handshake' | null;
  constructor(kind: ConnectFailureKind, message: string, level: string | undefined, opts: { timeout?: 'banner' | 'handshake'; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConnectError';
    this.kind = kind;
    this.level = level;
    this.timeout = opts.timeout ?? null;
  }
}

/**
 * The retry deadline ran out while the guest only failed transiently (no banner, a slow
 * handshake): it may still come up, unlike an auth or host-key failure. A class of its own so
 * callers tell the two apart by type, not by the message's words.
 */
export class SshNotReadyError extends HandoverError {
  constructor(message: string, opts: { evidence: readonly string[]; cause: unknown }) {
    super('ssh-failed', message, opts);
    this.name = 'SshNotReadyError';
  }
}

/** TCP-connect and wait for the server's first bytes (its SSH banner), which are pushed back unread. */
export function openWithBanner(port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // No Nagle: ssh2 writes a packet in pieces, and on loopback the piece held back waits for
    // the host kernel's delayed ACK (40 ms). Measured: an agent request 48 ms → 2 ms, an exec 110 → 14 ms.
    const sock = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
    let settled = false;
    const fail = (message: string, level: string, timeout?: 'banner'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(new ConnectError('transient', message, level, timeout === undefined ? {} : { timeout }));
    };
    const timer = setTimeout(() => fail(`no SSH banner within ${timeoutMs} ms`, 'client-timeout', 'banner'), timeoutMs);
    sock.once('data', (chunk: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.pause();
      sock.removeAllListeners();
      sock.unshift(chunk);
      resolve(sock);
    });
    sock.once('error', (err: Error) => fail(err.message, 'client-socket'));
    sock.once('close', () => fail('Connection lost before banner', 'protocol'));
  });
}

/** Connect once; resolves with a ready Client (with an error handler attached) or rejects with a ConnectError. */
export async function connectOnce(endpoint: SshEndpoint, tuning: ConnectTuning = {}): Promise<SshClient> {
  const t = { ...DEFAULT_TUNING, ...tuning };
  const sock = await openWithBanner(endpoint.port, t.bannerTimeoutMs);
  const expected = endpoint.keys.host.blob;
  let hostKeyRejected = false;
  const client = new Client();
  const config: ConnectConfig = {
    sock,
    username: endpoint.user ?? 'root',
    privateKey: endpoint.keys.client.privateKey,
    readyTimeout: t.handshakeTimeoutMs,
    keepaliveInterval: t.keepaliveIntervalMs,
    keepaliveCountMax: t.keepaliveCountMax,
    // Pinned: only the run's own host key is accepted, never "trust on first use".
    hostVerifier: (key: Buffer) => {
      const ok = Buffer.isBuffer(key) && key.equals(expected);
      if (!ok) hostKeyRejected = true;
      return ok;
    },
  };
  return new Promise<SshClient>((resolve, reject) => {
    let settled = false;
    // ssh2 can emit several errors for one failure (handshake timeout, then "connection lost").
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      if (err === null) {
        resolve(client);
        return;
      }
      client.destroy();
      reject(classify(err, hostKeyRejected));
    };
    client.on('error', (err: Error) => settle(err));
    client.on('close', () => settle(new Error('Connection closed before ready')));
    client.once('ready', () => settle(null));
    try {
      client.connect(config);
    } catch (err) {
      settle(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

function classify(err: Error, hostKeyRejected: boolean): ConnectError {
  const level = (err as { level?: string }).level;
  if (hostKeyRejected) {
    return new ConnectError('host-key', 'the guest presented a host key other than the run\'s pinned key', level, { cause: err });
  }
  if (level === 'client-authentication') {
    return new ConnectError('auth', `authentication failed: ${err.message}`, level, { cause: err });
  }
  // Before 'ready' the only timeout ssh2 reports (level client-timeout) is its readyTimeout: the
  // banner wait is openWithBanner's, and keepalive starts after the handshake.
  return new ConnectError('transient', err.message, level, level === 'client-timeout' ? { timeout: 'handshake', cause: err } : { cause: err });
}

export interface RetryOptions extends ConnectTuning {
  /** Give up after this many milliseconds from the call. */
  readonly deadlineMs: number;
  /** Pause between failed attempts. */
  readonly retryDelayMs?: number;
  readonly signal?: AbortSignal;
  /** Called after each failed transient attempt (for progress output). */
  readonly onRetry?: (attempt: number, error: ConnectError) => void;
}

export interface RetryResult {
  readonly client: SshClient;
  readonly attempts: number;
  readonly durationMs: number;
}

/**
 * Retry connectOnce until the deadline. Authentication and host-key failures end the wait at once:
 * they will not heal by waiting, and retrying would only hide the reason.
 */
export async function connectWithRetry(endpoint: SshEndpoint, opts: RetryOptions): Promise<RetryResult> {
  const started = performance.now();
  const deadline = started + opts.deadlineMs;
  const errors: string[] = [];
  // Consecutive timeouts stretch the next attempt's limits, so a guest too loaded to answer
  // within the defaults still gets in, while a quick retry stays the common case.
  let silent = 0;
  let slow = 0;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    const left = Math.max(100, deadline - performance.now());
    const bannerTimeoutMs = Math.min((opts.bannerTimeoutMs ?? DEFAULT_TUNING.bannerTimeoutMs) + 100 * silent, left);
    const baseHandshake = opts.handshakeTimeoutMs ?? DEFAULT_TUNING.handshakeTimeoutMs;
    const handshakeTimeoutMs = Math.min(baseHandshake * (1 + Math.min(slow, 4)), Math.max(left, 1000));
    try {
      const client = await connectOnce(endpoint, { ...opts, handshakeTimeoutMs, bannerTimeoutMs });
      return { client, attempts: attempt, durationMs: Math.round(performance.now() - started) };
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      if (err.kind !== 'transient') {
        throw new HandoverError('ssh-failed', `SSH to 127.0.0.1:${endpoint.port} failed: ${err.message}`, {
          cause: err,
          evidence: [`attempt ${attempt}: ${err.message}`],
        });
      }
      silent = err.timeout === 'banner' ? silent + 1 : 0;
      slow = err.timeout === 'handshake' ? slow + 1 : 0;
      errors.push(`attempt ${attempt}: ${err.message}`);
      opts.onRetry?.(attempt, err);
      if (performance.now() + (opts.retryDelayMs ?? 100) >= deadline) {
        throw new SshNotReadyError(
          `SSH to 127.0.0.1:${endpoint.port} not ready after ${Math.round(performance.now() - started)} ms (${attempt} attempts; last: ${err.message})`,
          { cause: err, evidence: errors.slice(-10) },
        );
      }
      await sleep(opts.retryDelayMs ?? 100, opts.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
