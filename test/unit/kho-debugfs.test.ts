// The debugfs dump, snapshot and interpretation, on dumps recorded from a real 7.3 guest
// (test/fixtures/kho/README.md).

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKhoDump, parseKhoDump, parseScratch, saveKhoDump, snapshotFromDump } from '../../orchestrator/kho/debugfs.ts';
import { crossCheck, interpretKho, parseKhoRoot } from '../../orchestrator/kho/state.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const load = (name: string): ReturnType<typeof loadKhoDump> => loadKhoDump(join(FIX, name));

describe('the output of the agent’s kho-dump', () => {
  it('parses to exactly the files saved from the same boot', async () => {
    const text = await readFile(join(FIX, 'dump-kexec1.txt'), 'utf8');
    const parsed = parseKhoDump(text);
    const saved = await load('kexec1');
    expect(parsed.khoDir).toBe(true);
    expect(parsed.debugfsMounted).toBe(true);
    expect(parsed.dirs).toEqual(['in', 'in/sub_fdts', 'out', 'out/sub_fdts']);
    expect([...parsed.files.keys()]).toEqual([...saved.files.keys()]);
    for (const [path, f] of parsed.files) {
      expect(f.data.equals(saved.files.get(path)?.data ?? Buffer.alloc(0)), path).toBe(true);
      // debugfs blobs and seq files all report size 0: only reading to EOF gets the bytes.
      expect(f.statSize).toBe(0);
    }
  });

  it('keeps a read error and refuses output cut inside a file', async () => {
    const text = await readFile(join(FIX, 'dump-kexec1.txt'), 'utf8');
    const withError = text.replace(/(@@file 0 in\/sub_fdts\/LUO\n)[^\n]*\n@@end/, '$1@@error 1 base64: in/sub_fdts/LUO: Permission denied');
    expect(parseKhoDump(withError).files.get('in/sub_fdts/LUO')).toMatchObject({ error: '1 base64: in/sub_fdts/LUO: Permission denied' });
    const cut = text.slice(0, text.indexOf('@@end'));
    expect(() => parseKhoDump(cut)).toThrow(/ended inside in\/fdt/);
    expect(parseKhoDump('@@debugfs mounted\n@@nokho\n')).toMatchObject({ debugfsMounted: true, khoDir: false, dirs: [] });
  });

  it('round-trips through saveKhoDump / loadKhoDump', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kho-dump-'));
    try {
      const dump = await load('kexec2');
      await saveKhoDump(dump, dir);
      const again = await loadKhoDump(dir);
      expect(again).toEqual(dump);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('snapshots', () => {
  it('cold boot: out/ with the root FDT, scratch and the LUO + kexec-metadata blobs; no in/', async () => {
    const snap = snapshotFromDump(await load('cold'));
    expect(snap.enabled).toBe(true);
    expect(snap.in).toBeUndefined();
    expect(snap.out?.fdt?.length).toBe(233);
    expect(snap.out?.finalize).toBeUndefined();
    expect(Object.keys(snap.out?.subtrees ?? {}).sort()).toEqual(['LUO', 'kexec-metadata']);
    expect(snap.out?.scratch).toEqual([
      { phys: 0x3a400000n, len: 0x4400000n },
      { phys: 0x3a400000n, len: 0n },
      { phys: 0x2d800000n, len: 0xcc00000n },
    ]);
  });

  it('after kexec: in/ has the root FDT and sub-blobs, out/ has no fdt, scratch is inherited', async () => {
    const cold = snapshotFromDump(await load('cold'));
    const snap = snapshotFromDump(await load('kexec1'));
    expect(snap.out?.fdt).toBeUndefined();
    expect(snap.in?.fdt?.length).toBe(285);
    expect(Object.keys(snap.in?.subtrees ?? {}).sort()).toEqual(['LUO', 'kexec-metadata']);
    expect(snap.out?.scratch).toEqual(cold.out?.scratch);
  });

  it('kho=off: debugfs mounted, no kho/ at all', async () => {
    const snap = snapshotFromDump(await load('kho-off'));
    expect(snap).toMatchObject({ enabled: false, debugfsMounted: true });
    expect(snap.out).toBeUndefined();
    expect(snap.in).toBeUndefined();
  });

  it('scratch files must pair up and be hex', () => {
    expect(() => parseScratch('0x1\n0x2\n', '0x3\n')).toThrow(/2 entries but scratch_len has 1/);
    expect(() => parseScratch('0x1\n', '12\n')).toThrow(/scratch_len: not a hex value: "12"/);
  });
});

describe('interpretation', () => {
  it('after kexec 1: in/fdt is a consistent kho-v4 root; LUO out = 2, LUO in is stale', async () => {
    const state = interpretKho(snapshotFromDump(await load('kexec1')));
    expect(state.in?.root).toMatchObject({ ok: true, size: 285, root: { compatible: 'kho-v4' } });
    expect(state.in?.problems).toEqual([]);
    expect(state.out?.root).toBeUndefined();
    expect(state.out?.subtrees.LUO).toMatchObject({ kind: 'luo', size: 32, luo: { format: 'raw', liveupdateNumber: 2n } });
    expect(state.in?.subtrees.LUO).toMatchObject({ kind: 'luo', size: 32, luo: { format: 'unknown' } });
    expect(state.in?.subtrees['kexec-metadata']).toMatchObject({ kind: 'kexec-metadata', size: 73, metadata: { ok: true, metadata: { kexecCount: 1 } } });
  });

  it('cold boot: the truncated out/fdt is reported as such, with the sub-node names it still holds', async () => {
    const state = interpretKho(snapshotFromDump(await load('cold')));
    expect(state.out?.root).toMatchObject({ ok: false, truncated: true, subtreeNames: ['LUO', 'kexec-metadata'], header: { totalsize: 285 } });
    expect(state.out?.problems).toEqual([]);
  });

  it('crossCheck flags a size mismatch, a missing blob and a stray blob', async () => {
    const dump = await load('kexec1');
    const root = parseKhoRoot(dump.files.get('in/fdt')?.data ?? Buffer.alloc(0));
    if (!root.ok) throw root.error;
    const meta = dump.files.get('in/sub_fdts/kexec-metadata')?.data ?? Buffer.alloc(0);
    const luo = dump.files.get('in/sub_fdts/LUO')?.data ?? Buffer.alloc(0);
    expect(crossCheck(root.root, { LUO: luo, 'kexec-metadata': meta })).toEqual([]);
    expect(crossCheck(root.root, { LUO: luo, 'kexec-metadata': meta.subarray(0, 72), memblock: meta })).toEqual([
      'kexec-metadata: blob-size 73 but sub_fdts/kexec-metadata is 72 bytes',
      'sub_fdts/memblock is not a node of the root FDT',
    ]);
    expect(crossCheck(root.root, { 'kexec-metadata': meta })).toEqual(['root FDT lists LUO but sub_fdts has no such file']);
  });
});
