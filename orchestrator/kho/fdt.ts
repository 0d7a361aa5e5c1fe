// A flattened device tree (DTB) reader, enough for KHO's handover blobs: header, memory
// reservation map, struct block and strings block, with bounds checks on every read. Errors name
// the byte offset; a blob shorter than its header's totalsize is reported as truncated (KHO's
// debugfs `out/fdt` can be, see the fixture README) rather than parsed past its end.

import { HandoverError } from '../errors.ts';

export const FDT_MAGIC = 0xd00dfeed;
const HEADER_SIZE = 40; // version 17 header
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;

export type FdtErrorCode = 'truncated' | 'bad-magic' | 'bad-version' | 'bad-layout' | 'bad-structure';

/** A blob that is not a well-formed FDT: a failed check, with the offset it failed at. */
export class FdtError extends HandoverError {
  readonly code: FdtErrorCode;
  readonly offset: number;
  constructor(code: FdtErrorCode, offset: number, message: string) {
    super('test-failed', `FDT ${code} at offset ${offset} (0x${offset.toString(16)}): ${message}`);
    this.name = 'FdtError';
    this.code = code;
    this.offset = offset;
  }
}

export interface FdtHeader {
  readonly magic: number;
  readonly totalsize: number;
  readonly offDtStruct: number;
  readonly offDtStrings: number;
  readonly offMemRsvmap: number;
  readonly version: number;
  readonly lastCompVersion: number;
  readonly bootCpuidPhys: number;
  readonly sizeDtStrings: number;
  readonly sizeDtStruct: number;
}

export interface FdtProperty {
  readonly name: string;
  readonly value: Buffer;
  /** Offset of the FDT_PROP token in the blob. */
  readonly offset: number;
}

export interface FdtNode {
  /** The node name with its unit address (`""` for the root). */
  readonly name: string;
  /** `/`, `/LUO`, `/a/b`. */
  readonly path: string;
  readonly offset: number;
  readonly properties: readonly FdtProperty[];
  readonly children: readonly FdtNode[];
}

export interface Fdt {
  readonly header: FdtHeader;
  readonly reservations: readonly { address: bigint; size: bigint }[];
  readonly root: FdtNode;
}

/** True if the blob starts with the FDT magic (big-endian d00dfeed). */
export function isFdt(blob: Buffer): boolean {
  return blob.length >= 4 && blob.readUInt32BE(0) === FDT_MAGIC;
}

