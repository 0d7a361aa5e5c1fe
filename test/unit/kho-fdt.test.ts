// The FDT reader on KHO root FDTs recorded from a real 7.3 guest (test/fixtures/kho/README.md).
// Corrupt inputs are recorded blobs with one field broken, so every error is checked against
// the real layout.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compatible,
  findNode,
  FdtError,
  isFdt,
  parseFdt,
  parseFdtHeader,
  property,
  readFdt,
  string,
  stringList,
  u32be,
  u64be,
  u64le,
  type FdtProperty,
} from '../../orchestrator/kho/fdt.ts';
import { parseKhoRoot } from '../../orchestrator/kho/state.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const blob = (p: string): Buffer => readFileSync(join(FIX, p));
const IN_FDT = blob('kexec1/in/fdt');
const COLD_OUT_FDT = blob('cold/out/fdt');

function prop(b: Buffer, path: string, name: string): FdtProperty {
  const node = findNode(parseFdt(b), path);
  const p = node === undefined ? undefined : property(node, name);
  if (p === undefined) throw new Error(`no ${path}:${name}`);
  return p;
}

function expectFdtError(fn: () => unknown, code: string, offset: number, text: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FdtError);
    const err = e as FdtError;
    expect({ code: err.code, offset: err.offset }).toEqual({ code, offset });
    expect(err.message).toMatch(text);
    expect(err.message).toContain(`offset ${offset}`);
    expect(err.outcome).toBe('test-failed');
    return;
  }
  throw new Error('expected an FdtError');
}

describe('KHO root FDT after a kexec (in/fdt)', () => {
  const fdt = parseFdt(IN_FDT);

  it('has a version-17 header whose totalsize is the file size', () => {
    expect(isFdt(IN_FDT)).toBe(true);
    expect(fdt.header).toMatchObject({ magic: 0xd00dfeed, totalsize: 285, version: 17, lastCompVersion: 16, offMemRsvmap: 40, offDtStruct: 56 });
    expect(IN_FDT.length).toBe(fdt.header.totalsize);
    expect(fdt.reservations).toEqual([]);
  });

  it('root compatible is kho-v4, with a preserved-memory-map and sub-nodes LUO then kexec-metadata', () => {
    expect(fdt.root.path).toBe('/');
    expect(compatible(fdt.root)).toEqual(['kho-v4']);
    expect(string(prop(IN_FDT, '/', 'compatible'))).toBe('kho-v4');
    expect(fdt.root.properties.map((p) => p.name)).toEqual(['compatible', 'preserved-memory-map']);
    // fdt_add_subnode puts the newest first: LUO (late_initcall) before kexec-metadata (fs_initcall).
    expect(fdt.root.children.map((c) => c.path)).toEqual(['/LUO', '/kexec-metadata']);
    for (const c of fdt.root.children) expect(c.properties.map((p) => p.name).sort()).toEqual(['blob-size', 'preserved-data']);
  });

  it('u64 values are little-endian: blob-size equals the sub-blob lengths, addresses are page-aligned', () => {
    const luoSize = prop(IN_FDT, '/LUO', 'blob-size');
    expect(u64le(luoSize)).toBe(32n);
    expect(u64le(luoSize)).toBe(BigInt(blob('kexec1/in/sub_fdts/LUO').length));
    expect(u64le(prop(IN_FDT, 'kexec-metadata', 'blob-size'))).toBe(BigInt(blob('kexec1/in/sub_fdts/kexec-metadata').length));
    // Read as FDT cells (big-endian), the same bytes are absurd.
    expect(u64be(luoSize)).toBe(0x2000000000000000n);
    for (const p of [prop(IN_FDT, '/', 'preserved-memory-map'), prop(IN_FDT, '/LUO', 'preserved-data'), prop(IN_FDT, '/kexec-metadata', 'preserved-data')]) {
      const pa = u64le(p);
      expect(pa % 4096n).toBe(0n);
      expect(pa).toBeGreaterThan(0n);
      expect(pa).toBeLessThan(1n << 30n); // inside the 1 GiB guest
    }
  });

  it('the cold boot LUO blob lives where in/fdt says, its FLB header on the next page', () => {
    const luoPa = u64le(prop(IN_FDT, '/LUO', 'preserved-data'));
    const coldLuo = blob('cold/out/sub_fdts/LUO');
    expect(coldLuo.readBigUInt64LE(24)).toBe(luoPa + 4096n);
  });

  it('path lookup: absolute, relative, missing', () => {
    expect(findNode(fdt, '/')).toBe(fdt.root);
    expect(findNode(fdt, 'LUO')?.name).toBe('LUO');
    expect(findNode(fdt.root, '/kexec-metadata/')?.path).toBe('/kexec-metadata');
    expect(findNode(fdt, '/memblock')).toBeUndefined();
    expect(findNode(fdt, '/LUO/nothing')).toBeUndefined();
  });

  it('value helpers check sizes', () => {
    const compat = prop(IN_FDT, '/', 'compatible');
    expect(stringList(compat)).toEqual(['kho-v4']);
    expect(() => u64le(compat)).toThrow(/compatible is 7 bytes, expected 8/);
    expect(() => u32be(prop(IN_FDT, '/LUO', 'blob-size'))).toThrow(FdtError);
    expect(() => string({ ...compat, value: compat.value.subarray(0, 6) })).toThrow(/compatible is not a NUL-terminated string/);
  });

  it('parseKhoRoot decodes the root with nothing to cross-check failing', () => {
    const r = parseKhoRoot(IN_FDT);
    if (!r.ok) throw r.error;
    expect(r.root.compatible).toBe('kho-v4');
    expect(r.root.subtrees).toEqual([
      { name: 'LUO', blobSize: 32n, preservedData: u64le(prop(IN_FDT, '/LUO', 'preserved-data')) },
      { name: 'kexec-metadata', blobSize: 73n, preservedData: u64le(prop(IN_FDT, '/kexec-metadata', 'preserved-data')) },
    ]);
    expect(r.root.preservedMemoryMap).toBe(u64le(prop(IN_FDT, '/', 'preserved-memory-map')));
  });
});

