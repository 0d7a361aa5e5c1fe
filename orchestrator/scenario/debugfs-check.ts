// The `debugfs` step's verdict on a KHO debugfs dump. Absence is only evidence when debugfs is
// mounted (an unmounted /sys/kernel/debug is an empty directory: everything would be "absent"),
// and a file whose read failed proves nothing about its contents, so neither can pass.

import { compatible, findNode, parseFdtHeader, property, readFdt, string as fdtString, u64le, type Fdt } from '../kho/fdt.ts';
import type { KhoDump } from '../kho/debugfs.ts';
import { readLuoBlob } from '../kho/luo-blob.ts';
import { HandoverError } from '../errors.ts';
import type { Step } from './schema.ts';
import { StepFailure } from './step-context.ts';

export type DebugfsCheck = Extract<Step, { kind: 'debugfs' }>['debugfs'];

/** `kho/out/fdt`, `/sys/kernel/debug/kho/out/fdt` → `out/fdt`; `kho` → ``; anything else is not in the dump. */
export function khoRelative(path: string): string | undefined {
  const m = /^\/?(?:sys\/kernel\/debug\/)?kho(?:\/+(.*))?$/.exec(path);
  return m === null ? undefined : (m[1] ?? '').replace(/\/+$/, '');
}

/**
 * Checks one entry of the dump; throws StepFailure. `evidence` is added to a "not mounted"
 * failure (e.g. /init's mount warning from the console).
 */
export function checkDebugfs(dump: KhoDump, d: DebugfsCheck, evidence: readonly string[] = []): Record<string, unknown> {
  const rel = khoRelative(d.path);
  if (rel === undefined) throw new HandoverError('usage-error', `debugfs: ${d.path} is not below kho/ (the step reads ${dump.root}/kho only)`);
  const name = `kho/${rel}`;
  if (!dump.debugfsMounted) {
    throw new StepFailure(`debugfs is not mounted at ${dump.root}: cannot tell whether ${name} exists`, [
      `no debugfs at ${dump.root} in the guest's /proc/mounts`,
      ...evidence,
    ]);
  }
  const file = dump.files.get(rel);
  const exists = file !== undefined || dump.dirs.includes(rel) || (rel === '' && dump.khoDir);
  if (file?.error !== undefined) {
    const why = /^(\d+) (.*)$/.exec(file.error);
    const error = why === null ? file.error : `exit ${why[1] ?? ''}: ${why[2] ?? ''}`;
    throw new StepFailure(`${name} is listed but reading it failed (${error})${d.exists ? '' : ', expected absent'}`, [
      `stat size ${file.statSize}, ${file.data.length} bytes read before the error`,
    ]);
  }
  if (exists !== d.exists) {
    throw new StepFailure(`${name} is ${exists ? 'present' : 'absent'}, expected ${d.exists ? 'present' : 'absent'}`, [
      `kho dir: ${dump.khoDir ? 'present' : 'absent'}; files: ${[...dump.files.keys()].join(', ') || '(none)'}`,
    ]);
  }
  if (file === undefined) return { exists };
  const size = file.data.length;
  if (d.min_size !== undefined && size < d.min_size) throw new StepFailure(`${name} is ${size} bytes, expected at least ${d.min_size}`);
  if (d.max_size !== undefined && size > d.max_size) throw new StepFailure(`${name} is ${size} bytes, expected at most ${d.max_size}`);
  if (d.fdt_header === true) {
    try {
      parseFdtHeader(file.data);
    } catch (err) {
      throw new StepFailure(`${name} does not start with a valid FDT header: ${(err as Error).message}`);
    }
  }
  const parsed = (): Fdt => {
    const r = readFdt(file.data);
    if (!r.ok) throw new StepFailure(`${name} is not a valid FDT: ${r.error.message}`);
    return r.fdt;
  };
  if (d.fdt_property !== undefined) {
    const p = d.fdt_property;
    const node = findNode(parsed(), p.node);
    if (node === undefined) throw new StepFailure(`${name}: no node ${p.node}`);
    const prop = property(node, p.name);
    if (prop === undefined) throw new StepFailure(`${name}: node ${p.node} has no property ${p.name}`);
    if (p.u64 !== undefined && u64le(prop) !== BigInt(p.u64)) {
      throw new StepFailure(`${name}: ${p.node} ${p.name} is ${u64le(prop)} (little-endian u64), expected ${p.u64}`);
    }
    if (p.string !== undefined && fdtString(prop) !== p.string) {
      throw new StepFailure(`${name}: ${p.node} ${p.name} is '${fdtString(prop)}', expected '${p.string}'`);
    }
  }
  if (d.luo_state !== undefined) checkLuoState(name, file.data, d.luo_state);
  if (d.fdt_compatible !== undefined) {
    const compat = compatible(parsed().root);
    const glob = globRegExp(d.fdt_compatible);
    if (!compat.some((c) => glob.test(c))) throw new StepFailure(`${name}: root compatible is [${compat.join(', ')}], expected ${d.fdt_compatible}`);
    return { exists, size, compatible: compat };
  }
  return { exists, size };
}

function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

/** The blob is LUO's state (raw `luo_ser` or the pre-7.2 FDT), with the compatible and number asked for. */
function checkLuoState(name: string, blob: Buffer, want: NonNullable<DebugfsCheck['luo_state']>): void {
  const luo = readLuoBlob(blob);
  if (luo.format === 'unknown') throw new StepFailure(`${name} is not LUO state (${blob.length} bytes): ${luo.reason}`, [`first bytes: ${blob.subarray(0, 32).toString('hex')}`]);
  if (luo.format === 'fdt' && luo.error !== undefined) throw new StepFailure(`${name} is not LUO state: an FDT that does not parse: ${luo.error.message}`);
  const compat = luo.compatible ?? '';
  if (want.compatible !== undefined && !globRegExp(want.compatible).test(compat)) {
    throw new StepFailure(`${name}: LUO state compatible is '${compat}', expected ${want.compatible}`);
  }
  if (want.liveupdate_number !== undefined && luo.liveupdateNumber !== BigInt(want.liveupdate_number)) {
    throw new StepFailure(`${name}: LUO live update number is ${luo.liveupdateNumber ?? 'not decoded'}, expected ${want.liveupdate_number}`);
  }
}
