// Request lines out, reply lines back, on one SSH channel kept open (the agent's `ctl --stream`):
// a request costs a write on an open channel instead of an SSH exec and a guest process. The
// channel's death (the command exited, the daemon went, the connection dropped) fails the exchange
// in flight and every later one, with what the command last said.

import type { ClientChannel } from 'ssh2';
import { HandoverError } from '../errors.ts';

export interface LineReplies {
  readonly replies: string[];
  readonly durationMs: number;
}

export class LineChannel {
  private readonly channel: ClientChannel;
  private buffered = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private closedWith: string | undefined;
  private stderr = '';
  private busy: Promise<unknown> = Promise.resolve();
  private readonly ended: Promise<void>;

  constructor(channel: ClientChannel) {
    this.channel = channel;
    channel.on('data', (d: Buffer) => {
      this.buffered += d.toString('utf8');
      const parts = this.buffered.split('\n');
      this.buffered = parts.pop() ?? '';
      for (const l of parts) if (l.trim() !== '') this.lines.push(l);
      this.waiter?.();
    });
    channel.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-4096);
    });
    let ended: () => void = () => {};
    this.ended = new Promise((resolve) => {
      ended = resolve;
    });
    const closed = (why: string): void => {
      this.closedWith ??= why;
      ended();
      this.waiter?.();
    };
    channel.on('close', () => closed('the channel closed'));
    channel.on('error', (e: Error) => closed(`channel error: ${e.message}`));
  }

  /** Open, as far as this side knows (a vanished guest is noticed by keepalive or a timeout). */
  get open(): boolean {
    return this.closedWith === undefined;
  }

  get stderrTail(): string[] {
    return this.stderr.split('\n').filter((l) => l.trim() !== '').slice(-5);
  }

  /**
   * Sends the lines and resolves with exactly as many reply lines. Fails (`step-failed`) when the
   * channel closes first, carrying the lines that did come (e.g. the command's own failure line).
   */
  exchange(requests: readonly string[], timeoutMs: number): Promise<LineReplies> {
    const run = this.busy.then(() => this.send(requests, timeoutMs));
    this.busy = run.catch(() => {});
    return run;
  }

  /** Resolves when the channel has closed (the command exited), or after `ms` regardless. */
  async whenClosed(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /** Ends this side (EOF), unless the channel has closed already. */
  close(): void {
    if (this.open) this.channel.end();
  }

  private send(requests: readonly string[], timeoutMs: number): Promise<LineReplies> {
    const started = performance.now();
    return new Promise<LineReplies>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        // Replies that come later would be taken for the next exchange's: this channel is done.
        this.closedWith ??= `no reply within ${timeoutMs} ms`;
        this.channel.destroy();
        reject(new HandoverError('step-failed', `agent: ${requests.length - this.lines.length} of ${requests.length} replies missing after ${timeoutMs} ms`, { evidence: this.lines.splice(0) }));
      }, timeoutMs);
      const check = (): void => {
        if (this.lines.length >= requests.length) {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve({ replies: this.lines.splice(0, requests.length), durationMs: Math.round(performance.now() - started) });
          return;
        }
        if (this.closedWith !== undefined) {
          clearTimeout(timer);
          this.waiter = undefined;
          reject(new ChannelGone(this.closedWith, this.lines.splice(0), this.stderrTail));
        }
      };
      this.waiter = check;
      if (this.closedWith === undefined) this.channel.write(`${requests.join('\n')}\n`);
      check();
    });
  }
}

/** The channel ended before all replies came; `lines` are what did (the last may say why). */
export class ChannelGone extends HandoverError {
  readonly lines: readonly string[];
  constructor(why: string, lines: readonly string[], stderr: readonly string[]) {
    super('step-failed', `agent channel gone: ${why}`, { evidence: [...lines.slice(-5), ...stderr.map((l) => `stderr: ${l}`)] });
    this.lines = lines;
  }
}
