// The serial console as one line stream with many readers: wait strategies (each with a deadline and
// a named outcome), live subscribers, the crash catalogue, per-boot log slices and the boot counter.
//
// Boots: every `Linux version …` banner starts a boot. The first boot also owns whatever came
// before its banner. A later banner is expected only after `expectKexec()`; otherwise it is recorded
// as an `unexpected-reboot` crash, with the end of the previous boot as evidence.

import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { HandoverError, type Outcome } from '../errors.ts';
import { CrashScanner, isBootBanner, type Crash, type CrashScannerOptions } from './crash-catalogue.ts';

export interface ConsoleLine {
  /** The line without its line ending (`\r\n` from the UART becomes nothing). */
  readonly text: string;
  /** 0-based index over the whole console, across boots. */
  readonly index: number;
  /** 1-based boot the line belongs to. */
  readonly boot: number;
  /** Milliseconds since the watcher's clock started (QEMU spawn, for a VM). */
  readonly atMs: number;
}

/** Something to wait for on the console; small objects so callers can compose their own. */
export interface WaitStrategy<T> {
  readonly description: string;
  readonly deadlineMs: number;
  /** The outcome a missed deadline ends with (`boot-timeout`, `kexec-timeout`, `step-failed`, …). */
  readonly outcome: Outcome;
  /** Only lines of this boot and later count (already-seen lines included); default: current boot. */
  readonly fromBoot?: number | undefined;
  /** Default true: a crash reported on the console (in `fromBoot` or later) fails the wait at once. */
  readonly failOnCrash?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
  match(line: ConsoleLine): T | undefined;
}

export interface WaitOptions {
  readonly deadlineMs: number;
  readonly outcome?: Outcome | undefined;
  /** See `WaitStrategy.fromBoot`. */
  readonly boot?: number | undefined;
  readonly failOnCrash?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly description?: string | undefined;
}

export interface LineMatch {
  readonly line: ConsoleLine;
  readonly match: RegExpExecArray;
}

export function lineMatching(re: RegExp, o: WaitOptions): WaitStrategy<LineMatch> {
  // A global/sticky regex keeps lastIndex between lines; drop those flags.
  const pattern = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
  return {
    description: o.description ?? `console line matching ${String(re)}`,
    deadlineMs: o.deadlineMs,
    outcome: o.outcome ?? 'boot-timeout',
    fromBoot: o.boot,
    failOnCrash: o.failOnCrash,
    signal: o.signal,
    match: (line) => {
      const match = pattern.exec(line.text);
      return match === null ? undefined : { line, match };
    },
  };
}

/** Waits for the banner of boot `n` (1 = the cold boot, 2 = after the first kexec, …). */
export function bootStarted(n: number, o: Omit<WaitOptions, 'boot'>): WaitStrategy<ConsoleLine> {
  return {
    description: o.description ?? `'Linux version' banner of boot ${n}`,
    deadlineMs: o.deadlineMs,
    outcome: o.outcome ?? (n > 1 ? 'kexec-timeout' : 'boot-timeout'),
    fromBoot: n,
    failOnCrash: o.failOnCrash,
    signal: o.signal,
    match: (line) => (line.boot === n && isBootBanner(line.text) ? line : undefined),
  };
}

/** How the console ended, for waits still pending then. */
export interface ConsoleEnd {
  readonly outcome: Outcome;
  readonly message: string;
  readonly evidence?: readonly string[] | undefined;
}

export interface BootInfo {
  readonly boot: number;
  /** When the banner arrived (undefined for a boot 1 whose banner never came). */
  readonly bannerAtMs: number | undefined;
  readonly log: string;
}

export interface ConsoleWatcherOptions {
  /** Directory for the per-boot slices `console.boot-N.log`. */
  readonly logDir: string;
  readonly crash?: CrashScannerOptions | undefined;
  /** Longest wait between a crash title and delivering the report without its footer. */
  readonly crashHoldMs?: number | undefined;
  /**
   * Lines kept in memory for late waiters and log checks (the slices on disk keep everything).
   * A cap, not a window: `trimmed(boot)` tells a check that some of its lines are gone.
   */
  readonly historyLimit?: number | undefined;
  /** Artifacts to attach to errors (e.g. the raw serial log). */
  readonly artifacts?: Readonly<Record<string, string>> | undefined;
  readonly now?: (() => number) | undefined;
}

interface Waiter {
  readonly strategy: WaitStrategy<unknown>;
  readonly fromBoot: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly cleanup: () => void;
}

/**
 * ~100k lines is tens of boots of a normal console (1-3k lines each) and some 10-30 MB of heap.
 * Kept as a cap because a kernel stuck printing can flood a virtual UART far faster than a real
 * one for a whole deadline; checks that need trimmed lines learn it from `trimmed()`.
 */
const DEFAULT_HISTORY_LIMIT = 100_000;

