// Reads the KHO debugfs tree (`<debugfs>/kho/{out,in}/…`) from a guest in one SSH exec.
//
// Why exec + base64 rather than SFTP: one channel for the whole tree instead of one SFTP session
// per file, and `base64` reads each 0400 debugfs blob with read(2) until EOF, so the bytes are
// exactly what the kernel serves, whatever stat says about the size. The stat size is recorded
// too: comparing it with what was read (and with an FDT's own totalsize) is how truncation shows.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { AGENT_COMMAND } from '../guest/agent.ts';
import type { ExecResult } from '../guest/guest.ts';

export const DEBUGFS_ROOT = '/sys/kernel/debug';

/** The subset of `Guest` this module needs, so callers can pass anything that runs argv. */
export interface GuestExec {
  exec(argv: readonly string[], opts?: { timeoutMs?: number; maxOutputBytes?: number }): Promise<ExecResult>;
}

export interface DebugfsFile {
  /** Path relative to `<debugfs>/kho`, e.g. `out/sub_fdts/LUO`. */
  readonly path: string;
  /** What read(2) returned, to EOF. */
  readonly data: Buffer;
  /** `stat -c %s`: the inode size debugfs reports (may differ from `data.length`). */
  readonly statSize: number;
  /** Set when reading failed (e.g. EACCES): base64's exit status and stderr. */
  readonly error?: string;
}

/** Everything read from `<debugfs>/kho`, raw: what a scenario saves as artifacts. */
export interface KhoDump {
  readonly root: string;
  readonly debugfsMounted: boolean;
  /** `<debugfs>/kho` exists: KHO is enabled in the running kernel (it is created only then). */
  readonly khoDir: boolean;
  /** Directories relative to `<debugfs>/kho` (sorted), `.` excluded. */
  readonly dirs: readonly string[];
  readonly files: ReadonlyMap<string, DebugfsFile>;
}

export interface ScratchArea {
  readonly phys: bigint;
  readonly len: bigint;
}

/** One side (`out` or `in`) of the tree, with the raw blobs. */
export interface KhoSide {
  /** The root KHO FDT as read (possibly truncated, see `fdt.ts`); absent when the file is absent. */
  readonly fdt?: Buffer;
  /** `sub_fdts/<name>` blobs: the name is the KHO sub-node name (`LUO`, `kexec-metadata`, …). */
  readonly subtrees: Readonly<Record<string, Buffer>>;
}

export interface KhoOutSide extends KhoSide {
  /** `scratch_phys` / `scratch_len` paired: [0]=lowmem, [1]=global, [2..]=per NUMA node. */
  readonly scratch: readonly ScratchArea[];
  /** `out/finalize` contents (kernels up to 7.0); absent on 7.1+. */
  readonly finalize?: string;
}

export interface KhoSnapshot {
  readonly enabled: boolean;
  readonly debugfsMounted: boolean;
  readonly out?: KhoOutSide;
  readonly in?: KhoSide;
  readonly dump: KhoDump;
}

// The guest agent's `kho-dump ROOT` (rootfs/agent/khodump.c): one record per file, "@@file
// <statsize> <path>", base64 lines, then "@@end" or "@@error <status> <message>". Paths come from
// the kernel (sub-node names), no newlines. "@@nokho" only when kho/ does not exist: a kho/ that
// cannot be entered or listed fails the command (exit 1, the error on stderr), never reads as an
// empty tree. One process: a shell script of find, sort, stat and base64 took ~0.3 s under TCG.
/** Dumps `<root>/kho` from the guest: one exec, every file read to EOF. */
export async function dumpKhoDebugfs(guest: GuestExec, opts: { root?: string; timeoutMs?: number } = {}): Promise<KhoDump> {
  const root = opts.root ?? DEBUGFS_ROOT;
  const r = await guest.exec([AGENT_COMMAND, 'kho-dump', root], { timeoutMs: opts.timeoutMs ?? 30_000 });
  if (r.truncated) throw new HandoverError('step-failed', `reading ${root}/kho: the output exceeded the exec's cap (not a KHO tree?)`);
  if (r.exitCode !== 0) {
    throw new HandoverError('step-failed', `reading ${root}/kho in the guest failed (exit ${String(r.exitCode ?? r.signal)})`, {
      evidence: r.stderr.split('\n').filter((l) => l !== '').slice(-10),
    });
  }
  return parseKhoDump(r.stdout, root);
}

/** Parses the dump script's output (pure; exported for tests). */
export function parseKhoDump(text: string, root: string = DEBUGFS_ROOT): KhoDump {
  let debugfsMounted = false;
  let khoDir = false;
  const dirs: string[] = [];
  const files = new Map<string, DebugfsFile>();
  let current: { path: string; statSize: number; b64: string[] } | undefined;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (current !== undefined) {
      if (line === '@@end') {
        files.set(current.path, { path: current.path, statSize: current.statSize, data: Buffer.from(current.b64.join(''), 'base64') });
        current = undefined;
      } else if (line.startsWith('@@error ')) {
        const data = Buffer.from(current.b64.join(''), 'base64');
        files.set(current.path, { path: current.path, statSize: current.statSize, data, error: line.slice(8).trim() });
        current = undefined;
      } else if (/^[A-Za-z0-9+/=]*$/.test(line)) {
        current.b64.push(line);
      } else {
        throw new HandoverError('internal-error', `KHO debugfs dump: unexpected line ${i + 1} inside ${current.path}: ${JSON.stringify(line.slice(0, 80))}`);
      }
      continue;
    }
    if (line === '@@debugfs mounted') debugfsMounted = true;
    else if (line === '@@kho') khoDir = true;
    else if (line.startsWith('@@dir ')) dirs.push(line.slice(6));
    else if (line.startsWith('@@file ')) {
      const m = /^@@file (\d+) (.+)$/.exec(line);
      if (m === null) throw new HandoverError('internal-error', `KHO debugfs dump: bad file header on line ${i + 1}: ${JSON.stringify(line)}`);
      current = { path: m[2] ?? '', statSize: Number(m[1]), b64: [] };
    }
  }
  if (current !== undefined) throw new HandoverError('step-failed', `KHO debugfs dump ended inside ${current.path} (output cut short?)`);
  return { root, debugfsMounted, khoDir, dirs, files };
}

