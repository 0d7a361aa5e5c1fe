// Capability probe of a running guest: which KHO/LUO interface this kernel has, as plain data, so
// a scenario can skip a step with a reason instead of failing on a kernel that lacks it. Probes
// the interface (files, device, blob formats), never the version number (reference §4.3).

import { HandoverError } from '../errors.ts';
import { AGENT_COMMAND } from '../guest/agent.ts';
import { DEBUGFS_ROOT, type GuestExec } from './debugfs.ts';
import { compatible, isFdt, readFdt } from './fdt.ts';
import { readLuoBlob } from './luo-blob.ts';

export type LuoFormat =
  /** 7.2+: raw `struct luo_ser`, compatible `luo-vN` at offset 0. */
  | 'raw'
  /** 6.19–7.1: an FDT with compatible `luo-v1`. */
  | 'fdt'
  | 'unknown'
  /** No LUO sub-blob in out/ (LUO disabled, or liveupdate=off). */
  | 'absent';

export interface KhoCapabilities {
  /** `uname -r`. */
  readonly release: string;
  readonly cmdline: string;
  /** The KHO/LUO parameters as given on /proc/cmdline (last occurrence wins, as in the kernel). */
  readonly params: { readonly kho?: string; readonly liveupdate?: string; readonly khoScratch?: string; readonly khoBootmem?: string };
  readonly debugfsMounted: boolean;
  /** `<debugfs>/kho` exists: KHO enabled in this kernel (it has no positive boot message). */
  readonly khoEnabled: boolean;
  /** `kho/out/fdt`: present on a cold boot only (7.3), or after finalize (≤6.18). */
  readonly outFdt: boolean;
  /**
   * `kho/out/fdt` is shorter than its header's totalsize: 7.3 sizes the debugfs file when only
   * kexec-metadata exists, and LUO's sub-node is added later (measured; see the fixture README).
   */
  readonly outFdtTruncated: boolean;
  /** `kho/in/fdt`: this kernel was booted by a KHO kexec. */
  readonly inFdt: boolean;
  /** `kho/out/finalize`: kernels up to 7.0 need a finalize step before kexec. */
  readonly finalizeFile: boolean;
  /** `/dev/liveupdate` is a character device: LUO is enabled (liveupdate=on and KHO on). */
  readonly luoDevice: boolean;
  /** Format of `kho/out/sub_fdts/LUO` (or `in/` when out/ lacks it). */
  readonly luoFormat: LuoFormat;
  /** `luo-v5`, `luo-v1`, … when readable. */
  readonly luoCompatible?: string;
  /** `kho/out/sub_fdts/kexec-metadata` (7.1+). */
  readonly kexecMetadata: boolean;
  /** Root compatible of out/fdt (or in/fdt): `kho-v4` on 7.2+. */
  readonly khoCompatible?: string;
  /** Sub-blob names under out/sub_fdts and in/sub_fdts. */
  readonly outSubtrees: readonly string[];
  readonly inSubtrees: readonly string[];
  /** hugetlbfs is in /proc/filesystems (CONFIG_HUGETLBFS): MFD_HUGETLB memfds can be made. Unknown when the probe predates it. */
  readonly hugetlbfs?: boolean;
}

export type Capability =
  | 'debugfsMounted'
  | 'khoEnabled'
  | 'outFdt'
  | 'inFdt'
  | 'finalizeFile'
  | 'luoDevice'
  | 'luoRaw'
  | 'luoFdt'
  | 'kexecMetadata';

// The guest agent's `kho-caps ROOT` (rootfs/agent/khodump.c) prints key=value lines; blobs are
// small (root FDT ≤ 1 page, LUO 32 B), so they come whole, in base64. One process: the shell
// script it replaced ran ~20 (uname, awk, ls, base64, tr, ...), ~0.1 s under TCG.
/** Probes the running guest (one exec). */
export async function probeKhoCapabilities(guest: GuestExec, opts: { root?: string; timeoutMs?: number } = {}): Promise<KhoCapabilities> {
  const root = opts.root ?? DEBUGFS_ROOT;
  const r = await guest.exec([AGENT_COMMAND, 'kho-caps', root], { timeoutMs: opts.timeoutMs ?? 30_000 });
  if (r.exitCode !== 0) {
    throw new HandoverError('step-failed', `KHO capability probe failed in the guest (exit ${String(r.exitCode ?? r.signal)})`, {
      evidence: r.stderr.split('\n').filter((l) => l !== '').slice(-10),
    });
  }
  return parseCapabilityProbe(r.stdout);
}

