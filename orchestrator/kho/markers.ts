// Kernel-log markers of the handover, as typed events: what the new kernel says it received (KHO
// data, LUO's live update number, the previous release and kexec count) and every way it can say
// it did not (reference §5). Works on a saved log as well as on live console lines.

export type KhoMarkerBody =
  /** `KHO: found kexec handover data.` (setup_arch of a KHO-booted kernel). */
  | { readonly kind: 'kho-found' }
  /** `luo: Retrieved live update data, liveupdate number: N` (early_initcall). */
  | { readonly kind: 'luo-retrieved'; readonly liveupdateNumber: number }
  /** `KHO: exec from: <release> (count N)` (7.1+, from kexec-metadata). */
  | { readonly kind: 'kho-exec-from'; readonly release: string; readonly count: number }
  /** `KHO: setup: handover FDT (0x…) is incompatible with 'kho-vN': err`: a KHO ABI mismatch. */
  | { readonly kind: 'kho-incompatible'; readonly expected: string; readonly address?: string; readonly code?: number }
  /** Any other early KHO setup failure (invalid FDT, memremap, memory map, scratch). */
  | { readonly kind: 'kho-setup-failed'; readonly reason: string }
  /** `KHO: disabling KHO revival[: err]`: the incoming handover is dropped. */
  | { readonly kind: 'kho-revival-disabled'; readonly code?: number }
  /** KHO turned itself off (scratch reservation failed, kdump kernel, KHO compiled out). */
  | { readonly kind: 'kho-disabled'; readonly reason: string }
  /** `luo: LUO state is incompatible with 'luo-v5'` (7.2+) / `luo: FDT 'LUO' is incompatible with 'luo-v1'` (≤7.1). */
  | { readonly kind: 'luo-incompatible'; readonly expected: string }
  /** Other failures restoring the incoming LUO state (too small, missing, corrupted blocks). */
  | { readonly kind: 'luo-restore-failed'; readonly reason: string }
  /** `Kernel panic - not syncing: The incoming tree failed to initialize properly [err], …`. */
  | { readonly kind: 'luo-restore-panic'; readonly error: string }
  /** `luo: Disabling liveupdate because KHO is disabled` (liveupdate=on with kho=off). */
  | { readonly kind: 'luo-disabled' }
  /** `test_kho: KHO restore succeeded` / `failed` (CONFIG_TEST_KEXEC_HANDOVER). */
  | { readonly kind: 'test-kho'; readonly ok: boolean }
  /** `kexec_core: Starting new kernel`: the old kernel's last words. */
  | { readonly kind: 'kexec-start' }
  /** LUO errors while preserving, freezing, deserializing or finishing (§5.3, §5.5). */
  | { readonly kind: 'luo-error'; readonly message: string }
  /** memfd preservation errors (`memfd_luo: …`). */
  | { readonly kind: 'memfd-luo-error'; readonly message: string }
  /** KHO warnings that do not stop the handover (kexec-metadata, debugfs exposure, subtree setup). */
  | { readonly kind: 'kho-warning'; readonly message: string };

export type KhoMarkerKind = KhoMarkerBody['kind'];

export type KhoMarker = KhoMarkerBody & {
  /** 1-based boot: counted by `Linux version` banners unless the caller says. */
  readonly boot: number;
  /** 0-based index of the line in the input. */
  readonly index: number;
  /** printk timestamp in seconds, when the line has one. */
  readonly time?: number;
  /** The message without printk decorations. */
  readonly message: string;
};

export interface MarkerLine {
  readonly text: string;
  readonly boot?: number;
}

const DECORATION = /^(?:<\d+>)?(?:\[\s*(\d+\.\d+)\])?(?:\[\s*[CT]\d+\])?\s?/;
// Userspace output on the same console can precede a kernel line without a newline (the recorded
// chain has `/ # \x1b[6n[    6.047637] kexec_core: Starting new kernel`): the message starts at
// the first printk timestamp then.
const EMBEDDED = /(?:<\d+>)?\[\s*(\d+\.\d+)\](?:\[\s*[CT]\d+\])?\s?/;
const BANNER = /^Linux version \d/;

type Rule = readonly [RegExp, (m: RegExpExecArray) => KhoMarkerBody];

const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));

