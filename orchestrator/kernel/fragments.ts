import { readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { HandoverError, usageError } from '../errors.ts';
import type { Arch } from '../host/arch.ts';
import { PACKAGE_ROOT } from '../paths.ts';

/** Where a requested symbol came from: a fragment file:line, or a command-line item. */
export interface Origin {
  file: string;
  line: number;
}

export interface Request {
  symbol: string; // without CONFIG_
  value: string; // y, m, n, a number, or a quoted string as written
  origin: Origin;
}

export interface MergedConfig {
  /** The winning request per symbol, in first-seen order. */
  requests: Request[];
  /** Earlier requests that a later one replaced with a different value. */
  overrides: { earlier: Request; later: Request }[];
  /** The fragment to hand to Kconfig. */
  text: string;
}

export const FRAGMENT_DIR = join(PACKAGE_ROOT, 'kernel-config');
/** The fragments every x86_64 build gets, in order. */
export const DEFAULT_FRAGMENTS = ['base-qemu-x86_64.config', 'kho.config', 'luo.config'];

/** The fragments every build for `arch` gets: its machine's base, then the same KHO and LUO contract. */
export function defaultFragments(arch: Arch): string[] {
  return arch === 'x86_64' ? DEFAULT_FRAGMENTS : [`base-qemu-${arch}.config`, ...DEFAULT_FRAGMENTS.slice(1)];
}
/** Named profiles users can add with --profile. */
export const PROFILES: Record<string, string> = { debug: 'debug.config', kasan: 'kasan.config', coverage: 'coverage.config' };
/**
 * How many times longer a profile's kernel takes than the default one to boot and to run a step
 * under TCG (measured on 2 cores; see README, Figures). Every deadline of a machine running it
 * (boot, SSH, guest commands, steps, the scenario) scales by it, so a slow-by-design kernel is
 * not a timeout and the default kernel keeps its tight limits.
 */
// coverage instruments the live-update code only: its boots and steps run at the default kernel's pace.
export const PROFILE_TIME_SCALE: Readonly<Record<string, number>> = { debug: 2, kasan: 4, coverage: 1 };

/** The profiles a kernel was built with, from its fragment files (metadata.config.fragments). */
export function profilesOf(fragments: readonly string[]): string[] {
  const files = new Set(fragments.map((f) => basename(f)));
  return Object.entries(PROFILES)
    .filter(([, file]) => files.has(file))
    .map(([name]) => name);
}

/** The time scale of a kernel built with these fragment files: its profiles' factors multiplied (kasan+debug is slower than either). */
export function timeScaleOf(fragments: readonly string[]): number {
  return profilesOf(fragments).reduce((a, name) => a * (PROFILE_TIME_SCALE[name] ?? 1), 1);
}

const ITEM = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/;
const NOT_SET = /^# CONFIG_([A-Za-z0-9_]+) is not set$/;

/** Parses one fragment; anything that is not an assignment, a "not set" line or a comment is an error. */
export function parseFragment(text: string, file: string): Request[] {
  const out: Request[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const origin = { file, line: i + 1 };
    const notSet = NOT_SET.exec(line);
    if (notSet?.[1] !== undefined) return out.push({ symbol: notSet[1], value: 'n', origin });
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const item = ITEM.exec(line.trim());
    if (item?.[1] === undefined || item[2] === undefined || !validValue(item[2])) {
      const col = raw.length - raw.trimStart().length + 1;
      throw usageError(`${file}:${i + 1}:${col}: expected CONFIG_NAME=value or '# CONFIG_NAME is not set', got '${line.trim()}'`);
    }
    out.push({ symbol: item[1], value: item[2], origin });
  });
  return out;
}

function validValue(v: string): boolean {
  return /^(y|m|n|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/.test(v);
}

/** A `--config` argument: either a fragment file or a single CONFIG_X=val item. */
export async function loadConfigArg(arg: string): Promise<Request[]> {
  if (arg.startsWith('CONFIG_') || arg.startsWith('# CONFIG_')) {
    return parseFragment(arg, `--config ${arg}`).map((r) => ({ ...r, origin: { file: `--config ${arg}`, line: 0 } }));
  }
  return parseFragment(await readFragment(arg), displayPath(arg));
}

export async function loadBuiltinFragment(name: string): Promise<Request[]> {
  const path = join(FRAGMENT_DIR, name);
  return parseFragment(await readFragment(path), displayPath(path));
}

async function readFragment(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new HandoverError('usage-error', `--config ${path}: cannot read the fragment (${(cause as Error).message})`, { cause });
  }
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel;
}

/** Later requests win; a different value replacing an earlier one is recorded, not hidden. */
export function mergeRequests(lists: Request[][]): MergedConfig {
  const bySymbol = new Map<string, Request>();
  const overrides: MergedConfig['overrides'] = [];
  for (const req of lists.flat()) {
    const earlier = bySymbol.get(req.symbol);
    if (earlier !== undefined && earlier.value !== req.value) overrides.push({ earlier, later: req });
    bySymbol.set(req.symbol, req);
  }
  const requests = [...bySymbol.values()];
  const text = requests
    .map((r) => (r.value === 'n' ? `# CONFIG_${r.symbol} is not set` : `CONFIG_${r.symbol}=${r.value}`))
    .join('\n');
  return { requests, overrides, text: `${text}\n` };
}

export function formatOrigin(o: Origin): string {
  return o.line > 0 ? `${o.file}:${o.line}` : o.file;
}
