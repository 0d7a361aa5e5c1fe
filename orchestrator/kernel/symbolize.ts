// Crash report frames decoded to function, file and line with the build's own vmlinux, the way
// scripts/decode_stacktrace.sh and syzkaller's report symbolizer do: the symbol's address from
// System.map plus the printed offset (minus one for a return address, so that the call's line is
// named, not the next one), then one batched `addr2line -a -f -i` for every address (inline frames
// included). Only after the vmlinux is shown to be the console's build (its linux_banner is the
// boot's banner, build number and time included): another build's lines would be wrong lines.
// Bounded in time and never throws: when it cannot decode, the report says why and the raw lines stay.

import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { execa } from 'execa';
import { parseStackFrames, type StackFrame } from '../vm/stack-frames.ts';
import { vmlinuxIdentity, type VmlinuxIdentity } from './vmlinux-identity.ts';

export interface ReportToDecode {
  /** The report as the console had it (a crash excerpt). */
  lines: readonly string[];
  /** The boot's `Linux version …` line (printk prefix removed), undefined when the console had none. */
  banner: string | undefined;
}

export interface DecodedLocation {
  func: string;
  /** Relative to the kernel tree when it is inside it. */
  file?: string;
  line?: number;
  /** Inlined into the next location (addr2line -i prints the innermost first). */
  inlined: boolean;
}

export interface DecodedFrame extends StackFrame {
  /** The symbol plus the offset (`0xffffffff81234567`); decoded one byte back for a return address (see resolve). */
  address?: string;
  /** Innermost first; the last one is the frame's own function. Empty when not decoded. */
  locations: DecodedLocation[];
  /** Why this frame has no locations. */
  note?: string;
}

/** `decoded`: file:line; `symbols-only`: function+offset checked against System.map (no DWARF); `not-decoded`: raw lines only. */
export type DecodeStatus = 'decoded' | 'symbols-only' | 'not-decoded';

export interface DecodedReport {
  status: DecodeStatus;
  /** What it was decoded with, or why not. */
  note: string;
  vmlinux: string;
  frames: DecodedFrame[];
}

export interface SymbolizeOptions {
  vmlinux: string;
  systemMap: string;
  /** Directory prefixes stripped from addr2line's paths (the source tree, the build dir). */
  stripPrefixes?: readonly string[];
  /** The directory make ran the compiler in (`O=`): relative paths (`../init/main.c` when `O=` sits in the tree) resolve against it. */
  buildDir?: string;
  /** The whole decoding's budget (default 60 s): addr2line is killed at it. */
  deadlineMs?: number;
  /** The addr2line binary (default `addr2line` from PATH). */
  addr2line?: string;
}

const DEFAULT_DEADLINE_MS = 60_000;

interface Sym {
  addr: bigint;
  /** Up to the next text symbol, as kallsyms computes the `/0x…` size. */
  gap: bigint;
}

