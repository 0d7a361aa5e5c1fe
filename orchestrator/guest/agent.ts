// Host side of the guest agent: starts the holder daemon (`handover-agent serve`) over a Guest and
// sends it typed requests on one long-lived SSH channel (`handover-agent ctl --stream`, one request
// line out, one reply line back): a request costs a channel write, a batch of N one round trip.
//
// What the agent or the kernel answers, including every errno, is a result (`ok:false`), never an
// exception. Exceptions are for the transport: the daemon is gone (`step-failed`, e.g. it exited or
// the kernel was kexec'd under it), the SSH connection dropped (`ssh-failed`), or a reply that does
// not fit the protocol (`internal-error`).

import { HandoverError } from '../errors.ts';
import type { Guest } from './guest.ts';
import { LineChannel } from './line-channel.ts';
import {
  type AgentOk,
  type AgentRequest,
  type AgentResult,
  type BatchResults,
  type Caps,
  decodeCaps,
  decodeReply,
  decodeServe,
  type Direction,
  encodeRequest,
  type MemfdSpec,
  type Op,
  parseLine,
  type RequestFields,
  type ServeResult,
  type Target,
  type Token,
} from './agent-protocol.ts';

export type * from './agent-protocol.ts';
export { ERRNO_NAMES, isErrno, memfdContents, memfdSha256 } from './agent-protocol.ts';

export const AGENT_COMMAND = 'handover-agent';

export interface AgentOptions {
  /** Per SSH exec. Default 120 s: filling and hashing 256 MiB under TCG takes ~15 s. */
  timeoutMs?: number;
  /** Sees every exchange's raw lines (for reports, or to record fixtures). */
  onExchange?: (exchange: AgentExchange) => void;
}

export interface AgentExchange {
  readonly requests: readonly string[];
  readonly replies: readonly string[];
  /** 0 every reply ok, 1 some ok:false (as `ctl` would exit). */
  readonly exitCode: number | null;
  readonly durationMs: number;
}

export type Served = Extract<ServeResult, { ok: true }>;

const DEFAULT_TIMEOUT_MS = 120_000;

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/**
 * Runs `handover-agent serve` and returns its line: ok once the daemon holds /dev/liveupdate and
 * listens, or the errno of what stopped it (ENOENT: LUO off; EBUSY: already held; EIO: the
 * incoming sessions failed to deserialize).
 */
export async function serveAgent(guest: Guest, opts: AgentOptions = {}): Promise<ServeResult> {
  const r = await guest.exec([AGENT_COMMAND, 'serve'], { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const line = lines(r.stdout)[0];
  if (line === undefined) {
    throw new HandoverError('step-failed', `${AGENT_COMMAND} serve printed nothing (exit ${r.exitCode})`, {
      evidence: lines(r.stderr).slice(-10),
    });
  }
  return decodeServe(line);
}

/** Starts the holder daemon; failing to start it is a `step-failed` error carrying its errno. */
export async function startAgent(guest: Guest, opts: AgentOptions = {}): Promise<Agent> {
  const served = await serveAgent(guest, opts);
  if (!served.ok) {
    throw new HandoverError('step-failed', `${AGENT_COMMAND} serve failed: ${served.errno} from ${served.call}: ${served.message}`, {
      evidence: [JSON.stringify(served)],
    });
  }
  return new Agent(guest, served, opts);
}

/**
 * `handover-agent caps`. By default it opens /dev/liveupdate once to see whether it can (the first
 * open after a kexec is the one that deserializes the incoming sessions); `open: false` skips that.
 */
export async function agentCaps(guest: Guest, opts: { open?: boolean; timeoutMs?: number } = {}): Promise<Caps> {
  const argv = [AGENT_COMMAND, 'caps', ...(opts.open === false ? ['--no-open'] : [])];
  const r = await guest.run(argv, { timeoutMs: opts.timeoutMs ?? 30_000 });
  const line = lines(r.stdout)[0];
  if (line === undefined) throw new HandoverError('internal-error', `${AGENT_COMMAND} caps printed nothing`);
  return decodeCaps(line);
}

/** The result if ok, else a `step-failed` error naming the errno: for steps that must work. */
export function expectOk<O extends Op>(result: AgentResult<O>): AgentOk<O> {
  if (result.ok) return result;
  throw new HandoverError('step-failed', `agent ${result.op} failed: ${result.errno} from ${result.call}: ${result.message}`, {
    evidence: [JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))],
  });
}

/** A running holder daemon in the guest. */
export class Agent {
  readonly guest: Guest;
  readonly served: Served;
  private readonly timeoutMs: number;
  private readonly onExchange: ((exchange: AgentExchange) => void) | undefined;
  private stream: LineChannel | undefined;

  constructor(guest: Guest, served: Served, opts: AgentOptions = {}) {
    this.guest = guest;
    this.served = served;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onExchange = opts.onExchange;
  }

  /** Several requests in one exec; replies in the same order, each typed by its request. */
  async batch<const T extends readonly AgentRequest[]>(requests: T): Promise<BatchResults<T>> {
    return (await this.exchange(requests)) as BatchResults<T>;
  }

  async request<R extends AgentRequest>(request: R): Promise<AgentResult<R['op']>> {
    const [result] = await this.exchange([request]);
    return result as AgentResult<R['op']>;
  }