describe('KHO out/fdt on a cold boot', () => {
  it('with liveupdate=on it is truncated: 233 bytes of a 285-byte FDT (reference §7 item 1)', () => {
    expect(COLD_OUT_FDT.length).toBe(233);
    expect(parseFdtHeader(COLD_OUT_FDT).totalsize).toBe(285);
    expectFdtError(() => parseFdt(COLD_OUT_FDT), 'truncated', 233, /blob is 233 bytes but the header's totalsize is 285/);
    // The bytes are the live FDT's first 233: the next kernel's complete in/fdt starts with them.
    expect(COLD_OUT_FDT.equals(IN_FDT.subarray(0, 233))).toBe(true);
  });

  it('readFdt salvages what the cut blob holds: node names and values, not the property names', () => {
    const r = readFdt(COLD_OUT_FDT);
    if (r.ok) throw new Error('expected a truncated result');
    expect(r.error.code).toBe('truncated');
    expect(r.header?.totalsize).toBe(285);
    expect(r.partial?.children.map((c) => c.name)).toEqual(['LUO', 'kexec-metadata']);
    const luo = r.partial?.children[0];
    expect(luo?.properties.map((p) => p.name)).toEqual([undefined, undefined]);
    expect(luo?.properties.map((p) => p.value.readBigUInt64LE(0))).toContain(32n);
    const k = parseKhoRoot(COLD_OUT_FDT);
    expect(k).toMatchObject({ ok: false, truncated: true, subtreeNames: ['LUO', 'kexec-metadata'], size: 233 });
  });

  it('with liveupdate=off it is complete (only kexec-metadata, added before debugfs sizes the file)', () => {
    const b = blob('cold-liveupdate-off/out/fdt');
    const fdt = parseFdt(b);
    expect(b.length).toBe(fdt.header.totalsize);
    expect(compatible(fdt.root)).toEqual(['kho-v4']);
    expect(fdt.root.children.map((c) => c.name)).toEqual(['kexec-metadata']);
    expect(u64le(prop(b, '/kexec-metadata', 'blob-size'))).toBe(73n);
  });
});

describe('corrupt and truncated blobs give errors that name the offset', () => {
  const mutate = (at: number, bytes: number[]): Buffer => {
    const b = Buffer.from(IN_FDT);
    Buffer.from(bytes).copy(b, at);
    return b;
  };

  it('too short for the magic, wrong magic, too short for the header', () => {
    expectFdtError(() => parseFdt(IN_FDT.subarray(0, 3)), 'truncated', 0, /too short for the magic/);
    expectFdtError(() => parseFdt(blob('cold/out/sub_fdts/LUO')), 'bad-magic', 0, /magic is 0x6c756f2d, expected 0xd00dfeed/);
    expectFdtError(() => parseFdt(IN_FDT.subarray(0, 20)), 'truncated', 20, /shorter than the 40-byte header/);
    expect(isFdt(blob('kexec1/in/sub_fdts/LUO'))).toBe(false);
  });

  it('any cut inside the blob is reported as truncation, never a crash', () => {
    for (let n = 0; n < IN_FDT.length; n++) {
      const r = readFdt(IN_FDT.subarray(0, n));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('truncated');
    }
  });

  it('version, layout and struct corruption', () => {
    expectFdtError(() => parseFdt(mutate(20, [0, 0, 0, 16])), 'bad-version', 20, /version 16 is older than 17/);
    expectFdtError(() => parseFdt(mutate(8, [0, 0, 0x10, 0])), 'bad-layout', 8, /struct block \[4096, 4268\) is outside/);
    expectFdtError(() => parseFdt(mutate(4, [0, 0, 0, 8])), 'bad-layout', 4, /totalsize 8 is smaller than the header/);
    // The first token of the struct block (offset 56) is FDT_BEGIN_NODE; make it garbage.
    expectFdtError(() => parseFdt(mutate(56, [0, 0, 0, 7])), 'bad-structure', 56, /unknown token 0x7/);
    // The root's compatible property: token at 64, len at 68, nameoff at 72; point the name outside the strings.
    expectFdtError(() => parseFdt(mutate(72, [0, 0, 1, 0])), 'bad-structure', 72, /name offset 256 is outside the strings block \(57 bytes\)/);
    // Its length made huge runs past the struct block.
    expectFdtError(() => parseFdt(mutate(68, [0, 0, 1, 0])), 'bad-structure', 76, /property value \(256 bytes\) runs past the end of the struct block/);
    // The root's FDT_END_NODE (at 220) turned into FDT_END leaves the root open.
    expectFdtError(() => parseFdt(mutate(220, [0, 0, 0, 9])), 'bad-structure', 220, /FDT_END with 1 node\(s\) still open/);
  });

  it('readFdt does not throw on corruption either', () => {
    const r = readFdt(Buffer.from('not a device tree'));
    expect(r).toMatchObject({ ok: false, error: { code: 'bad-magic' } });
  });
});
