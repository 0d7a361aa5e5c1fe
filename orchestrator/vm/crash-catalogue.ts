// The kernel crash catalogue, in the spirit of syzkaller's pkg/report: which console lines start a
// crash report, which look alike but are harmless, and how much context to keep around them.
// Pure and line-driven (no timers, no I/O), so a saved console log re-parses exactly as it did live.

export type CrashKind =
  | 'panic'
  | 'oops'
  | 'bug'
  | 'warning'
  | 'lockdep'
  | 'gpf'
  | 'trap'
  | 'kasan'
  | 'kfence'
  | 'kmsan'
  | 'kcsan'
  | 'ubsan'
  | 'soft-lockup'
  | 'hard-lockup'
  | 'hung-task'
  | 'rcu-stall'
  | 'unexpected-reboot';

export interface CrashPattern {
  readonly kind: CrashKind;
  /** Matched against the printk message (timestamp and caller id removed). */
  readonly re: RegExp;
}

/** A detected crash: the first title line, every later title folded into the same report, context. */
export interface Crash {
  readonly kind: CrashKind;
  readonly title: string;
  /** Titles of further reports that arrived while this one was still being collected. */
  readonly alsoSeen: readonly string[];
  /** 1-based boot this crash happened in (see console.ts for how boots are counted). */
  readonly boot: number;
  /** 0-based index of the title line in the whole console. */
  readonly lineIndex: number;
  /** The title line plus `before` lines of context and the report body after it, verbatim. */
  readonly excerpt: readonly string[];
}

// A subsystem prefix some reports carry ("watchdog: BUG: soft lockup", "rcu: INFO: rcu_preempt ...").
const P = String.raw`^(?:[\w.-]+: )?`;
const re = (body: string): RegExp => new RegExp(P + body);

