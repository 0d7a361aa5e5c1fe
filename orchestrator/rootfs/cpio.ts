// A newc ("070701") cpio writer for initramfs images, byte-compatible with the kernel's own
// `usr/gen_init_cpio -t 0`: same header fields, inode numbering from 721, symlink targets stored
// with their NUL, archive padded to 512. Written in JS so device nodes need no root and the output
// is deterministic (sorted entries, mtime 0), which makes the image's hash a usable cache key.

import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';

const gzipAsync = promisify(gzipCb);

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** gen_init_cpio's first inode number; kept so our archives compare byte for byte with its. */
const FIRST_INO = 721;
const HEADER_LEN = 110;
const TRAILER = 'TRAILER!!!';

interface Owner {
  /** Permission bits only (e.g. 0o755); the file type comes from `type`. */
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
}

export type CpioEntry =
  | (Owner & { readonly type: 'dir'; readonly path: string })
  | (Owner & { readonly type: 'file'; readonly path: string; readonly data: Buffer })
  | (Owner & { readonly type: 'file'; readonly path: string; readonly source: string })
  | (Owner & { readonly type: 'symlink'; readonly path: string; readonly target: string })
  | (Owner & {
      readonly type: 'nod';
      readonly path: string;
      readonly dev: 'c' | 'b';
      readonly major: number;
      readonly minor: number;
    });

export interface WriteOptions {
  /** Sort by path (bytewise, so parents precede children). Default true; false keeps list order. */
  readonly sort?: boolean;
}