/** Interprets the output of the agent's kho-caps (pure; exported for tests on recorded output). */
export function parseCapabilityProbe(text: string): KhoCapabilities {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  if (!kv.has('release') || !kv.has('kho_dir')) {
    throw new HandoverError('step-failed', 'KHO capability probe: output is missing its fields', { evidence: text.split('\n').slice(0, 10) });
  }
  const flag = (k: string): boolean => kv.get(k) === '1';
  const blob = (k: string): Buffer | undefined => {
    const v = kv.get(k) ?? '';
    return v === '' ? undefined : Buffer.from(v, 'base64');
  };
  const words = (k: string): string[] => (kv.get(k) ?? '').split(/\s+/).filter((w) => w !== '');
  const cmdline = kv.get('cmdline') ?? '';

  const luo = blob('out_luo') ?? blob('in_luo');
  let luoFormat: LuoFormat = 'absent';
  let luoCompatible: string | undefined;
  if (luo !== undefined) {
    const info = readLuoBlob(luo);
    luoFormat = info.format;
    luoCompatible = info.format === 'unknown' ? undefined : info.compatible;
  }
  // A truncated out/fdt has lost the strings block, so "compatible" is unreadable: use in/fdt then.
  const outFdt = blob('out_fdt_b64');
  const outRead = outFdt !== undefined && isFdt(outFdt) ? readFdt(outFdt) : undefined;
  const outFdtTruncated = outRead?.ok === false && outRead.error.code === 'truncated';
  let khoCompatible: string | undefined;
  for (const b of [outFdt, blob('in_fdt_b64')]) {
    if (b === undefined || !isFdt(b) || khoCompatible !== undefined) continue;
    const r = readFdt(b);
    if (r.ok) khoCompatible = compatible(r.fdt.root)[0];
  }
  return {
    release: kv.get('release') ?? '',
    cmdline,
    params: cmdlineParams(cmdline),
    debugfsMounted: flag('debugfs'),
    khoEnabled: flag('kho_dir'),
    outFdt: flag('out_fdt'),
    outFdtTruncated,
    inFdt: flag('in_fdt'),
    finalizeFile: flag('finalize'),
    luoDevice: flag('liveupdate_dev'),
    luoFormat,
    ...(luoCompatible === undefined ? {} : { luoCompatible }),
    kexecMetadata: words('out_subtrees').includes('kexec-metadata'),
    ...(khoCompatible === undefined ? {} : { khoCompatible }),
    outSubtrees: words('out_subtrees'),
    inSubtrees: words('in_subtrees'),
    ...(kv.has('filesystems') ? { hugetlbfs: words('filesystems').includes('hugetlbfs') } : {}),
  };
}

/** `kho=`, `liveupdate=`, `kho_scratch=` and its 7.4 name `kho_bootmem=` from a command line. */
export function cmdlineParams(cmdline: string): KhoCapabilities['params'] {
  const out: { kho?: string; liveupdate?: string; khoScratch?: string; khoBootmem?: string } = {};
  for (const word of cmdline.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq < 0) continue;
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === 'kho') out.kho = value;
    else if (key === 'liveupdate') out.liveupdate = value;
    else if (key === 'kho_scratch') out.khoScratch = value;
    else if (key === 'kho_bootmem') out.khoBootmem = value;
  }
  return out;
}