/** Reads and validates the header only; throws FdtError. Does not require the whole blob. */
export function parseFdtHeader(blob: Buffer): FdtHeader {
  if (blob.length < 4) throw new FdtError('truncated', 0, `blob is ${blob.length} bytes, too short for the magic`);
  const magic = blob.readUInt32BE(0);
  if (magic !== FDT_MAGIC) throw new FdtError('bad-magic', 0, `magic is 0x${magic.toString(16).padStart(8, '0')}, expected 0xd00dfeed`);
  if (blob.length < HEADER_SIZE) throw new FdtError('truncated', blob.length, `blob is ${blob.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  const u = (o: number): number => blob.readUInt32BE(o);
  const header: FdtHeader = {
    magic,
    totalsize: u(4),
    offDtStruct: u(8),
    offDtStrings: u(12),
    offMemRsvmap: u(16),
    version: u(20),
    lastCompVersion: u(24),
    bootCpuidPhys: u(28),
    sizeDtStrings: u(32),
    sizeDtStruct: u(36),
  };
  // size_dt_struct only exists from version 17; libfdt writes 17 with last_comp_version 16.
  if (header.version < 17) throw new FdtError('bad-version', 20, `version ${header.version} is older than 17`);
  if (header.lastCompVersion > 17) throw new FdtError('bad-version', 24, `last_comp_version ${header.lastCompVersion} is newer than 17`);
  if (header.totalsize < HEADER_SIZE) throw new FdtError('bad-layout', 4, `totalsize ${header.totalsize} is smaller than the header`);
  const block = (off: number, size: number, what: string, at: number): void => {
    if (off < HEADER_SIZE || off + size > header.totalsize) {
      throw new FdtError('bad-layout', at, `${what} [${off}, ${off + size}) is outside [${HEADER_SIZE}, totalsize ${header.totalsize})`);
    }
  };
  block(header.offDtStruct, header.sizeDtStruct, 'struct block', 8);
  block(header.offDtStrings, header.sizeDtStrings, 'strings block', 12);
  block(header.offMemRsvmap, 16, 'memory reservation map', 16);
  return header;
}

/** Parses a complete FDT; throws FdtError (code `truncated` when the blob ends before totalsize). */
export function parseFdt(blob: Buffer): Fdt {
  const header = parseFdtHeader(blob);
  if (blob.length < header.totalsize) {
    throw new FdtError('truncated', blob.length, `blob is ${blob.length} bytes but the header's totalsize is ${header.totalsize}`);
  }
  const fdt = blob.subarray(0, header.totalsize);
  const reservations: { address: bigint; size: bigint }[] = [];
  for (let o = header.offMemRsvmap; ; o += 16) {
    if (o + 16 > header.totalsize) throw new FdtError('bad-layout', o, 'memory reservation map runs past totalsize without a terminator');
    const address = fdt.readBigUInt64BE(o);
    const size = fdt.readBigUInt64BE(o + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }
  const root = parseStruct(fdt, header);
  return { header, reservations, root };
}

/**
 * What survives of a truncated blob: the nodes and property values that lie within it. Property
 * names live in the strings block (at the end), so a cut blob may know a value but not its name.
 */
export interface FdtPartialNode {
  readonly name: string;
  readonly path: string;
  readonly offset: number;
  readonly properties: readonly { readonly name?: string; readonly value: Buffer; readonly offset: number }[];
  readonly children: readonly FdtPartialNode[];
}

export type FdtReadResult =
  | { ok: true; fdt: Fdt }
  | {
      ok: false;
      error: FdtError;
      header?: FdtHeader;
      /** For a truncated blob with a valid header: the part of the tree the blob still holds. */
      partial?: FdtPartialNode;
    };

/** parseFdt without throwing: for blobs that may legitimately be truncated or not FDTs at all. */
export function readFdt(blob: Buffer): FdtReadResult {
  try {
    return { ok: true, fdt: parseFdt(blob) };
  } catch (e) {
    if (!(e instanceof FdtError)) throw e;
    let header: FdtHeader | undefined;
    try {
      header = parseFdtHeader(blob);
    } catch {
      return { ok: false, error: e };
    }
    if (e.code !== 'truncated') return { ok: false, error: e, header };
    let partial: FdtPartialNode | undefined;
    try {
      partial = walkStruct(blob, header, true);
    } catch {
      partial = undefined;
    }
    return { ok: false, error: e, header, ...(partial === undefined ? {} : { partial }) };
  }
}

interface WalkNode {
  name: string;
  path: string;
  offset: number;
  properties: { name?: string; value: Buffer; offset: number }[];
  children: WalkNode[];
}

function parseStruct(fdt: Buffer, h: FdtHeader): FdtNode {
  // Strict: every name resolved (walkStruct throws otherwise), so the names are all strings.
  return walkStruct(fdt, h, false) as FdtNode;
}

/**
 * Walks the struct block. Strict mode throws on anything out of bounds; salvage mode (for a blob
 * cut short of totalsize) stops at the cut and leaves unreadable property names undefined.
 */
function walkStruct(fdt: Buffer, h: FdtHeader, salvage: boolean): WalkNode {
  const structEnd = h.offDtStruct + h.sizeDtStruct;
  const end = salvage ? Math.min(structEnd, fdt.length) : structEnd;
  const stringsEnd = Math.min(h.offDtStrings + h.sizeDtStrings, fdt.length);
  let o = h.offDtStruct;
  class Cut extends Error {}
  const need = (n: number, what: string): void => {
    if (o + n <= end) return;
    if (salvage && end < structEnd) throw new Cut();
    throw new FdtError('bad-structure', o, `${what} runs past the end of the struct block (${structEnd})`);
  };
  const cstring = (from: number, limit: number, what: string): { text: string; next: number } => {
    const nul = fdt.indexOf(0, from);
    if (nul < 0 || nul >= limit) {
      if (salvage && limit < structEnd) throw new Cut();
      throw new FdtError('bad-structure', from, `${what} is not NUL-terminated`);
    }
    return { text: fdt.toString('latin1', from, nul), next: nul + 1 };
  };
  const propName = (nameoff: number, at: number): string | undefined => {
    if (nameoff >= h.sizeDtStrings) throw new FdtError('bad-structure', at + 8, `property name offset ${nameoff} is outside the strings block (${h.sizeDtStrings} bytes)`);
    const from = h.offDtStrings + nameoff;
    const nul = fdt.indexOf(0, from);
    if (nul >= 0 && nul < stringsEnd) return fdt.toString('latin1', from, nul);
    if (salvage) return undefined;
    throw new FdtError('bad-structure', from, 'property name is not NUL-terminated');
  };
  const align4 = (n: number): number => (n + 3) & ~3;
  const stack: WalkNode[] = [];
  let root: WalkNode | undefined;
  try {
    for (;;) {
      need(4, 'token');
      const at = o;
      const token = fdt.readUInt32BE(o);
      o += 4;
      if (token === FDT_BEGIN_NODE) {
        const { text, next } = cstring(o, end, 'node name');
        o = align4(next);
        const parent = stack[stack.length - 1];
        if (parent === undefined && root !== undefined) throw new FdtError('bad-structure', at, 'a second root node');
        const path = parent === undefined ? '/' : parent.path === '/' ? `/${text}` : `${parent.path}/${text}`;
        const node: WalkNode = { name: text, path, offset: at, properties: [], children: [] };
        if (parent === undefined) root = node;
        else parent.children.push(node);
        stack.push(node);
      } else if (token === FDT_END_NODE) {
        if (stack.pop() === undefined) throw new FdtError('bad-structure', at, 'FDT_END_NODE without an open node');
      } else if (token === FDT_PROP) {
        need(8, 'property header');
        const len = fdt.readUInt32BE(o);
        const nameoff = fdt.readUInt32BE(o + 4);
        o += 8;
        need(len, `property value (${len} bytes)`);
        const node = stack[stack.length - 1];
        if (node === undefined) throw new FdtError('bad-structure', at, 'property outside any node');
        const name = propName(nameoff, at);
        node.properties.push({ ...(name === undefined ? {} : { name }), value: Buffer.from(fdt.subarray(o, o + len)), offset: at });
        o = align4(o + len);
      } else if (token === FDT_NOP) {
        continue;
      } else if (token === FDT_END) {
        if (stack.length > 0) throw new FdtError('bad-structure', at, `FDT_END with ${stack.length} node(s) still open`);
        if (root === undefined) throw new FdtError('bad-structure', at, 'no root node');
        return root;
      } else {
        throw new FdtError('bad-structure', at, `unknown token 0x${token.toString(16)}`);
      }
    }
  } catch (e) {
    if (e instanceof Cut && root !== undefined) return root;
    if (e instanceof Cut) throw new FdtError('truncated', o, 'no root node before the cut');
    throw e;
  }
}

// ---- helpers --------------------------------------------------------------------------------

export function property(node: FdtNode, name: string): FdtProperty | undefined {
  return node.properties.find((p) => p.name === name);
}

export function child(node: FdtNode, name: string): FdtNode | undefined {
  return node.children.find((c) => c.name === name);
}

/** Looks a node up by path (`/`, `/LUO`, `LUO/sub`), relative to `from` (default the root). */
export function findNode(from: Fdt | FdtNode, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = 'root' in from ? from.root : from;
  for (const part of path.split('/').filter((p) => p !== '')) {
    if (node === undefined) return undefined;
    node = child(node, part);
  }
  return node;
}

/** A property's value as a string list (NUL-separated, as `compatible` is). */
export function stringList(prop: FdtProperty): string[] {
  const text = prop.value.toString('latin1');
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** The first string of a property; throws if it is not NUL-terminated. */
export function string(prop: FdtProperty): string {
  const nul = prop.value.indexOf(0);
  if (nul < 0) throw new FdtError('bad-structure', prop.offset, `property ${prop.name} is not a NUL-terminated string`);
  return prop.value.toString('latin1', 0, nul);
}

/** The node's `compatible` strings (empty if it has none). */
export function compatible(node: FdtNode): string[] {
  const p = property(node, 'compatible');
  return p === undefined ? [] : stringList(p);
}

function sized(prop: FdtProperty, n: number, what: string): Buffer {
  if (prop.value.length !== n) {
    throw new FdtError('bad-structure', prop.offset, `property ${prop.name} is ${prop.value.length} bytes, expected ${n} for ${what}`);
  }
  return prop.value;
}

/** An 8-byte value in native x86_64 order: how KHO writes its u64 properties (not FDT cells). */
export function u64le(prop: FdtProperty): bigint {
  return sized(prop, 8, 'a little-endian u64').readBigUInt64LE(0);
}

/** An 8-byte value as two big-endian FDT cells. */
export function u64be(prop: FdtProperty): bigint {
  return sized(prop, 8, 'a big-endian u64').readBigUInt64BE(0);
}

/** A single big-endian FDT cell. */
export function u32be(prop: FdtProperty): number {
  return sized(prop, 4, 'a big-endian u32').readUInt32BE(0);
}