export class ConsoleWatcher {
  readonly #opts: ConsoleWatcherOptions;
  readonly #now: () => number;
  readonly #scanner: CrashScanner;
  readonly #decoder = new StringDecoder('utf8');
  readonly #history: ConsoleLine[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #lineListeners = new Set<(l: ConsoleLine) => void>();
  readonly #crashListeners = new Set<(c: Crash) => void>();
  readonly #crashes: Crash[] = [];
  readonly #boots: { bannerAtMs: number | undefined; log: string; stream: WriteStream; firstIndex: number }[] = [];
  #partial = '';
  #index = 0;
  /** Lines dropped from the front of the history: the first kept line has this index. */
  #dropped = 0;
  #banners = 0;
  #pendingKexecs = 0;
  #holdTimer: NodeJS.Timeout | undefined;
  #ended: ConsoleEnd | undefined;

  constructor(opts: ConsoleWatcherOptions) {
    this.#opts = opts;
    const t0 = performance.now();
    this.#now = opts.now ?? (() => performance.now() - t0);
    this.#scanner = new CrashScanner(opts.crash);
    this.#openBootSlice(undefined);
  }

  /** Banners seen so far: 0 before the first `Linux version`, 2 after one kexec. */
  get boots(): number {
    return this.#banners;
  }