const WHY: Record<Capability, string> = {
  debugfsMounted: 'debugfs is not mounted at the probed root',
  khoEnabled: 'KHO is disabled in this kernel (no kho/ in debugfs: kho=off, or CONFIG_KEXEC_HANDOVER(_DEBUGFS) unset)',
  outFdt: 'no kho/out/fdt (it exists only on a cold boot)',
  inFdt: 'no kho/in/fdt (this kernel was not booted by a KHO kexec)',
  finalizeFile: 'no kho/out/finalize (7.1+ has no finalize step)',
  luoDevice: 'no /dev/liveupdate (LUO disabled: liveupdate=off, KHO off, or CONFIG_LIVEUPDATE unset)',
  luoRaw: 'the LUO blob is not the raw luo_ser format of 7.2+',
  luoFdt: 'the LUO blob is not the FDT format of 6.19–7.1',
  kexecMetadata: 'no kexec-metadata sub-blob (7.1+)',
};

export function hasCapability(caps: KhoCapabilities, need: Capability): boolean {
  switch (need) {
    case 'luoRaw':
      return caps.luoFormat === 'raw';
    case 'luoFdt':
      return caps.luoFormat === 'fdt';
    default:
      return caps[need];
  }
}

/** Why a step needing `need` cannot run on this guest, or undefined when it can. */
export function missingCapability(caps: KhoCapabilities, need: readonly Capability[]): string | undefined {
  const missing = need.filter((n) => !hasCapability(caps, n)).map((n) => WHY[n]);
  return missing.length === 0 ? undefined : `${missing.join('; ')} [kernel ${caps.release}]`;
}

/**
 * What a scenario or a step may say it `requires`. Each is read from the interface the running
 * kernel exposes (reference §4.3), never from its version number.
 */
export const REQUIREMENTS = ['kho', 'liveupdate', 'memfd-seals', 'get-name', 'kexec-metadata', 'luo-raw', 'out-fdt', 'in-fdt', 'hugetlbfs'] as const;
export type Requirement = (typeof REQUIREMENTS)[number];

/** Probes that need a LUO call, not a file: only run when a step asks for them. */
export interface RuntimeCapabilities {
  /** LIVEUPDATE_SESSION_GET_NAME answered on a fresh session (7.2+; EINVAL before). */
  readonly getName?: boolean;
}

/** The requirements that are one probed file capability each: their reasons are WHY's. */
const FILE_REQUIREMENT: Partial<Record<Requirement, Capability>> = {
  kho: 'khoEnabled',
  liveupdate: 'luoDevice',
  'out-fdt': 'outFdt',
  'in-fdt': 'inFdt',
};

/** Why a kernel does not meet `need`, or undefined when it does (`get-name` needs its runtime probe first). */
export function unmetRequirement(caps: KhoCapabilities, need: Requirement, runtime: RuntimeCapabilities = {}): string | undefined {
  const on = `[kernel ${caps.release}]`;
  const file = FILE_REQUIREMENT[need];
  if (file !== undefined) return missingCapability(caps, [file]);
  // The kexec-metadata sub-blob marks the 7.1 KHO ABI: out/ on a cold boot, in/ after a KHO kexec.
  const kexecMetadata = caps.kexecMetadata || caps.inSubtrees.includes('kexec-metadata');
  switch (need) {
    case 'memfd-seals':
      // memfd-v2 (seals kept) came with the 7.1 KHO ABI.
      return kexecMetadata ? undefined : `memfd seals are preserved from the 7.1 KHO ABI on (memfd-v2), and this kernel has no kexec-metadata sub-blob ${on}`;
    case 'kexec-metadata':
      return kexecMetadata ? undefined : `${WHY.kexecMetadata} ${on}`;
    case 'luo-raw':
      return caps.luoFormat === 'raw' ? undefined : `${WHY.luoRaw} (format: ${caps.luoFormat}) ${on}`;
    case 'hugetlbfs':
      return caps.hugetlbfs === true ? undefined : `no hugetlbfs in /proc/filesystems (CONFIG_HUGETLBFS unset): no MFD_HUGETLB memfd can be made ${on}`;
    case 'get-name':
      return runtime.getName === false ? `LIVEUPDATE_SESSION_GET_NAME is refused (7.2+ only) ${on}` : undefined;
    default:
      return undefined; // the file requirements, answered above
  }
}