/** Decodes every report with one vmlinux; one addr2line process for all of them. */
export async function symbolizeReports(reports: readonly ReportToDecode[], opts: SymbolizeOptions): Promise<DecodedReport[]> {
  const started = Date.now();
  const deadline = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const parsed = reports.map((r) => ({ r, frames: parseStackFrames(r.lines) }));
  const undecoded = (note: string): DecodedReport[] =>
    parsed.map(({ frames }) => ({ status: 'not-decoded', note, vmlinux: opts.vmlinux, frames: frames.map((f) => ({ ...f, locations: [] })) }));

  let map: string;
  try {
    map = await readFile(opts.systemMap, 'utf8');
  } catch (err) {
    return undecoded(`not decoded: cannot read System.map ${opts.systemMap} (${errText(err)}); raw lines kept`);
  }
  let id: VmlinuxIdentity;
  try {
    const banner = /^([0-9a-f]{8,16}) [dDrR] linux_banner$/m.exec(map)?.[1];
    id = await vmlinuxIdentity(opts.vmlinux, banner === undefined ? undefined : BigInt(`0x${banner}`));
  } catch (err) {
    return undecoded(`not decoded: cannot read vmlinux ${opts.vmlinux} (${errText(err)}); raw lines kept`);
  }
  const symbols = parseSystemMap(map);

  // Each report is checked against the vmlinux on its own: its boot may have run another kernel.
  const plans = parsed.map(({ r, frames }) => {
    const mismatch = buildMismatch(r.banner, id, opts.vmlinux);
    if (mismatch !== undefined) return { mismatch, frames: frames.map((f): DecodedFrame => ({ ...f, locations: [] })) };
    return { mismatch, frames: frames.map((f) => resolve(f, symbols, id.lineTables)) };
  });

  const wanted = [...new Set(plans.flatMap((p) => (p.mismatch === undefined ? p.frames.flatMap((f) => (f.address === undefined ? [] : [f.address])) : [])))];
  let lines = new Map<string, DecodedLocation[]>();
  let failure: string | undefined;
  if (id.lineTables && wanted.length > 0) {
    const left = deadline - (Date.now() - started);
    const r = left <= 0 ? { error: `the ${deadline} ms budget was spent before addr2line ran` } : await addr2line(opts, wanted, left);
    if ('error' in r) failure = r.error;
    else lines = r.locations;
  }

  return plans.map(({ mismatch, frames }): DecodedReport => {
    if (mismatch !== undefined) return { status: 'not-decoded', note: mismatch, vmlinux: opts.vmlinux, frames };
    if (!id.lineTables) {
      const out = frames.map((f) => (f.address === undefined ? f : { ...f, locations: [{ func: f.func, inlined: false }] }));
      return {
        status: 'symbols-only',
        note: `no line info: the build has no DWARF (${opts.vmlinux} has no .debug_line); function+offset checked against its System.map`,
        vmlinux: opts.vmlinux,
        frames: out,
      };
    }
    if (failure !== undefined) {
      return { status: 'not-decoded', note: `not decoded: ${failure}; raw lines kept`, vmlinux: opts.vmlinux, frames: frames.map((f) => ({ ...f, locations: [] })) };
    }
    const out = frames.map((f): DecodedFrame => {
      if (f.address === undefined) return f;
      const locs = lines.get(f.address) ?? [];
      return locs.length === 0 ? { ...f, note: 'addr2line found no line for this address' } : { ...f, locations: locs };
    });
    return { status: 'decoded', note: `decoded with ${opts.vmlinux} (its banner is the console's)`, vmlinux: opts.vmlinux, frames: out };
  });
}

/** Why this vmlinux may not decode a report of the boot with `banner`, or undefined when it may. */
function buildMismatch(banner: string | undefined, id: VmlinuxIdentity, vmlinux: string): string | undefined {
  if (banner === undefined) return `not decoded: the console has no 'Linux version' banner for this boot, so nothing shows that ${vmlinux} is its build; raw lines kept`;
  if (id.banner === undefined) return `not decoded: no linux_banner in ${vmlinux} (or in its System.map) to compare with the console's; raw lines kept`;
  if (id.banner !== banner.trim()) return `not decoded: ${vmlinux} is another build (it prints '${id.banner}', the console's kernel printed '${banner.trim()}'); raw lines kept`;
  return undefined;
}

/**
 * The frame's address from its symbol, or a note saying why there is none. The printed size must
 * be the symbol's (kallsyms computes it as System.map's distance to the next symbol): that tells
 * static functions of one name apart (as syzkaller does) and refuses a symbol that is not this one.
 * With line tables the address is what addr2line gets (one byte back for a return address);
 * without, it is the symbol plus the offset, as printed.
 */
function resolve(f: StackFrame, symbols: ReadonlyMap<string, Sym[]>, lineTables: boolean): DecodedFrame {
  if (f.module !== undefined) return { ...f, locations: [], note: `module ${f.module}: only built-in code is decoded` };
  const all = symbols.get(f.func) ?? [];
  const sized = all.filter((s) => s.gap === BigInt(f.size));
  const sym = sized.length === 1 ? sized[0] : undefined;
  if (sym === undefined) {
    const size = `0x${f.size.toString(16)}`;
    const why =
      all.length === 0
        ? `no text symbol ${f.func} in System.map`
        : sized.length === 0
          ? `System.map's ${f.func} is 0x${all.map((s) => s.gap.toString(16)).join(', 0x')} long, the report's ${size}: not this symbol`
          : `${sized.length} symbols named ${f.func} of size ${size}: ambiguous`;
    return { ...f, locations: [], note: why };
  }
  const back = !lineTables || f.exact || f.offset === 0 ? 0n : 1n;
  return { ...f, address: `0x${(sym.addr + BigInt(f.offset) - back).toString(16)}`, locations: [] };
}

