// LUO and kexec-metadata blobs recorded from a real 7.3 guest through a chain of two kexecs
// (test/fixtures/kho/README.md).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifySubtree, readKexecMetadata, readLuoBlob } from '../../orchestrator/kho/luo-blob.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const blob = (p: string): Buffer => readFileSync(join(FIX, p));

describe('the 7.3 LUO blob (raw struct luo_ser)', () => {
  it('is luo-v5, 32 bytes, and counts liveupdate numbers 1, 2, 3 along the chain', () => {
    const nums = ['cold', 'kexec1', 'kexec2'].map((d) => {
      const luo = readLuoBlob(blob(`${d}/out/sub_fdts/LUO`));
      if (luo.format !== 'raw') throw new Error(`${d}: ${luo.format}`);
      expect(luo.compatible).toBe('luo-v5');
      expect(luo.size).toBe(32);
      return luo.liveupdateNumber;
    });
    expect(nums).toEqual([1n, 2n, 3n]);
  });

  it('sessions_pa is 0 in a running kernel even while a session is held; flbs_pa is a page address', () => {
    for (const d of ['cold', 'cold-session', 'kexec1', 'kexec2']) {
      const luo = readLuoBlob(blob(`${d}/out/sub_fdts/LUO`));
      expect(luo).toMatchObject({ format: 'raw', sessionsPa: 0n });
      if (luo.format !== 'raw' || luo.flbsPa === undefined) throw new Error('no flbs_pa');
      expect(luo.flbsPa).not.toBe(0n);
      expect(luo.flbsPa % 4096n).toBe(0n);
    }
    // Holding a session changes nothing visible: the blob is byte-identical.
    expect(blob('cold-session/out/sub_fdts/LUO').equals(blob('cold/out/sub_fdts/LUO'))).toBe(true);
  });

  it('in/sub_fdts/LUO is stale after a kexec: a reused page, not LUO (reference §7 item 2)', () => {
    for (const d of ['kexec1', 'kexec2']) {
      const b = blob(`${d}/in/sub_fdts/LUO`);
      expect(b.length).toBe(32);
      expect(b.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      const luo = readLuoBlob(b);
      expect(luo.format).toBe('unknown');
      if (luo.format === 'unknown') expect(luo.reason).toMatch(/no FDT magic and no "luo-vN" string at offset 0 \(first bytes 7f454c4602010103\)/);
    }
  });

  it('an FDT is recognised by its magic (the ≤7.1 LUO format), whatever it holds', () => {
    // No pre-7.2 kernel is recorded; a real FDT passed as a LUO blob exercises the FDT branch.
    const asLuo = readLuoBlob(blob('kexec1/in/fdt'));
    expect(asLuo).toMatchObject({ format: 'fdt', compatible: 'kho-v4' });
    if (asLuo.format === 'fdt') expect(asLuo.liveupdateNumber).toBeUndefined();
    // A truncated FDT stays an FDT, with the error.
    const cut = readLuoBlob(blob('cold/out/fdt'));
    expect(cut).toMatchObject({ format: 'fdt', error: { code: 'truncated' } });
  });

  it('a short luo-v5 blob keeps its compatible but decodes no fields', () => {
    const short = readLuoBlob(blob('cold/out/sub_fdts/LUO').subarray(0, 16));
    expect(short).toMatchObject({ format: 'raw', compatible: 'luo-v5', size: 16 });
    if (short.format === 'raw') expect(short.liveupdateNumber).toBeUndefined();
  });
});

describe('kexec-metadata', () => {
  it('records the writer’s release and the kexec count: out = in + 1', () => {
    const read = (p: string): unknown => readKexecMetadata(blob(p));
    expect(read('cold/out/sub_fdts/kexec-metadata')).toEqual({ ok: true, metadata: { version: 1, previousRelease: '7.3.4', kexecCount: 1, size: 73 } });
    expect(read('kexec1/in/sub_fdts/kexec-metadata')).toMatchObject({ ok: true, metadata: { previousRelease: '7.3.4', kexecCount: 1 } });
    expect(read('kexec1/out/sub_fdts/kexec-metadata')).toMatchObject({ ok: true, metadata: { kexecCount: 2 } });
    expect(read('kexec2/in/sub_fdts/kexec-metadata')).toMatchObject({ ok: true, metadata: { kexecCount: 2 } });
    expect(read('kexec2/out/sub_fdts/kexec-metadata')).toMatchObject({ ok: true, metadata: { kexecCount: 3 } });
    // The incoming copy is the previous kernel's outgoing one, byte for byte (it is never freed).
    expect(blob('kexec1/in/sub_fdts/kexec-metadata').equals(blob('cold/out/sub_fdts/kexec-metadata'))).toBe(true);
  });

  it('short or foreign blobs are reported, not thrown', () => {
    const b = blob('cold/out/sub_fdts/kexec-metadata');
    const reason = (r: ReturnType<typeof readKexecMetadata>): string => (r.ok ? 'ok' : r.reason);
    expect(reason(readKexecMetadata(b.subarray(0, 2)))).toMatch(/too short for the version/);
    expect(readKexecMetadata(b.subarray(0, 40))).toMatchObject({ ok: false, version: 1 });
    expect(reason(readKexecMetadata(b.subarray(0, 40)))).toMatch(/40 bytes, shorter than the 73/);
    // "luo-" read as a little-endian u32.
    expect(reason(readKexecMetadata(blob('cold/out/sub_fdts/LUO')))).toMatch(/version 762279276 is not the known version 1/);
  });
});

describe('classifySubtree', () => {
  it('by KHO node name, then by content', () => {
    expect(classifySubtree('LUO', blob('cold/out/sub_fdts/LUO'))).toMatchObject({ kind: 'luo', luo: { format: 'raw', liveupdateNumber: 1n } });
    expect(classifySubtree('kexec-metadata', blob('cold/out/sub_fdts/kexec-metadata'))).toMatchObject({ kind: 'kexec-metadata', metadata: { ok: true } });
    expect(classifySubtree('memblock', blob('kexec1/in/fdt'))).toEqual({ kind: 'fdt', compatible: 'kho-v4' });
    expect(classifySubtree('other', blob('kexec1/in/sub_fdts/LUO'))).toEqual({ kind: 'raw', size: 32 });
  });
});