// Order matters: the first match names the kind, so specific patterns precede generic ones.
export const CRASH_PATTERNS: readonly CrashPattern[] = [
  { kind: 'panic', re: /^Kernel panic - not syncing: / },
  { kind: 'panic', re: /^PANIC: double fault/ },
  { kind: 'panic', re: /^rust_kernel: panicked/ },
  { kind: 'kasan', re: /^BUG: KASAN: / },
  { kind: 'kfence', re: /^BUG: KFENCE: / },
  { kind: 'kmsan', re: /^BUG: KMSAN: / },
  { kind: 'kcsan', re: /^BUG: KCSAN: / },
  { kind: 'soft-lockup', re: re(String.raw`BUG: soft lockup`) },
  { kind: 'soft-lockup', re: re(String.raw`BUG: workqueue lockup`) },
  { kind: 'hard-lockup', re: re(String.raw`(?:NMI watchdog: )?Watchdog detected hard LOCKUP`) },
  { kind: 'rcu-stall', re: re(String.raw`INFO: rcu_\w+ (?:self-)?detected(?: expedited)? stalls?`) },
  { kind: 'hung-task', re: /^INFO: task \S.* blocked for more than \d+ seconds/ },
  { kind: 'hung-task', re: /^INFO: task \S.* can't die for more than/ },
  { kind: 'bug', re: /^BUG: \S/ },
  { kind: 'bug', re: /^kernel BUG at / },
  { kind: 'bug', re: /^Kernel BUG / },
  // SLUB debug reports: "BUG kmalloc-64 (Not tainted): Redzone overwritten".
  { kind: 'bug', re: /^BUG [\w.:-]+ \(.*\): / },
  { kind: 'gpf', re: /^general protection fault/ },
  { kind: 'oops', re: /^Oops: / },
  { kind: 'oops', re: /^Unable to handle kernel / },
  // arm64's die(): "Internal error: Oops: 0000000096000045 [#1] SMP", "Internal error: Oops - BUG: …",
  // "Internal error: undefined instruction: …" (arch/arm64/kernel/traps.c).
  { kind: 'oops', re: /^Internal error: / },
  // arm64 asynchronous external aborts: "SError Interrupt on CPU0, code 0x… -- SError".
  { kind: 'trap', re: /^SError Interrupt on CPU\d+/ },
  { kind: 'trap', re: /^Bad mode in \S+ handler detected/ },
  { kind: 'bug', re: /^Unexpected kernel BRK exception at EL1/ },
  { kind: 'trap', re: /^(?:invalid opcode|divide error|divide_error|stack segment): / },
  { kind: 'ubsan', re: /^UBSAN: / },
  // Lockdep and RCU-lockdep reports have no " at " in their title line.
  {
    kind: 'lockdep',
    re: /^WARNING: (?:possible circular locking dependency|possible recursive locking|inconsistent lock state|possible irq lock inversion|suspicious RCU usage|bad unlock balance|held lock freed|lock held when returning to user space|.*-safe -> .*-unsafe lock order|Nested lock was not taken|.*still has locks held)/,
  },
  // "WARNING: CPU: 0 PID: 1 at kernel/x.c:12 f+0x1/0x2", the older "WARNING: at ...", and the
  // 6.19+ form "WARNING: kernel/x.c:12 at f+0x1/0x2, CPU#0: swapper/0/1".
  { kind: 'warning', re: /^WARNING: (?:CPU: \d+ PID: \d+ at |at |\S+:\d+ at )/ },
];

// Lines that match a pattern above but are not kernel crashes (userspace noise, syzkaller's list).
export const CRASH_IGNORES: readonly RegExp[] = [
  /WARNING: \/etc\/ssh\/moduli does not exist/,
  /general protection fault .* error:\d+ in /,
];

// Lines that close a report: the trace footer, or the panic footer.
const REPORT_END = /^---\[ end (?:trace|Kernel panic)/;
// The sanitizers (KASAN, KFENCE, KMSAN, KCSAN) frame each report between two lines of 66 '=':
// the first comes before the title (context), the second closes the report.
const SANITIZER_RULE = /^={66}$/;
const SANITIZER_KINDS: ReadonlySet<CrashKind> = new Set(['kasan', 'kfence', 'kmsan', 'kcsan']);
/**
 * A sanitizer report carries the access, its call trace, the alloc and free stacks and the page's
 * owner: often more than `after` lines. Its closing rule ends it, so it gets this larger budget.
 */
const SANITIZER_BODY_LINES = 400;

/** Strips printk decorations: `<6>`, `[    1.234567]`, and a `[    T1]` / `[  C0]` caller id. */
export function printkMessage(line: string): string {
  return line.replace(/^(?:<\d+>)?(?:\[\s*\d+\.\d+\])?(?:\[\s*[CT]\d+\])?\s?/, '');
}

export function matchCrashTitle(
  line: string,
  extraIgnores: readonly RegExp[] = [],
): { kind: CrashKind; title: string } | undefined {
  const msg = printkMessage(line).trimEnd();
  for (const { kind, re: pattern } of CRASH_PATTERNS) {
    if (!pattern.test(msg)) continue;
    if (CRASH_IGNORES.some((r) => r.test(msg)) || extraIgnores.some((r) => r.test(msg))) return undefined;
    return { kind, title: msg };
  }
  return undefined;
}

export interface CrashScannerOptions {
  /** Lines of context kept before the title line. */
  before?: number | undefined;
  /** Report body lines kept after the title line before the report is closed anyway. */
  after?: number | undefined;
  /** Extra lines to ignore, e.g. a WARNING a scenario provokes on purpose. */
  ignore?: readonly RegExp[] | undefined;
}

interface Pending {
  kind: CrashKind;
  title: string;
  alsoSeen: string[];
  boot: number;
  lineIndex: number;
  excerpt: string[];
  bodyLines: number;
}

/**
 * Feed console lines in order; `push` returns crashes whose report is complete (closed by an
 * end-of-trace footer or by the line budget), `flush` closes the report being collected. The live
 * console watcher calls `flush` after a short quiet period, so a report is delivered within seconds.
 */
export class CrashScanner {
  readonly #before: number;
  readonly #after: number;
  readonly #ignore: readonly RegExp[];
  readonly #recent: string[] = [];
  #pending: Pending | undefined;

  constructor(opts: CrashScannerOptions = {}) {
    this.#before = opts.before ?? 10;
    this.#after = opts.after ?? 100;
    this.#ignore = opts.ignore ?? [];
  }

  /** True while a report is being collected (the watcher arms its quiet timer on this). */
  get collecting(): boolean {
    return this.#pending !== undefined;
  }

  push(line: string, lineIndex: number, boot: number): Crash[] {
    const done: Crash[] = [];
    const hit = matchCrashTitle(line, this.#ignore);
    const p = this.#pending;
    if (p !== undefined) {
      p.excerpt.push(line);
      p.bodyLines += 1;
      if (hit !== undefined) p.alsoSeen.push(hit.title);
      const msg = printkMessage(line).trimEnd();
      const sanitizer = SANITIZER_KINDS.has(p.kind);
      const ended = REPORT_END.test(msg) || (sanitizer && SANITIZER_RULE.test(msg));
      if (ended || p.bodyLines >= (sanitizer ? Math.max(this.#after, SANITIZER_BODY_LINES) : this.#after)) {
        const crash = this.flush();
        if (crash !== undefined) done.push(crash);
      }
    } else if (hit !== undefined) {
      this.#pending = {
        kind: hit.kind,
        title: hit.title,
        alsoSeen: [],
        boot,
        lineIndex,
        excerpt: [...this.#recent, line],
        bodyLines: 0,
      };
    }
    this.#recent.push(line);
    if (this.#recent.length > this.#before) this.#recent.shift();
    return done;
  }

  flush(): Crash | undefined {
    const p = this.#pending;
    if (p === undefined) return undefined;
    this.#pending = undefined;
    return {
      kind: p.kind,
      title: p.title,
      alsoSeen: p.alsoSeen,
      boot: p.boot,
      lineIndex: p.lineIndex,
      excerpt: p.excerpt,
    };
  }
}

/** Re-parses a saved console log (a whole file's text) the way the live watcher would. */
export function scanConsoleLog(text: string, opts: CrashScannerOptions = {}): Crash[] {
  const scanner = new CrashScanner(opts);
  const crashes: Crash[] = [];
  let boot = 0;
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    if (isBootBanner(line)) boot += 1;
    crashes.push(...scanner.push(line, i, Math.max(boot, 1)));
  });
  const last = scanner.flush();
  if (last !== undefined) crashes.push(last);
  return crashes;
}

/** The first line every kernel prints: one per boot, so it counts boots (also across kexec). */
export function isBootBanner(line: string): boolean {
  return /^Linux version \d/.test(printkMessage(line));
}

/**
 * A kernel bug whose crash report handover recognises by its own signature. Such a report still
 * fails its scenario (never a pass), but the failure names the bug, and a scenario whose every
 * crash is a known *boot-time race* is run again (`--retries`): its checks never ran.
 */
export interface KnownCrash {
  readonly id: string;
  readonly reason: string;
  /** Matched against the report from its first title line on, printk decorations removed, one line each. */
  readonly match: RegExp;
}

export const KNOWN_CRASHES: readonly KnownCrash[] = [
  {
    id: 'x86-la57-kasan-identify-cpu',
    reason:
      "7.3.4 x86, 5-level paging (QEMU -cpu max under TCG has LA57): identify_cpu() zeroes boot_cpu_data.x86_capability (arch/x86/kernel/cpu/common.c:2031) with interrupts on; until CPUID is read again pgtable_l5_enabled() (cpu_feature_enabled(X86_FEATURE_LA57)) is false, KASAN's shadow bounds shrink to the 4-level layout, and an interrupt in that window reports the 5-level direct map as a wild-memory-access. A boot-time race, not KHO/LUO",
    match: /^BUG: KASAN: wild-memory-access in [^\n]+\n[\s\S]*?\n\s*(?:\? )?identify_cpu\+0x[\s\S]*?\n\s*arch_cpu_finalize_init\+0x/,
  },
];

/** The known kernel bug these report lines (a crash excerpt, or a kernel-crash error's evidence) show, if any. */
export function knownCrashOf(lines: readonly string[]): KnownCrash | undefined {
  const msgs = lines.map((l) => printkMessage(l).trimEnd());
  const start = msgs.findIndex((m) => matchCrashTitle(m) !== undefined);
  if (start < 0) return undefined;
  const text = msgs.slice(start).join('\n');
  return KNOWN_CRASHES.find((k) => k.match.test(text));
}