// Order matters: specific lines before the catch-alls of the same prefix.
const RULES: readonly Rule[] = [
  [/^KHO: found kexec handover data\b/, () => ({ kind: 'kho-found' })],
  [/^luo: Retrieved live update data, liveupdate number: (\d+)/, (m) => ({ kind: 'luo-retrieved', liveupdateNumber: Number(m[1]) })],
  [/^KHO: exec from: (.*) \(count (\d+)\)\s*$/, (m) => ({ kind: 'kho-exec-from', release: m[1] ?? '', count: Number(m[2]) })],
  [
    /^KHO: setup: handover FDT \((0x[0-9a-f]+)\) is incompatible with '([^']*)'(?::\s*(-?\d+))?/i,
    (m) => ({ kind: 'kho-incompatible', expected: m[2] ?? '', ...(m[1] === undefined ? {} : { address: m[1] }), ...(m[3] === undefined ? {} : { code: Number(m[3]) }) }),
  ],
  [/^KHO: disabling KHO revival(?::\s*(-?\d+))?/, (m) => ({ kind: 'kho-revival-disabled', ...(m[1] === undefined ? {} : { code: num(m[1]) ?? 0 }) })],
  [
    /^KHO: (setup: .*|failed to get preserved memory map.*|failed to mark the scratch region.*|Failed to extend scratch.*)$/,
    (m) => ({ kind: 'kho-setup-failed', reason: m[1] ?? '' }),
  ],
  [
    /^(?:KHO: (Failed to reserve scratch area, disabling kexec handover|disabled in the kdump kernel)|(Passed KHO data, but CONFIG_KEXEC_HANDOVER not set\. Ignoring\.))/,
    (m) => ({ kind: 'kho-disabled', reason: m[1] ?? m[2] ?? '' }),
  ],
  [/^KHO: (Failed to reserve .*scratch.*)$/, (m) => ({ kind: 'kho-setup-failed', reason: m[1] ?? '' })],
  [/^luo: (?:LUO state|FDT 'LUO') is incompatible with '([^']*)'/, (m) => ({ kind: 'luo-incompatible', expected: m[1] ?? '' })],
  [
    /^luo: (failed to retrieve LUO state.*|LUO state is too small.*|Block set is corrupted.*|Block contains invalid entry count.*)$/,
    (m) => ({ kind: 'luo-restore-failed', reason: m[1] ?? '' }),
  ],
  [/^Kernel panic - not syncing: The incoming tree failed to initialize properly \[([^\]]*)\]/, (m) => ({ kind: 'luo-restore-panic', error: m[1] ?? '' })],
  [/^luo: Disabling liveupdate because KHO is disabled/, () => ({ kind: 'luo-disabled' })],
  [/^test_kho: KHO restore (succeeded|failed)/, (m) => ({ kind: 'test-kho', ok: m[1] === 'succeeded' })],
  [/^kexec_core: Starting new kernel/, () => ({ kind: 'kexec-start' })],
  [
    /^luo: ((?:No registered handler|File count mismatch|Failed to|Unable to|Freeze failed|failed to|kho_finalize failed|Error|ERROR).*)$/,
    (m) => ({ kind: 'luo-error', message: m[1] ?? '' }),
  ],
  [/^memfd_luo: (.*)$/, (m) => ({ kind: 'memfd-luo-error', message: m[1] ?? '' })],
  [
    /^KHO: (kexec-metadata .*|failed (?:exposing|to initialize|to add blob).*|node .* missing or invalid .*|node .* has invalid length.*|broken KHO subnode.*)$/,
    (m) => ({ kind: 'kho-warning', message: m[1] ?? '' }),
  ],
];

/** Splits a printk line into its timestamp (seconds) and message. */
export function splitPrintk(line: string): { time?: number; message: string } {
  const clean = line.replace(/\r+$/, '');
  let m = DECORATION.exec(clean);
  if (m?.[1] === undefined) m = EMBEDDED.exec(clean) ?? m;
  const message = clean.slice((m?.index ?? 0) + (m?.[0].length ?? 0));
  return m?.[1] === undefined ? { message } : { time: Number(m[1]), message };
}

/** The marker on one console line, if any (boot and index left to the caller). */
export function matchMarker(line: string): KhoMarkerBody | undefined {
  const { message } = splitPrintk(line);
  for (const [re, make] of RULES) {
    const m = re.exec(message);
    if (m !== null) return make(m);
  }
  return undefined;
}

/**
 * Parses console text or lines into markers. Boots are counted by `Linux version` banners (lines
 * before the first belong to boot 1) unless a line carries its own `boot` (the console watcher's).
 */
export function parseMarkers(input: string | readonly (string | MarkerLine)[]): KhoMarker[] {
  const lines = typeof input === 'string' ? input.split('\n') : input;
  const out: KhoMarker[] = [];
  let banners = 0;
  for (const [index, entry] of lines.entries()) {
    const text = typeof entry === 'string' ? entry : entry.text;
    const { time, message } = splitPrintk(text);
    if (BANNER.test(message)) banners++;
    const boot = typeof entry === 'string' || entry.boot === undefined ? Math.max(1, banners) : entry.boot;
    const body = matchMarker(text);
    if (body === undefined) continue;
    out.push({ ...body, boot, index, message, ...(time === undefined ? {} : { time }) });
  }
  return out;
}

