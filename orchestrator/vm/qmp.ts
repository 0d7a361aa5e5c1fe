// A small QMP client: greeting, capabilities negotiation, id-correlated commands with timeouts, and
// events. QEMU closes the socket at `quit` and on exit, so every emitter gets an error handler and a
// closed socket rejects what is pending instead of crashing the process.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { createInterface } from 'node:readline';

export interface QmpEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
}

export class QmpError extends Error {
  readonly errorClass: string;
  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
    this.errorClass = errorClass;
  }
}

interface Waiting {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type Message = Record<string, unknown>;

export class QmpClient {
  readonly #socket: Duplex;
  readonly #waiting = new Map<number, Waiting>();
  readonly #emitter = new EventEmitter();
  readonly #events: QmpEvent[] = [];
  #nextId = 1;
  #closed: Error | undefined;
  #greeting: ((msg: Message) => void) | undefined;

  private constructor(socket: Duplex) {
    this.#socket = socket;
    // Events are recorded for evidence; listeners are optional, so an 'error' event must not throw.
    this.#emitter.on('error', () => {});
    socket.on('error', (err: Error) => this.#close(err));
    socket.on('close', () => this.#close(new Error('QMP socket closed')));
    const rl = createInterface({ input: socket, crlfDelay: Infinity });
    rl.on('error', (err: Error) => this.#close(err));
    rl.on('line', (line) => this.#onLine(line));
  }

  /** Waits for the greeting on an open socket, negotiates capabilities, returns a ready client. */
  static async open(socket: Duplex, timeoutMs = 10_000): Promise<QmpClient> {
    const client = new QmpClient(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
      client.#greeting = () => {
        clearTimeout(timer);
        resolve();
      };
      client.#emitter.once('closed', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    await client.execute('qmp_capabilities', undefined, timeoutMs);
    return client;
  }

  /** Every event received so far, in order. */
  get events(): readonly QmpEvent[] {
    return this.#events;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.#socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Runs a human monitor command (e.g. `info usernet`) and returns its text output. */
  hmp(commandLine: string, timeoutMs?: number): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine }, timeoutMs);
  }

  /** Subscribes to one event name, or '*' for all; returns an unsubscribe function. */
  on(event: string, listener: (ev: QmpEvent) => void): () => void {
    this.#emitter.on(`event:${event}`, listener);
    return () => this.#emitter.off(`event:${event}`, listener);
  }

  /** Calls `fn` once the socket is gone (at once if it already is). */
  onClosed(fn: (err: Error) => void): void {
    if (this.#closed !== undefined) fn(this.#closed);
    else this.#emitter.once('closed', fn);
  }

  close(): void {
    this.#socket.destroy();
    this.#close(new Error('QMP client closed'));
  }

  #onLine(line: string): void {
    let msg: Message;
    try {
      msg = JSON.parse(line) as Message;
    } catch {
      return; // QEMU only sends JSON; ignore anything torn by a closing socket
    }
    if ('QMP' in msg) {
      this.#greeting?.(msg);
      this.#greeting = undefined;
    } else if (typeof msg.event === 'string') {
      const ev: QmpEvent = {
        event: msg.event,
        data: (msg.data ?? {}) as Record<string, unknown>,
        timestamp: (msg.timestamp ?? { seconds: 0, microseconds: 0 }) as QmpEvent['timestamp'],
      };
      this.#events.push(ev);
      this.#emitter.emit(`event:${ev.event}`, ev);
      this.#emitter.emit('event:*', ev);
    } else if (typeof msg.id === 'number') {
      const w = this.#waiting.get(msg.id);
      if (w === undefined) return;
      this.#waiting.delete(msg.id);
      clearTimeout(w.timer);
      const err = msg.error as { class?: string; desc?: string } | undefined;
      if (err !== undefined) w.reject(new QmpError(w.command, err.class ?? '?', err.desc ?? '?'));
      else w.resolve(msg.return);
    }
  }

  #close(err: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`QMP ${w.command}: ${err.message}`, { cause: err }));
    }
    this.#waiting.clear();
    this.#emitter.emit('closed', err);
  }
}
