// Readers for the raw KHO sub-blobs: the LUO state (`LUO`) and `kexec-metadata`.
//
// LUO changed format in 7.2: before, an FDT `luo-v1` with a `liveupdate-number` property and
// `luo-session` / `luo-flb` children; from 7.2, a packed 32-byte `struct luo_ser`
// {char compatible[8]; u64 liveupdate_num; u64 sessions_pa; u64 flbs_pa}. Tell them apart by
// the FDT magic, never by kernel version. All u64s are native-endian (little-endian on x86_64).

import { child, compatible, type Fdt, type FdtError, isFdt, property, readFdt, u64le } from './fdt.ts';

/** The LUO layout this reader decodes field by field (7.2+). */
export const LUO_RAW_COMPATIBLE = 'luo-v5';
const LUO_SER_SIZE = 32;
const LUO_COMPAT_LEN = 8;

export type LuoBlob =
  | {
      readonly format: 'raw';
      readonly compatible: string;
      readonly size: number;
      /** Decoded only for a layout this reader knows (`luo-v5`); otherwise see `raw`. */
      readonly liveupdateNumber?: bigint;
      /** 0 in a running kernel: LUO fills it in only at reboot(KEXEC). */
      readonly sessionsPa?: bigint;
      readonly flbsPa?: bigint;
      readonly raw: Buffer;
    }
  | {
      readonly format: 'fdt';
      readonly compatible?: string;
      readonly liveupdateNumber?: bigint;
      /** `luo-session/luo-session-header`. */
      readonly sessionsPa?: bigint;
      /** `luo-flb/luo-flb-header` (7.0+). */
      readonly flbsPa?: bigint;
      readonly fdt?: Fdt;
      /** The FDT did not parse (e.g. truncated). */
      readonly error?: FdtError;
      readonly raw: Buffer;
    }
  | { readonly format: 'unknown'; readonly reason: string; readonly size: number; readonly raw: Buffer };

/** Identifies and decodes a LUO blob; never throws (an unrecognised blob is `format: 'unknown'`). */
export function readLuoBlob(blob: Buffer): LuoBlob {
  const raw = Buffer.from(blob);
  if (isFdt(blob)) {
    const r = readFdt(blob);
    if (!r.ok) return { format: 'fdt', error: r.error, raw };
    const root = r.fdt.root;
    const num = property(root, 'liveupdate-number');
    const sessions = child(root, 'luo-session');
    const flb = child(root, 'luo-flb');
    const sessionsProp = sessions === undefined ? undefined : property(sessions, 'luo-session-header');
    const flbProp = flb === undefined ? undefined : property(flb, 'luo-flb-header');
    const compat = compatible(root)[0];
    return {
      format: 'fdt',
      ...(compat === undefined ? {} : { compatible: compat }),
      ...(num?.value.length === 8 ? { liveupdateNumber: u64le(num) } : {}),
      ...(sessionsProp?.value.length === 8 ? { sessionsPa: u64le(sessionsProp) } : {}),
      ...(flbProp?.value.length === 8 ? { flbsPa: u64le(flbProp) } : {}),
      fdt: r.fdt,
      raw,
    };
  }
  const compat = cString(blob.subarray(0, LUO_COMPAT_LEN));
  if (compat === undefined || !/^luo-v\d+$/.test(compat)) {
    return { format: 'unknown', reason: `no FDT magic and no "luo-vN" string at offset 0 (first bytes ${hexHead(blob)})`, size: blob.length, raw };
  }
  if (compat !== LUO_RAW_COMPATIBLE || blob.length < LUO_SER_SIZE) {
    return { format: 'raw', compatible: compat, size: blob.length, raw };
  }
  return {
    format: 'raw',
    compatible: compat,
    size: blob.length,
    liveupdateNumber: blob.readBigUInt64LE(8),
    sessionsPa: blob.readBigUInt64LE(16),
    flbsPa: blob.readBigUInt64LE(24),
    raw,
  };
}

/** `struct kho_kexec_metadata` (7.1+), packed: u32 version; char previous_release[65]; u32 kexec_count. */
export interface KexecMetadata {
  readonly version: number;
  /** `uname -r` of the kernel that wrote it (the running one, in `out/`). */
  readonly previousRelease: string;
  /** Kexecs since the cold boot, counting the next one (1 in a cold boot's `out/`). */
  readonly kexecCount: number;
  readonly size: number;
}

export const KEXEC_METADATA_SIZE = 4 + 65 + 4;

export type KexecMetadataResult = { ok: true; metadata: KexecMetadata } | { ok: false; reason: string; version?: number; size: number };

/** Decodes a kexec-metadata blob; a version other than 1, or a short blob, is reported, not thrown. */
export function readKexecMetadata(blob: Buffer): KexecMetadataResult {
  if (blob.length < 4) return { ok: false, reason: `blob is ${blob.length} bytes, too short for the version`, size: blob.length };
  const version = blob.readUInt32LE(0);
  if (version !== 1) return { ok: false, reason: `version ${version} is not the known version 1`, version, size: blob.length };
  if (blob.length < KEXEC_METADATA_SIZE) {
    return { ok: false, reason: `blob is ${blob.length} bytes, shorter than the ${KEXEC_METADATA_SIZE} of version 1`, version, size: blob.length };
  }
  const release = cString(blob.subarray(4, 4 + 65)) ?? blob.toString('latin1', 4, 4 + 65);
  return { ok: true, metadata: { version, previousRelease: release, kexecCount: blob.readUInt32LE(4 + 65), size: blob.length } };
}

/** What a KHO sub-blob is, by content: an FDT (with its root compatible), LUO, kexec-metadata, or raw. */
export type SubtreeKind =
  | { readonly kind: 'luo'; readonly luo: LuoBlob }
  | { readonly kind: 'kexec-metadata'; readonly metadata: KexecMetadataResult }
  | { readonly kind: 'fdt'; readonly compatible?: string; readonly error?: FdtError }
  | { readonly kind: 'raw'; readonly size: number };

/** Classifies a sub-blob by its KHO node name first (the names LUO and KHO register), then by content. */
export function classifySubtree(name: string, blob: Buffer): SubtreeKind {
  if (name === 'LUO') return { kind: 'luo', luo: readLuoBlob(blob) };
  if (name === 'kexec-metadata') return { kind: 'kexec-metadata', metadata: readKexecMetadata(blob) };
  if (isFdt(blob)) {
    const r = readFdt(blob);
    if (!r.ok) return { kind: 'fdt', error: r.error };
    const c = compatible(r.fdt.root)[0];
    return { kind: 'fdt', ...(c === undefined ? {} : { compatible: c }) };
  }
  return { kind: 'raw', size: blob.length };
}

function cString(b: Buffer): string | undefined {
  const nul = b.indexOf(0);
  return nul < 0 ? undefined : b.toString('latin1', 0, nul);
}

function hexHead(b: Buffer): string {
  return b.subarray(0, 8).toString('hex') || '(empty)';
}