/** Archive path as stored: no leading slash, no empty or dot components. */
export function normalizeCpioPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`bad cpio path: ${JSON.stringify(path)}`);
  return parts.join('/');
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Sorted copy with normalized paths; rejects duplicates, which the kernel would resolve silently. */
export function sortEntries(entries: readonly CpioEntry[]): CpioEntry[] {
  const out = entries.map((e) => ({ ...e, path: normalizeCpioPath(e.path) }));
  out.sort((a, b) => compareBytes(a.path, b.path));
  for (let i = 1; i < out.length; i++) {
    if (out[i]?.path === out[i - 1]?.path) throw new Error(`duplicate cpio entry: ${out[i]?.path}`);
  }
  return out;
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio field out of range: ${n}`);
  return n.toString(16).toUpperCase().padStart(8, '0');
}

const pad4 = (n: number): number => (4 - (n & 3)) & 3;

interface Header {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  filesize: number;
  rmajor: number;
  rminor: number;
  namesize: number;
  /** st_dev of the "source filesystem": gen_init_cpio writes 3:1 everywhere but the trailer. */
  trailer?: boolean;
}

function header(h: Header): string {
  const [devMajor, devMinor] = h.trailer === true ? [0, 0] : [3, 1];
  return (
    '070701' +
    [h.ino, h.mode, h.uid, h.gid, h.nlink, 0, h.filesize, devMajor, devMinor, h.rmajor, h.rminor, h.namesize, 0]
      .map(hex8)
      .join('')
  );
}

class Sink {
  readonly chunks: Buffer[] = [];
  offset = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.offset += b.length;
  }
  str(s: string): void {
    this.push(Buffer.from(s, 'latin1'));
  }
  padTo(align: number): void {
    const n = (align - (this.offset % align)) % align;
    if (n > 0) this.push(Buffer.alloc(n));
  }
}

function record(sink: Sink, h: Omit<Header, 'namesize'>, name: string, body: Buffer | null): void {
  const nameBuf = Buffer.from(`${name}\0`);
  sink.str(header({ ...h, namesize: nameBuf.length }));
  sink.push(nameBuf);
  sink.push(Buffer.alloc(pad4(HEADER_LEN + nameBuf.length)));
  if (body !== null && body.length > 0) {
    sink.push(body);
    sink.padTo(4);
  }
}

function checkMode(e: CpioEntry): number {
  if ((e.mode & ~0o7777) !== 0) throw new Error(`${e.path}: mode ${e.mode.toString(8)} has file-type bits`);
  return e.mode;
}

/** Serialize entries as an uncompressed newc archive (with trailer, padded to 512). */
export async function writeNewc(entries: readonly CpioEntry[], opts: WriteOptions = {}): Promise<Buffer> {
  const list = opts.sort === false ? entries.map((e) => ({ ...e, path: normalizeCpioPath(e.path) })) : sortEntries(entries);
  const sink = new Sink();
  let ino = FIRST_INO;
  for (const e of list) {
    const perm = checkMode(e);
    const base = { ino: ino++, uid: e.uid ?? 0, gid: e.gid ?? 0, rmajor: 0, rminor: 0 };
    switch (e.type) {
      case 'dir':
        record(sink, { ...base, mode: S_IFDIR | perm, nlink: 2, filesize: 0 }, e.path, null);
        break;
      case 'file': {
        const data = 'data' in e ? e.data : await readFile(e.source);
        record(sink, { ...base, mode: S_IFREG | perm, nlink: 1, filesize: data.length }, e.path, data);
        break;
      }
      case 'symlink': {
        // gen_init_cpio stores the target with its terminating NUL; the kernel accepts either.
        const target = Buffer.from(`${e.target}\0`);
        record(sink, { ...base, mode: S_IFLNK | perm, nlink: 1, filesize: target.length }, e.path, target);
        break;
      }
      case 'nod': {
        const type = e.dev === 'b' ? S_IFBLK : S_IFCHR;
        record(sink, { ...base, mode: type | perm, nlink: 1, filesize: 0, rmajor: e.major, rminor: e.minor }, e.path, null);
        break;
      }
    }
  }
  const trailer = { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, filesize: 0, rmajor: 0, rminor: 0, trailer: true };
  record(sink, trailer, TRAILER, null);
  sink.padTo(512);
  return Buffer.concat(sink.chunks);
}

/** gzip as the kernel's RD_GZIP decompressor expects; node's header has mtime 0, so it is stable. */
export async function gzipCpio(archive: Buffer): Promise<Buffer> {
  return gzipAsync(archive, { level: 9 });
}

export interface ReadEntry {
  readonly path: string;
  /** Full st_mode, file type included. */
  readonly mode: number;
  readonly type: 'dir' | 'file' | 'symlink' | 'nod' | 'other';
  readonly uid: number;
  readonly gid: number;
  readonly rmajor: number;
  readonly rminor: number;
  readonly data: Buffer;
}

/** Parse an uncompressed newc archive (one member; stops at the trailer). For checks and tests. */
export function readNewc(buf: Buffer): ReadEntry[] {
  const out: ReadEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_LEN > buf.length) throw new Error('cpio: truncated header');
    const magic = buf.toString('latin1', off, off + 6);
    if (magic !== '070701' && magic !== '070702') throw new Error(`cpio: bad magic at ${off}: ${magic}`);
    const field = (i: number): number => parseInt(buf.toString('latin1', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const filesize = field(6);
    const namesize = field(11);
    const nameStart = off + HEADER_LEN;
    const path = buf.toString('utf8', nameStart, nameStart + namesize - 1);
    const dataStart = nameStart + namesize + pad4(HEADER_LEN + namesize);
    if (path === TRAILER) return out;
    const data = buf.subarray(dataStart, dataStart + filesize);
    const fmt = mode & S_IFMT;
    const type =
      fmt === S_IFDIR ? 'dir' : fmt === S_IFREG ? 'file' : fmt === S_IFLNK ? 'symlink' : fmt === S_IFCHR || fmt === S_IFBLK ? 'nod' : 'other';
    out.push({ path, mode, type, uid: field(2), gid: field(3), rmajor: field(9), rminor: field(10), data });
    off = dataStart + filesize + pad4(filesize);
  }
}