  status(): Promise<AgentResult<'status'>> {
    return this.request({ op: 'status' });
  }

  list(): Promise<AgentResult<'list'>> {
    return this.request({ op: 'list' });
  }

  createSession(name: string, raw: { structSize?: number; junk?: boolean } = {}): Promise<AgentResult<'create-session'>> {
    return this.request({ op: 'create-session', name, ...raw });
  }

  retrieveSession(name: string): Promise<AgentResult<'retrieve-session'>> {
    return this.request({ op: 'retrieve-session', name });
  }

  /** Closes the session fd (an outgoing session's files are unpreserved; an incoming one finishes). */
  closeSession(name: string, direction?: Direction): Promise<AgentResult<'close-session'>> {
    return this.request({ op: 'close-session', name, ...(direction === undefined ? {} : { direction }) });
  }

  createMemfd(spec: MemfdSpec): Promise<AgentResult<'create-memfd'>> {
    return this.request({ op: 'create-memfd', ...spec });
  }

  closeMemfd(id: string): Promise<AgentResult<'close-memfd'>> {
    return this.request({ op: 'close-memfd', id });
  }

  preserve(session: string, token: Token, memfd: string, opts: { closeMemfd?: boolean } = {}): Promise<AgentResult<'preserve'>> {
    return this.request({ op: 'preserve', session, token, memfd, ...opts });
  }

  preserveFd(session: string, token: Token, what: { path: string } | { fd: number }): Promise<AgentResult<'preserve-fd'>> {
    return this.request({ op: 'preserve-fd', session, token, ...what });
  }

  retrieveFd(session: string, token: Token): Promise<AgentResult<'retrieve-fd'>> {
    return this.request({ op: 'retrieve-fd', session, token });
  }

  /** Reads the target whole and compares what is given (size, sha256, seals, pos): see `match`. */
  verify(request: RequestFields['verify']): Promise<AgentResult<'verify'>> {
    return this.request({ op: 'verify', ...request });
  }

  writeMemfd(target: Target, data: string, offset = 0): Promise<AgentResult<'write-memfd'>> {
    return this.request({ op: 'write-memfd', ...target, data, offset });
  }

  truncate(target: Target, size: number): Promise<AgentResult<'truncate'>> {
    return this.request({ op: 'truncate', ...target, size });
  }

  finish(session: string, opts: { reserved?: number } = {}): Promise<AgentResult<'finish'>> {
    return this.request({ op: 'finish', session, ...opts });
  }

  getName(session: string): Promise<AgentResult<'get-name'>> {
    return this.request({ op: 'get-name', session });
  }

  /** Closes every fd and ends the daemon: when this returns, nothing is held any more. */
  exit(): Promise<AgentResult<'exit'>> {
    return this.request({ op: 'exit' });
  }

  /** caps without opening /dev/liveupdate (this daemon holds it, so an open would say EBUSY). */
  caps(): Promise<Caps> {
    return agentCaps(this.guest, { open: false, timeoutMs: this.timeoutMs });
  }

  /** The channel to the daemon, opened again when the last one ended (a reconnect, a kexec). */
  private async channel(): Promise<LineChannel> {
    if (this.stream?.open !== true) this.stream = new LineChannel(await this.guest.openChannel([AGENT_COMMAND, 'ctl', '--stream']));
    return this.stream;
  }

  private async exchange(requests: readonly AgentRequest[]): Promise<AgentResult[]> {
    if (requests.length === 0) return [];
    const sent = requests.map(encodeRequest);
    const { replies, durationMs } = await (await this.channel()).exchange(sent, Math.round(this.timeoutMs * this.guest.timeScale));
    // ctl's own {"ok":false,"op":"ctl",...} line: the daemon is gone (or was never reachable).
    const transport = replies.map(transportFailure).find((w) => w !== undefined);
    const exitCode = transport !== undefined ? 2 : replies.every((l) => l.startsWith('{"ok":true')) ? 0 : 1;
    this.onExchange?.({ requests: sent, replies, exitCode, durationMs });
    if (transport !== undefined) {
      // The next request opens a new channel only once this one is gone on both sides: seen once
      // under load, an exec right after a daemon's exit was closed at once ("Unable to exec").
      this.stream?.close();
      await this.stream?.whenClosed(5000);
      throw new HandoverError('step-failed', `${AGENT_COMMAND} ctl: ${transport}`, { evidence: replies.slice(-5) });
    }
    const results = requests.map((req, i) => decodeReply(req.op, replies[i] ?? ''));
    // An exit holds nothing once the daemon has dropped the connection (ctl then ends the channel).
    if (results.some((r) => r.op === 'exit' && r.ok)) await this.stream?.whenClosed(5000);
    return results;
  }
}

/** The message of ctl's own {"ok":false,"op":"ctl",...} line, if that is what it is. */
function transportFailure(line: string | undefined): string | undefined {
  if (line === undefined) return undefined;
  try {
    const v = parseLine(line);
    if (typeof v === 'object' && v !== null && 'op' in v && v.op === 'ctl' && 'message' in v && 'errno' in v) {
      return `${String(v.errno)}: ${String(v.message)}`;
    }
  } catch {
    // not a ctl line; the caller reports the exit status
  }
  return undefined;
}
