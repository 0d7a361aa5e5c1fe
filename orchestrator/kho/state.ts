// Interprets a debugfs snapshot: the KHO root FDT of each side, every sub-blob by kind, and the
// cross-checks a scenario asserts on (blob-size equals the sub-blob's length, the FDT and the
// sub_fdts directory list the same names). Nothing here throws on kernel data: a malformed or
// truncated blob is reported as such, since that may be the very thing a scenario checks.

import type { KhoSide, KhoSnapshot, ScratchArea } from './debugfs.ts';
import { compatible, type Fdt, FdtError, type FdtHeader, property, readFdt, u64le } from './fdt.ts';
import { classifySubtree, type SubtreeKind } from './luo-blob.ts';

/** A sub-node of the KHO root FDT. */
export interface KhoSubtreeEntry {
  readonly name: string;
  /** `preserved-data` (7.1+): physical address of the blob. */
  readonly preservedData?: bigint;
  /** `blob-size` (7.1+). */
  readonly blobSize?: bigint;
  /** `fdt` (≤7.0): physical address of a sub-FDT. */
  readonly fdtPa?: bigint;
}

export interface KhoRoot {
  /** `kho-v4` on 7.2+, `kho-v3` on 7.1, `kho-v1` before. */
  readonly compatible: string;
  /** Physical address of the preserved-memory radix tree (7.1+) or bitmap list (≤7.0; 0 before finalize). */
  readonly preservedMemoryMap?: bigint;
  /** In FDT order (the newest sub-node first); look them up by name. */
  readonly subtrees: readonly KhoSubtreeEntry[];
  readonly fdt: Fdt;
}

export type KhoRootResult =
  | { readonly ok: true; readonly root: KhoRoot; readonly size: number }
  | {
      readonly ok: false;
      readonly error: FdtError;
      /** The blob is shorter than its header's totalsize (debugfs out/fdt after late sub-trees). */
      readonly truncated: boolean;
      readonly header?: FdtHeader;
      /**
       * Sub-node names still readable in a truncated blob (node names sit in the struct block;
       * property names, in the strings block at the end, are usually what got cut).
       */
      readonly subtreeNames?: readonly string[];
      readonly size: number;
    };

/** Decodes a KHO root FDT; u64 properties are native-endian (little-endian on x86_64). */
export function parseKhoRoot(blob: Buffer): KhoRootResult {
  const r = readFdt(blob);
  if (!r.ok) {
    const truncated = r.error.code === 'truncated' && r.header !== undefined && blob.length < r.header.totalsize;
    return {
      ok: false,
      error: r.error,
      truncated,
      ...(r.header === undefined ? {} : { header: r.header }),
      ...(r.partial === undefined ? {} : { subtreeNames: r.partial.children.map((c) => c.name) }),
      size: blob.length,
    };
  }
  try {
    const root = r.fdt.root;
    const compat = compatible(root)[0];
    if (compat === undefined) throw new FdtError('bad-structure', root.offset, 'the KHO root node has no compatible');
    const map = property(root, 'preserved-memory-map');
    const u64 = (n: (typeof root.children)[number], name: string): bigint | undefined => {
      const p = property(n, name);
      return p === undefined ? undefined : u64le(p);
    };
    const subtrees = root.children.map((n): KhoSubtreeEntry => {
      const preservedData = u64(n, 'preserved-data');
      const blobSize = u64(n, 'blob-size');
      const fdtPa = u64(n, 'fdt');
      return {
        name: n.name,
        ...(preservedData === undefined ? {} : { preservedData }),
        ...(blobSize === undefined ? {} : { blobSize }),
        ...(fdtPa === undefined ? {} : { fdtPa }),
      };
    });
    return {
      ok: true,
      root: { compatible: compat, ...(map === undefined ? {} : { preservedMemoryMap: u64le(map) }), subtrees, fdt: r.fdt },
      size: blob.length,
    };
  } catch (e) {
    if (!(e instanceof FdtError)) throw e;
    return { ok: false, error: e, truncated: false, header: r.fdt.header, size: blob.length };
  }
}

export type SubtreeState = SubtreeKind & { readonly size: number };

export interface KhoSideState {
  readonly root?: KhoRootResult;
  readonly subtrees: Readonly<Record<string, SubtreeState>>;
  /** Disagreements between the root FDT and the sub_fdts blobs (empty when consistent or unknown). */
  readonly problems: readonly string[];
}

export interface KhoState {
  readonly enabled: boolean;
  readonly out?: KhoSideState & { readonly scratch: readonly ScratchArea[]; readonly finalize?: string };
  readonly in?: KhoSideState;
}

export function interpretKho(snapshot: KhoSnapshot): KhoState {
  const out = snapshot.out === undefined ? undefined : { ...side(snapshot.out), scratch: snapshot.out.scratch, ...(snapshot.out.finalize === undefined ? {} : { finalize: snapshot.out.finalize }) };
  const inn = snapshot.in === undefined ? undefined : side(snapshot.in);
  return { enabled: snapshot.enabled, ...(out === undefined ? {} : { out }), ...(inn === undefined ? {} : { in: inn }) };
}

function side(s: KhoSide): KhoSideState {
  const subtrees: Record<string, SubtreeState> = {};
  for (const [name, blob] of Object.entries(s.subtrees)) subtrees[name] = { ...classifySubtree(name, blob), size: blob.length };
  if (s.fdt === undefined) return { subtrees, problems: [] };
  const root = parseKhoRoot(s.fdt);
  return { root, subtrees, problems: root.ok ? crossCheck(root.root, s.subtrees) : [] };
}

/** The root FDT's sub-nodes against the sub_fdts blobs: same names, blob-size = length. */
export function crossCheck(root: KhoRoot, blobs: Readonly<Record<string, Buffer>>): string[] {
  const problems: string[] = [];
  for (const e of root.subtrees) {
    const blob = blobs[e.name];
    // debugfs only exposes nodes with both properties (kexec_handover_debugfs.c).
    if (e.preservedData === undefined || e.blobSize === undefined) continue;
    if (blob === undefined) problems.push(`root FDT lists ${e.name} but sub_fdts has no such file`);
    else if (BigInt(blob.length) !== e.blobSize) problems.push(`${e.name}: blob-size ${e.blobSize} but sub_fdts/${e.name} is ${blob.length} bytes`);
  }
  for (const name of Object.keys(blobs)) {
    if (!root.subtrees.some((e) => e.name === name)) problems.push(`sub_fdts/${name} is not a node of the root FDT`);
  }
  return problems;
}