  /** The boot new lines belong to (1 until the second banner). */
  get currentBoot(): number {
    return Math.max(1, this.#banners);
  }

  get crashes(): readonly Crash[] {
    return this.#crashes;
  }

  get ended(): ConsoleEnd | undefined {
    return this.#ended;
  }

  get bootInfo(): readonly BootInfo[] {
    return this.#boots.map((b, i) => ({ boot: i + 1, bannerAtMs: b.bannerAtMs, log: b.log }));
  }

  /** Path of boot `n`'s console slice. */
  /** Now on this watcher's clock (the clock of every line's `atMs`), for host events next to lines. */
  elapsedMs(): number {
    return this.#now();
  }

  bootLog(n: number): string {
    return join(this.#opts.logDir, `console.boot-${n}.log`);
  }

  /** Lines still in memory, optionally only those of one boot. */
  lines(boot?: number): readonly ConsoleLine[] {
    return boot === undefined ? this.#history : this.#history.filter((l) => l.boot === boot);
  }

  /** The in-memory history's cap, in lines. */
  get historyLimit(): number {
    return this.#opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  }

  /** How many of boot `n`'s lines are no longer in memory (trimmed by the history cap). */
  trimmed(n: number): number {
    const first = this.#boots[n - 1]?.firstIndex;
    if (first === undefined) return 0;
    const end = this.#boots[n]?.firstIndex ?? this.#index;
    return Math.max(0, Math.min(this.#dropped, end) - first);
  }

  tail(n = 40): string[] {
    return this.#history.slice(-n).map((l) => l.text);
  }

  /**
   * Announces `count` kexecs: that many further banners are expected, not crashes. Returns the boot
   * number the last of them will have, to pass as `boot` to later waits.
   */
  expectKexec(count = 1): number {
    this.#pendingKexecs += count;
    return this.currentBoot + this.#pendingKexecs;
  }

  onLine(fn: (line: ConsoleLine) => void): () => void {
    this.#lineListeners.add(fn);
    return () => this.#lineListeners.delete(fn);
  }

  onCrash(fn: (crash: Crash) => void): () => void {
    this.#crashListeners.add(fn);
    return () => this.#crashListeners.delete(fn);
  }

  /** Feeds raw console bytes (any chunking). */
  push(chunk: Buffer | string): void {
    if (this.#ended !== undefined) return;
    const text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const p of parts) this.#line(p);
  }

  /** The console is over (QEMU exited): flush, deliver a pending crash, fail what still waits. */
  async end(how: ConsoleEnd): Promise<void> {
    if (this.#ended === undefined) {
      const rest = this.#partial + this.#decoder.end();
      this.#partial = '';
      if (rest !== '') this.#line(rest);
      this.#deliverPendingCrash();
      this.#ended = how;
      for (const w of [...this.#waiters]) w.reject(this.#endError(w.strategy, how));
      for (const b of this.#boots) b.stream.end();
    }
    await Promise.all(this.#boots.map((b) => finished(b.stream).catch(() => {})));
  }

  waitForLine(re: RegExp, opts: WaitOptions): Promise<LineMatch> {
    return this.waitFor(lineMatching(re, opts));
  }

  waitForBoot(n: number, opts: Omit<WaitOptions, 'boot'>): Promise<ConsoleLine> {
    return this.waitFor(bootStarted(n, opts));
  }

  waitFor<T>(s: WaitStrategy<T>): Promise<T> {
    const fromBoot = s.fromBoot ?? this.currentBoot;
    for (const line of this.#history) {
      if (line.boot < fromBoot) continue;
      const r = s.match(line);
      if (r !== undefined) return Promise.resolve(r);
    }
    const crash = this.#crashes.find((c) => c.boot >= fromBoot);
    if (crash !== undefined && s.failOnCrash !== false) return Promise.reject(this.#crashError(s, crash));
    if (this.#ended !== undefined) return Promise.reject(this.#endError(s, this.#ended));
    if (s.signal?.aborted === true) return Promise.reject(this.#abortError(s));

    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => waiter.reject(this.#abortError(s));
      const timer = setTimeout(() => {
        waiter.reject(
          new HandoverError(s.outcome, `${s.description}: not seen within ${Math.round(s.deadlineMs)} ms`, {
            evidence: this.tail(),
            artifacts: this.#artifacts(),
          }),
        );
      }, s.deadlineMs);
      const waiter: Waiter = {
        strategy: s,
        fromBoot,
        resolve: (v) => {
          waiter.cleanup();
          resolve(v as T);
        },
        reject: (e) => {
          waiter.cleanup();
          reject(e);
        },
        cleanup: () => {
          clearTimeout(timer);
          s.signal?.removeEventListener('abort', onAbort);
          this.#waiters.delete(waiter);
        },
      };
      s.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #line(raw: string): void {
    const text = raw.endsWith('\r') ? raw.replace(/\r+$/, '') : raw;
    const atMs = this.#now();
    if (isBootBanner(text)) {
      this.#banners += 1;
      if (this.#banners === 1) {
        const first = this.#boots[0];
        if (first !== undefined) first.bannerAtMs = atMs;
      } else {
        this.#deliverPendingCrash(); // a new kernel closes any report of the old one
        const previousTail = this.tail(10);
        this.#openBootSlice(atMs);
        if (this.#pendingKexecs > 0) {
          this.#pendingKexecs -= 1;
        } else {
          this.#record({
            kind: 'unexpected-reboot',
            title: `unexpected reboot: boot ${this.#banners} began without an announced kexec`,
            alsoSeen: [],
            boot: this.#banners,
            lineIndex: this.#index,
            excerpt: [...previousTail, text],
          });
        }
      }
    }
    const line: ConsoleLine = { text, index: this.#index++, boot: this.currentBoot, atMs };
    this.#boots.at(-1)?.stream.write(`${text}\n`);
    this.#history.push(line);
    // Trim in batches: a console flood must not turn every line into an O(n) splice.
    const limit = this.historyLimit;
    const over = this.#history.length - limit;
    if (over > Math.min(1024, Math.max(1, limit))) {
      this.#history.splice(0, over);
      this.#dropped += over;
    }

    for (const fn of this.#lineListeners) fn(line);
    for (const w of [...this.#waiters]) {
      if (line.boot < w.fromBoot) continue;
      const r = w.strategy.match(line);
      if (r !== undefined) w.resolve(r);
    }

    const wasCollecting = this.#scanner.collecting;
    for (const crash of this.#scanner.push(text, line.index, line.boot)) this.#record(crash);
    if (!this.#scanner.collecting) {
      clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
    } else if (!wasCollecting) {
      // Deliver a report that has no footer (hung task, stall, a panic that froze) after a short
      // hold, counted from the title so that a flood of lines cannot postpone it.
      this.#holdTimer = setTimeout(() => this.#deliverPendingCrash(), this.#opts.crashHoldMs ?? 1000);
    }
  }

  #deliverPendingCrash(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    const crash = this.#scanner.flush();
    if (crash !== undefined) this.#record(crash);
  }

  #record(crash: Crash): void {
    this.#crashes.push(crash);
    for (const fn of this.#crashListeners) fn(crash);
    for (const w of [...this.#waiters]) {
      if (w.strategy.failOnCrash !== false && crash.boot >= w.fromBoot) w.reject(this.#crashError(w.strategy, crash));
    }
  }

  #openBootSlice(bannerAtMs: number | undefined): void {
    const log = this.bootLog(this.#boots.length + 1);
    const stream = createWriteStream(log);
    stream.on('error', () => {}); // a full disk must not take the run down; the raw log remains
    this.#boots.push({ bannerAtMs, log, stream, firstIndex: this.#index });
  }

  #artifacts(): Record<string, string> {
    return { ...this.#opts.artifacts, [`console.boot-${this.currentBoot}`]: this.bootLog(this.currentBoot) };
  }

  #crashError(s: WaitStrategy<unknown>, c: Crash): HandoverError {
    return new HandoverError('kernel-crash', `${s.description}: kernel crash in boot ${c.boot}: ${c.title}`, {
      evidence: c.excerpt,
      artifacts: { ...this.#opts.artifacts, [`console.boot-${c.boot}`]: this.bootLog(c.boot) },
    });
  }

  #endError(s: WaitStrategy<unknown>, how: ConsoleEnd): HandoverError {
    return new HandoverError(how.outcome, `${s.description}: ${how.message}`, {
      evidence: how.evidence ?? this.tail(),
      artifacts: this.#artifacts(),
    });
  }

  #abortError(s: WaitStrategy<unknown>): HandoverError {
    return new HandoverError('interrupted', `${s.description}: wait aborted`, { evidence: this.tail(10) });
  }
}
