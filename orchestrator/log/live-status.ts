import { Writable } from 'node:stream';
import { plainLines, stepPhase, ttyLines, type RunningScenario } from './status-lines.ts';

/**
 * Live status of the scenarios running at once (`--jobs N`, `series`, `matrix`). It listens to
 * the runner's events (the same ones the console reporter hears: structurally a Reporter, with
 * no import of it, so this low layer depends on nothing above it) and writes to stderr only:
 * stdout keeps the machine-readable outputs.
 *
 * On a TTY: one line per running VM, redrawn in place (cursor up, clear line) at most every
 * `frameMs`; what other code prints goes through `print` / `stream`, which lifts the block, writes
 * the text above it and lets the next frame draw the block again below. Off a TTY (CI logs): every
 * `intervalMs`, one plain line per running scenario, nothing redrawn, no escape codes.
 */
export interface LiveStatus {
  scenarioStart(name: string, description?: string): void;
  stepStart(scenario: string, step: { index: number; total: number; name: string }): void;
  step(scenario: string, step: { index: number; status: string }): void;
  retry(scenario: string, attempt: number): void;
  scenarioEnd(result: { name: string }): void;
  runEnd(): void;
  /** Writes a line (or lines, newline-terminated) above the live block. */
  print(text: string): void;
  /** A stream for other writers (the console reporter): each write goes through `print`. */
  readonly stream: NodeJS.WritableStream;
  /** Lifts the block and stops the timer; later events start it again (a matrix runs pair after pair). */
  stop(): void;
}

export interface StatusStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Clock {
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export interface LiveStatusOptions {
  stream?: StatusStream;
  tty?: boolean;
  /** Off a TTY: how often the plain lines come (default 10 s). */
  intervalMs?: number;
  /** On a TTY: the redraw period (default 250 ms, ~4 frames a second). */
  frameMs?: number;
  clock?: Clock;
  /** `--no-status`: events are ignored and `print` writes straight through. */
  off?: boolean;
  /**
   * The run's signal. On Ctrl-C the CLI writes its message straight to stderr, below the block: a
   * redraw (cursor up over the block's lines) would then overwrite that message, so on a TTY the
   * block is left as it is and never drawn again.
   */
  signal?: AbortSignal;
}

const realClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    // The status must never keep the process alive.
    t.unref();
    return () => clearInterval(t);
  },
};

const UP = (n: number) => `\x1b[${n}A`;
const CLEAR_LINE = '\r\x1b[K';
const CLEAR_BELOW = '\x1b[J';

export function createLiveStatus(opts: LiveStatusOptions = {}): LiveStatus {
  const out = opts.stream ?? process.stderr;
  const tty = opts.tty ?? out.isTTY === true;
  const clock = opts.clock ?? realClock;
  const off = opts.off === true;
  const period = tty ? (opts.frameMs ?? 250) : (opts.intervalMs ?? 10_000);
  const running = new Map<string, RunningScenario & { total?: number }>();
  let cancel: (() => void) | undefined;
  // Lines of the block now on the terminal (cursor sits just below them), and their text.
  let drawn = 0;
  let shown = '';
  let frozen = false;

  const lift = () => {
    if (drawn > 0) out.write(`${UP(drawn)}${CLEAR_LINE}${CLEAR_BELOW}`);
    drawn = 0;
    shown = '';
  };
  const frame = () => {
    if (frozen) return;
    const list = [...running.values()];
    const now = clock.now();
    if (!tty) {
      const lines = plainLines(list, now);
      if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
      return;
    }
    const lines = ttyLines(list, now, out.columns ?? 80);
    const text = lines.join('\n');
    if (text === shown) return;
    // Rewrite in place line by line (no full clear: less flicker), then drop leftover lines.
    let s = drawn > 0 ? UP(drawn) : '';
    for (const l of lines) s += `${CLEAR_LINE}${l}\n`;
    if (lines.length < drawn) s += CLEAR_BELOW;
    out.write(s);
    drawn = lines.length;
    shown = text;
  };
  const stop = () => {
    cancel?.();
    cancel = undefined;
    if (tty) lift();
  };
  const print = (text: string) => {
    if (tty) lift();
    out.write(text);
  };
  const stream = new Writable({
    decodeStrings: false,
    // The callback is called at once, so each write reaches the terminal before the caller's next line.
    write(chunk: string | Buffer, _enc, cb) {
      print(String(chunk));
      cb();
    },
  });
  if (tty) {
    opts.signal?.addEventListener(
      'abort',
      () => {
        frozen = true;
        drawn = 0;
      },
      { once: true },
    );
  }
  if (off) {
    const noop = () => {};
    return { scenarioStart: noop, stepStart: noop, step: noop, retry: noop, scenarioEnd: noop, runEnd: noop, print: (t) => void out.write(t), stream, stop: noop };
  }
  return {
    scenarioStart(name) {
      running.set(name, { name, startedAt: clock.now(), phase: 'boot' });
      cancel ??= clock.every(period, frame);
    },
    stepStart(scenario, st) {
      const r = running.get(scenario);
      // An event for a scenario that is not running (ended, or never started) is not news.
      if (r === undefined) return;
      r.phase = stepPhase(st.index, st.total, st.name);
      r.total = st.total;
    },
    step(scenario, st) {
      const r = running.get(scenario);
      if (r === undefined) return;
      // The last step, or one that stops the scenario: what follows is the verdict and teardown.
      if (st.status === 'failed' || st.status === 'error' || st.index + 1 === r.total) r.phase = 'finishing';
    },
    retry(scenario, attempt) {
      const r = running.get(scenario);
      // Elapsed keeps counting from the first attempt: it is how long the scenario has taken.
      if (r !== undefined) r.phase = `boot (attempt ${attempt})`;
    },
    scenarioEnd(result) {
      if (!running.delete(result.name)) return;
      if (running.size === 0) stop();
    },
    runEnd: stop,
    print,
    stream,
    stop,
  };
}

/** HANDOVER_STATUS_INTERVAL (seconds, may be fractional) for the plain lines; undefined when unset or not a positive number. */
export function statusIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = Number(env.HANDOVER_STATUS_INTERVAL);
  return env.HANDOVER_STATUS_INTERVAL !== undefined && Number.isFinite(v) && v > 0 ? v * 1000 : undefined;
}