/** Builds the typed snapshot from a dump (pure). */
export function snapshotFromDump(dump: KhoDump): KhoSnapshot {
  const base = { enabled: dump.khoDir, debugfsMounted: dump.debugfsMounted, dump };
  if (!dump.khoDir) return base;
  const hasDir = (d: string): boolean => dump.dirs.includes(d) || [...dump.files.keys()].some((p) => p.startsWith(`${d}/`));
  const file = (p: string): Buffer | undefined => dump.files.get(p)?.data;
  const subtrees = (side: string): Record<string, Buffer> => {
    const prefix = `${side}/sub_fdts/`;
    const out: Record<string, Buffer> = {};
    for (const [p, f] of dump.files) if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out[p.slice(prefix.length)] = f.data;
    return out;
  };
  const side = (name: 'out' | 'in'): KhoSide => {
    const fdt = file(`${name}/fdt`);
    return { ...(fdt === undefined ? {} : { fdt }), subtrees: subtrees(name) };
  };
  let out: KhoOutSide | undefined;
  if (hasDir('out')) {
    const finalize = file('out/finalize');
    out = {
      ...side('out'),
      scratch: parseScratch(file('out/scratch_phys')?.toString('latin1') ?? '', file('out/scratch_len')?.toString('latin1') ?? ''),
      ...(finalize === undefined ? {} : { finalize: finalize.toString('latin1').trim() }),
    };
  }
  return { ...base, ...(out === undefined ? {} : { out }), ...(hasDir('in') ? { in: side('in') } : {}) };
}

/** `scratch_phys` and `scratch_len` are "0x%llx\n" per area, in the same order. */
export function parseScratch(phys: string, len: string): ScratchArea[] {
  const hex = (s: string, what: string): bigint[] =>
    s
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .map((l) => {
        if (!/^0x[0-9a-f]+$/i.test(l)) throw new HandoverError('step-failed', `KHO ${what}: not a hex value: ${JSON.stringify(l)}`);
        return BigInt(l);
      });
  const p = hex(phys, 'scratch_phys');
  const l = hex(len, 'scratch_len');
  if (p.length !== l.length) throw new HandoverError('step-failed', `KHO scratch_phys has ${p.length} entries but scratch_len has ${l.length}`);
  return p.map((phys, i) => ({ phys, len: l[i] ?? 0n }));
}

/** Reads the guest's KHO debugfs tree into a typed snapshot (raw blobs kept in `dump`). */
export async function readKhoDebugfs(guest: GuestExec, opts: { root?: string; timeoutMs?: number } = {}): Promise<KhoSnapshot> {
  return snapshotFromDump(await dumpKhoDebugfs(guest, opts));
}

const INDEX = 'dump.json';

interface DumpIndex {
  root: string;
  debugfsMounted: boolean;
  khoDir: boolean;
  dirs: string[];
  files: Record<string, { statSize: number; size: number; error?: string }>;
}

/**
 * Saves a dump as plain files under `dir` (`out/fdt`, `out/sub_fdts/LUO`, …) plus `dump.json`
 * (stat sizes, read sizes, errors): the artifact form, and the form of the unit-test fixtures.
 */
export async function saveKhoDump(dump: KhoDump, dir: string): Promise<void> {
  const index: DumpIndex = { root: dump.root, debugfsMounted: dump.debugfsMounted, khoDir: dump.khoDir, dirs: [...dump.dirs], files: {} };
  for (const f of dump.files.values()) {
    if (f.path.split('/').includes('..') || f.path.startsWith('/')) throw new HandoverError('internal-error', `unsafe debugfs path ${f.path}`);
    const target = join(dir, f.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, f.data);
    index.files[f.path] = { statSize: f.statSize, size: f.data.length, ...(f.error === undefined ? {} : { error: f.error }) };
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, INDEX), `${JSON.stringify(index, null, 2)}\n`);
}

/** Loads a dump saved by `saveKhoDump`. */
export async function loadKhoDump(dir: string): Promise<KhoDump> {
  const index = JSON.parse(await readFile(join(dir, INDEX), 'utf8')) as DumpIndex;
  const files = new Map<string, DebugfsFile>();
  for (const [path, meta] of Object.entries(index.files)) {
    const data = await readFile(join(dir, path));
    files.set(path, { path, data, statSize: meta.statSize, ...(meta.error === undefined ? {} : { error: meta.error }) });
  }
  return { root: index.root, debugfsMounted: index.debugfsMounted, khoDir: index.khoDir, dirs: index.dirs, files };
}