/** Text symbols by name, each with the distance to the next text symbol. */
export function parseSystemMap(text: string): Map<string, Sym[]> {
  const rows: { addr: bigint; name: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{8,16}) [tTwW] (\S+)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) rows.push({ addr: BigInt(`0x${m[1]}`), name: m[2] });
  }
  rows.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const addrs = rows.map((r) => r.addr);
  const out = new Map<string, Sym[]>();
  let next = 0;
  rows.forEach((row, i) => {
    next = Math.max(next, i + 1);
    while (next < addrs.length && addrs[next] === row.addr) next++;
    const list = out.get(row.name) ?? [];
    list.push({ addr: row.addr, gap: next < addrs.length ? (addrs[next] as bigint) - row.addr : 0n });
    out.set(row.name, list);
  });
  return out;
}

/** One addr2line for every address; the locations by address, or why there are none. */
async function addr2line(
  opts: SymbolizeOptions,
  addresses: readonly string[],
  timeoutMs: number,
): Promise<{ locations: Map<string, DecodedLocation[]> } | { error: string }> {
  const bin = opts.addr2line ?? 'addr2line';
  const r = await execa(bin, ['-a', '-f', '-i', '-e', opts.vmlinux, ...addresses], { reject: false, stdin: 'ignore', timeout: timeoutMs, env: { LC_ALL: 'C' } });
  if (r.timedOut) return { error: `${bin} did not finish within ${Math.round(timeoutMs / 1000)} s (killed)` };
  if (r.exitCode !== 0 || r.failed) {
    const why = r.exitCode === undefined ? (r.originalMessage ?? r.shortMessage) : `exit ${r.exitCode}: ${String(r.stderr).trim().split('\n')[0] ?? ''}`;
    return { error: `${bin} failed (${why})` };
  }
  return { locations: parseAddr2line(String(r.stdout), addresses, opts.stripPrefixes ?? [], opts.buildDir) };
}

/** `addr2line -a -f -i` output: per address, `0x…`, then function and file:line pairs, innermost first. */
export function parseAddr2line(
  stdout: string,
  addresses: readonly string[],
  strip: readonly string[],
  buildDir?: string,
): Map<string, DecodedLocation[]> {
  const groups: string[][] = [];
  for (const line of stdout.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line)) groups.push([]);
    else if (line !== '') groups.at(-1)?.push(line);
  }
  const out = new Map<string, DecodedLocation[]>();
  addresses.forEach((a, i) => {
    const g = groups[i] ?? [];
    const locs: DecodedLocation[] = [];
    for (let k = 0; k + 1 < g.length; k += 2) {
      const func = g[k] as string;
      const m = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(g[k + 1] as string);
      const file = m?.[1];
      const line = m?.[2] === undefined || m[2] === '?' ? 0 : Number(m[2]);
      const known = file !== undefined && file !== '??' && line > 0;
      locs.push({ func: func === '??' ? '' : func, ...(known ? { file: treePath(file, strip, buildDir), line } : {}), inlined: false });
    }
    locs.forEach((l, k) => (l.inlined = k < locs.length - 1));
    if (locs.some((l) => l.file !== undefined)) out.set(a, locs);
  });
  return out;
}

function treePath(raw: string, strip: readonly string[], buildDir: string | undefined): string {
  // addr2line joins the compile dir and the name as written: `<O>/../init/main.c` when O= sits in the tree.
  const file = posix.normalize(buildDir !== undefined && !raw.startsWith('/') ? posix.join(buildDir, raw) : raw);
  for (const p of [...strip].sort((a, b) => b.length - a.length)) {
    const dir = p.endsWith('/') ? p : `${p}/`;
    if (file.startsWith(dir)) return file.slice(dir.length);
  }
  return file.replace(/^\.\//, '');
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
