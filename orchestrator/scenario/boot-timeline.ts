// Each boot's milestones on one host clock (ms since QEMU was spawned): from the console lines as
// they arrived, the host's own events (SSH ready, the kexec trigger) and the kernel's printk clock.
// Pure: the runner records it in results.json, the HTML report and bench/ read it.
//
// What the console cannot show: the firmware and, after a kexec, purgatory print nothing on ttyS0,
// and the kernel's first lines reach it only when its serial console registers. So "kernel clock
// zero" is estimated from the printk timestamps: the earliest (arrival − printk time) over the
// boot's lines, an upper bound on when the kernel's clock started (≈ kernel entry: the clock is
// TSC-based from tsc_init). Before it: QEMU + firmware (cold) or shutdown + purgatory +
// decompression (kexec).

import { parseMilestone } from '../rootfs/milestones.ts';

export type BootEvent =
  | 'qemu start'
  | 'kexec -e'
  | 'kexec_core: Starting new kernel'
  | 'kernel clock zero'
  | 'banner'
  | 'Run /init'
  | 'init start'
  | 'net up'
  | 'sshd up'
  | 'ssh ready';

export interface BootMark {
  event: BootEvent;
  /** Host ms since QEMU was spawned (the console's clock). */
  atMs: number;
  /** The kernel's printk time of the line, s, when it has one. */
  printkS?: number;
}

export interface BootTimeline {
  boot: number;
  via: 'qemu' | 'kexec';
  marks: BootMark[];
}

export interface BootTimelines {
  /** Where the console's 0 (QEMU spawn) is on the scenario's clock, ms. */
  offsetMs: number;
  boots: BootTimeline[];
}

export interface TimedLine {
  readonly text: string;
  readonly boot: number;
  readonly atMs: number;
}

export interface HostEvents {
  /** The first SSH session of boot 1 was ready. */
  sshReadyAtMs?: number | undefined;
  /** Each kexec: the boot it started, when `kexec -e` was sent, when SSH answered on the new boot. */
  kexecs: readonly { boot: number; triggerAtMs: number; sshReadyAtMs: number }[];
}

const PRINTK_TIME = /^(?:<\d+>)?\[\s*(\d+\.\d+)\]/;
const CONSOLE_EVENTS: readonly [BootEvent, RegExp][] = [
  ['banner', /Linux version \S+/],
  ['Run /init', /Run \/init as init process/],
];
const MILESTONE_EVENTS: readonly BootEvent[] = ['init start', 'net up', 'sshd up'];
const STARTING = /kexec_core: Starting new kernel/;

export function bootTimelines(lines: readonly TimedLine[], host: HostEvents, offsetMs: number): BootTimelines {
  const boots = new Map<number, TimedLine[]>();
  for (const l of lines) {
    const list = boots.get(l.boot) ?? [];
    list.push(l);
    boots.set(l.boot, list);
  }
  const out: BootTimeline[] = [];
  for (const [boot, own] of [...boots.entries()].sort((a, b) => a[0] - b[0])) {
    const marks: BootMark[] = [];
    const kexec = host.kexecs.find((k) => k.boot === boot);
    if (boot === 1) marks.push({ event: 'qemu start', atMs: 0 });
    if (kexec !== undefined) {
      marks.push({ event: 'kexec -e', atMs: kexec.triggerAtMs });
      const starting = (boots.get(boot - 1) ?? []).find((l) => l.atMs >= kexec.triggerAtMs && STARTING.test(l.text));
      if (starting !== undefined) marks.push(withPrintk({ event: 'kexec_core: Starting new kernel', atMs: starting.atMs }, starting.text));
    }
    const zero = clockZero(own);
    if (zero !== undefined) marks.push({ event: 'kernel clock zero', atMs: zero });
    for (const [event, re] of CONSOLE_EVENTS) {
      const l = own.find((x) => re.test(x.text));
      if (l !== undefined) marks.push(withPrintk({ event, atMs: l.atMs }, l.text));
    }
    for (const event of MILESTONE_EVENTS) {
      const l = own.find((x) => parseMilestone(x.text)?.event === event);
      if (l !== undefined) marks.push({ event, atMs: l.atMs });
    }
    const ssh = boot === 1 ? host.sshReadyAtMs : kexec?.sshReadyAtMs;
    if (ssh !== undefined) marks.push({ event: 'ssh ready', atMs: ssh });
    out.push({ boot, via: boot === 1 ? 'qemu' : 'kexec', marks: marks.map((m) => ({ ...m, atMs: Math.round(m.atMs) })) });
  }
  return { offsetMs: Math.round(offsetMs), boots: out };
}

/** The earliest arrival − printk time over a boot's timestamped lines (see the header). */
function clockZero(lines: readonly TimedLine[]): number | undefined {
  let best: number | undefined;
  for (const l of lines) {
    const m = PRINTK_TIME.exec(l.text);
    if (m?.[1] === undefined) continue;
    const s = Number(m[1]);
    // Lines stamped 0.000000 were printed before the clock ran: they say nothing about it.
    if (s === 0) continue;
    const zero = l.atMs - s * 1000;
    if (best === undefined || zero < best) best = zero;
  }
  return best;
}

function withPrintk(mark: BootMark, text: string): BootMark {
  const m = PRINTK_TIME.exec(text);
  return m?.[1] === undefined ? mark : { ...mark, printkS: Number(m[1]) };
}

/** Consecutive marks as spans: "banner → Run /init 0.41 s". */
export function bootSpans(t: BootTimeline): { from: BootEvent; to: BootEvent; ms: number }[] {
  const sorted = [...t.marks].sort((a, b) => a.atMs - b.atMs);
  return sorted.slice(1).map((m, i) => ({ from: (sorted[i] as BootMark).event, to: m.event, ms: m.atMs - (sorted[i] as BootMark).atMs }));
}