const FAILURES: ReadonlySet<KhoMarkerKind> = new Set<KhoMarkerKind>([
  'kho-incompatible',
  'kho-setup-failed',
  'kho-revival-disabled',
  'kho-disabled',
  'luo-incompatible',
  'luo-restore-failed',
  'luo-restore-panic',
  'luo-error',
  'memfd-luo-error',
]);

/** What one boot's console says about the handover it received. */
export interface HandoverSummary {
  readonly boot: number;
  /** `KHO: found kexec handover data` seen. */
  readonly khoFound: boolean;
  readonly liveupdateNumber?: number;
  readonly execFrom?: { readonly release: string; readonly count: number };
  readonly luoDisabled: boolean;
  readonly testKho?: boolean;
  /** This boot ended in a kexec (`kexec_core: Starting new kernel`). */
  readonly kexecStarted: boolean;
  /** Markers that mean something went wrong (warnings excluded). */
  readonly failures: readonly KhoMarker[];
  readonly warnings: readonly KhoMarker[];
}

export function summarizeBoot(markers: readonly KhoMarker[], boot: number): HandoverSummary {
  const mine = markers.filter((m) => m.boot === boot);
  const find = <K extends KhoMarkerKind>(kind: K): Extract<KhoMarker, { kind: K }> | undefined =>
    mine.find((m): m is Extract<KhoMarker, { kind: K }> => m.kind === kind);
  const lu = find('luo-retrieved');
  const from = find('kho-exec-from');
  const test = find('test-kho');
  return {
    boot,
    khoFound: find('kho-found') !== undefined,
    ...(lu === undefined ? {} : { liveupdateNumber: lu.liveupdateNumber }),
    ...(from === undefined ? {} : { execFrom: { release: from.release, count: from.count } }),
    luoDisabled: find('luo-disabled') !== undefined,
    ...(test === undefined ? {} : { testKho: test.ok }),
    kexecStarted: find('kexec-start') !== undefined,
    failures: mine.filter((m) => FAILURES.has(m.kind) || (m.kind === 'test-kho' && !m.ok)),
    warnings: mine.filter((m) => m.kind === 'kho-warning'),
  };
}

/**
 * A kexec'd kernel that could not take the handover it was given because the format differs from
 * its own: the KHO root FDT's compatible (`KHO: setup: handover FDT … is incompatible with 'kho-vN'`),
 * or the LUO state (`luo: LUO state is incompatible with 'luo-vN'`, `LUO state is too small`, or
 * `FDT 'LUO' is incompatible` on ≤7.1). Reference §4.2, §5.4.
 */
export interface IncompatibleHandover {
  readonly boot: number;
  /** What the new kernel expected (`kho-v4`, `luo-v5`, …) when it said so. */
  readonly expected?: string;
  /** Which layer refused it. */
  readonly layer: 'kho' | 'luo';
  /** The refusing line and what followed from it on that boot (revival disabled, the panic). */
  readonly markers: readonly KhoMarker[];
}

const isTrigger = (m: KhoMarker): boolean =>
  m.kind === 'kho-incompatible' || m.kind === 'luo-incompatible' || (m.kind === 'luo-restore-failed' && m.reason.startsWith('LUO state is too small'));
const CONSEQUENCES: ReadonlySet<KhoMarkerKind> = new Set<KhoMarkerKind>(['kho-revival-disabled', 'luo-restore-panic']);

/** The first boot whose console refuses an incompatible handover, or undefined. */
export function findIncompatibleHandover(markers: readonly KhoMarker[]): IncompatibleHandover | undefined {
  const trigger = markers.find(isTrigger);
  if (trigger === undefined) return undefined;
  const mine = markers.filter((m) => m.boot === trigger.boot && (isTrigger(m) || CONSEQUENCES.has(m.kind)));
  const expected = trigger.kind === 'kho-incompatible' || trigger.kind === 'luo-incompatible' ? trigger.expected : undefined;
  return {
    boot: trigger.boot,
    layer: trigger.kind === 'kho-incompatible' ? 'kho' : 'luo',
    ...(expected === undefined || expected === '' ? {} : { expected }),
    markers: mine,
  };
}

/** Each boot's kernel release, from its `Linux version X` banner (index 0 = boot 1). */
export function bootReleases(input: string | readonly (string | MarkerLine)[]): string[] {
  const lines = typeof input === 'string' ? input.split('\n') : input;
  const out: string[] = [];
  for (const entry of lines) {
    const { message } = splitPrintk(typeof entry === 'string' ? entry : entry.text);
    const m = /^Linux version (\S+)/.exec(message);
    if (m?.[1] !== undefined) out.push(m[1]);
  }
  return out;
}
