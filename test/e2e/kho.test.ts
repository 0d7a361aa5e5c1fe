// KHO/LUO handover state read from a real 7.3 guest: debugfs snapshot on a cold boot, a LUO
// session with a preserved memfd, kexec, snapshot again, a second kexec; and a kho=off boot.
// With HANDOVER_RECORD_KHO_FIXTURES=1 it also (re)records test/fixtures/kho/ from these boots.

import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecResult } from '../../orchestrator/guest/guest.ts';
import { buildKernel, type KernelBuild } from '../../orchestrator/kernel/build.ts';
import { fireKexec, loadKexec } from '../../orchestrator/machine/kexec.ts';
import { type Machine, startMachine } from '../../orchestrator/machine/start.ts';
import { privateTempDir } from '../../orchestrator/paths.ts';
import { probeKhoCapabilities } from '../../orchestrator/kho/caps.ts';
import { dumpKhoDebugfs, type GuestExec, type KhoDump, saveKhoDump, snapshotFromDump } from '../../orchestrator/kho/debugfs.ts';
import { readKexecMetadata, readLuoBlob } from '../../orchestrator/kho/luo-blob.ts';
import { parseMarkers, summarizeBoot } from '../../orchestrator/kho/markers.ts';
import { interpretKho } from '../../orchestrator/kho/state.ts';

const RECORD = process.env.HANDOVER_RECORD_KHO_FIXTURES === '1';
const FIXTURES = resolve(import.meta.dirname, '../fixtures/kho');

let kernel: KernelBuild;
let helper = '';
let work = '';

/** Wraps a guest so the raw output of every probe can be saved next to the dumps. */
function recording(m: Machine, sink: Map<string, string>, name: string): GuestExec {
  return {
    exec: async (argv, opts): Promise<ExecResult> => {
      const r = await m.guest.exec(argv, opts);
      sink.set(name, r.stdout);
      return r;
    },
  };
}

async function record(name: string, dump: KhoDump): Promise<void> {
  if (RECORD) await saveKhoDump(dump, join(FIXTURES, name));
}

async function recordText(name: string, text: string): Promise<void> {
  if (RECORD) await writeFile(join(FIXTURES, name), text);
}

beforeAll(async () => {
  kernel = await buildKernel();
  work = await privateTempDir('kho-e2e');
  helper = join(work, 'luo-hold');
  execFileSync('gcc', ['-static', '-O2', '-s', '-Wall', '-Wextra', '-isystem', kernel.artifacts.headers, '-o', helper, join(FIXTURES, 'luo-hold.c')]);
  if (RECORD) await mkdir(FIXTURES, { recursive: true });
});

afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe('KHO handover state on the default kernel (liveupdate=on)', () => {
  let m: Machine | undefined;
  const probes = new Map<string, string>();
  let cold: KhoDump;

  beforeAll(async () => {
    m = await startMachine({ kernel, accel: 'tcg' });
  });

  afterAll(async () => {
    if (m !== undefined) {
      if (RECORD) await copyFile(m.vm.consoleLog, join(FIXTURES, 'console-kexec-chain.log'));
      await m.stop();
    }
    for (const [name, text] of probes) await recordText(`${name}.txt`, text);
  });

  it('cold boot: KHO and LUO present, out/fdt is a kho-v4 root, no in/', async () => {
    if (m === undefined) throw new Error('no machine');
    const caps = await probeKhoCapabilities(recording(m, probes, 'caps-cold'));
    expect(caps).toMatchObject({ khoEnabled: true, debugfsMounted: true, outFdt: true, outFdtTruncated: true, inFdt: false, finalizeFile: false, luoDevice: true, luoFormat: 'raw', luoCompatible: 'luo-v5', kexecMetadata: true });
    expect(caps.release).toBe(kernel.metadata.release);
    expect(caps.params.liveupdate).toBe('on');

    cold = await dumpKhoDebugfs(m.guest);
    await record('cold', cold);
    const snap = snapshotFromDump(cold);
    expect(snap.enabled).toBe(true);
    expect(snap.in).toBeUndefined();
    expect(Object.keys(snap.out?.subtrees ?? {}).sort()).toEqual(['LUO', 'kexec-metadata']);
    expect(snap.out?.scratch.length).toBeGreaterThanOrEqual(2);
    // §7 item 1: out/fdt is sized before LUO adds its sub-node, so a read stops short of totalsize.
    const state = interpretKho(snap);
    expect(state.out?.root).toMatchObject({ ok: false, truncated: true, header: { magic: 0xd00dfeed, version: 17 }, subtreeNames: ['LUO', 'kexec-metadata'] });
    const luo = state.out?.subtrees.LUO;
    expect(luo?.kind).toBe('luo');
    if (luo?.kind === 'luo' && luo.luo.format === 'raw') {
      expect(luo.luo.liveupdateNumber).toBe(1n);
      expect(luo.luo.sessionsPa).toBe(0n);
      expect(luo.luo.flbsPa).not.toBe(0n);
    } else throw new Error(`LUO blob is not raw: ${JSON.stringify(luo)}`);
  });

  it('a preserved memfd in a held session, then kexec: in/ holds the previous kernel’s set, out/fdt is gone', async () => {
    if (m === undefined) throw new Error('no machine');
    await m.guest.upload(helper, '/run/luo-hold', { mode: 0o755 });
    const held = await m.guest.run(['/run/luo-hold', 'kho-fixture-1', '0x1234', 'preserved across kexec 1']);
    expect(held.stdout).toMatch(/^held session=kho-fixture-1/);
    const beforeKexec = await dumpKhoDebugfs(m.guest);
    await record('cold-session', beforeKexec);

    await loadKexec(m);
    const k = await fireKexec(m, { expectRelease: kernel.metadata.release });
    expect(k.boot).toBe(2);
    const caps = await probeKhoCapabilities(recording(m, probes, 'caps-kexec1'));
    expect(caps).toMatchObject({ khoEnabled: true, outFdt: false, inFdt: true, luoDevice: true, luoFormat: 'raw', khoCompatible: 'kho-v4' });

    const dump = await dumpKhoDebugfs(recording(m, probes, 'dump-kexec1'));
    await record('kexec1', dump);
    const snap = snapshotFromDump(dump);
    expect(snap.out?.fdt).toBeUndefined();
    expect(snap.in?.fdt).toBeDefined();
    expect(Object.keys(snap.in?.subtrees ?? {}).sort()).toEqual(['LUO', 'kexec-metadata']);
    const state = interpretKho(snap);
    const root = state.in?.root;
    if (root?.ok !== true) throw new Error(`in/fdt did not parse: ${root?.error.message}`);
    expect(root.root.compatible).toBe('kho-v4');
    expect(state.in?.problems).toEqual([]);
    // The cold boot's truncated out/fdt was the head of this very FDT.
    expect(cold.files.get('out/fdt')?.data.equals(snap.in?.fdt?.subarray(0, cold.files.get('out/fdt')?.data.length) ?? Buffer.alloc(0))).toBe(true);
    // §7 item 2: LUO frees the incoming luo_ser page before debugfs exposes it; it is reused.
    expect(readLuoBlob(snap.in?.subtrees.LUO ?? Buffer.alloc(0)).format, 'in/sub_fdts/LUO still holds luo_ser: 7.3 frees that page early').not.toBe('raw');
    const meta = readKexecMetadata(snap.in?.subtrees['kexec-metadata'] ?? Buffer.alloc(0));
    expect(meta).toMatchObject({ ok: true, metadata: { version: 1, previousRelease: kernel.metadata.release, kexecCount: 1 } });
    const outLuo = readLuoBlob(snap.out?.subtrees.LUO ?? Buffer.alloc(0));
    expect(outLuo).toMatchObject({ format: 'raw', compatible: 'luo-v5', liveupdateNumber: 2n, sessionsPa: 0n });

    const markers = parseMarkers(m.vm.console.lines().map((l) => ({ text: l.text, boot: l.boot })));
    expect(summarizeBoot(markers, 1)).toMatchObject({ kexecStarted: true, khoFound: false, failures: [] });
    expect(summarizeBoot(markers, 2)).toMatchObject({ khoFound: true, liveupdateNumber: 1, execFrom: { release: kernel.metadata.release, count: 1 }, failures: [] });
  });

  it('a second kexec counts liveupdate number 2 and kexec count 2', async () => {
    if (m === undefined) throw new Error('no machine');
    // /run is a fresh tmpfs in the new kernel.
    await m.guest.upload(helper, '/run/luo-hold', { mode: 0o755 });
    const held = await m.guest.run(['/run/luo-hold', 'kho-fixture-2', '0x5678', 'preserved across kexec 2']);
    expect(held.stdout).toMatch(/^held session=kho-fixture-2/);
    await loadKexec(m);
    const k = await fireKexec(m, { expectRelease: kernel.metadata.release });
    expect(k.boot).toBe(3);
    const dump = await dumpKhoDebugfs(m.guest);
    await record('kexec2', dump);
    const snap = snapshotFromDump(dump);
    const meta = readKexecMetadata(snap.in?.subtrees['kexec-metadata'] ?? Buffer.alloc(0));
    expect(meta).toMatchObject({ ok: true, metadata: { kexecCount: 2 } });
    expect(readLuoBlob(snap.out?.subtrees.LUO ?? Buffer.alloc(0))).toMatchObject({ liveupdateNumber: 3n });
    const markers = parseMarkers(m.vm.console.lines().map((l) => ({ text: l.text, boot: l.boot })));
    expect(summarizeBoot(markers, 3)).toMatchObject({ khoFound: true, liveupdateNumber: 2, execFrom: { count: 2 }, failures: [] });
  });

  it('negative control: a kexec into kho=off finds the data but neither LUO nor kexec-metadata take it', async () => {
    if (m === undefined) throw new Error('no machine');
    // loadKexec uploads the images; reload them with kho=off appended to the reused command line.
    await loadKexec(m);
    await m.guest.run(['kexec', '-s', '-l', '/run/handover/bzImage', '--initrd=/run/handover/initrd', '--reuse-cmdline', '--append=kho=off']);
    const k = await fireKexec(m, { expectRelease: kernel.metadata.release });
    expect(k.boot).toBe(4);
    const caps = await probeKhoCapabilities(recording(m, probes, 'caps-kexec-kho-off'));
    expect(caps).toMatchObject({ khoEnabled: false, luoDevice: false, params: { kho: 'off' } });
    const markers = parseMarkers(m.vm.console.lines().map((l) => ({ text: l.text, boot: l.boot })));
    const boot4 = summarizeBoot(markers, 4);
    console.log('boot 4 markers:', markers.filter((x) => x.boot === 4).map((x) => x.message));
    expect(boot4).toMatchObject({ khoFound: true, luoDisabled: true });
    expect(boot4.liveupdateNumber).toBeUndefined();
    expect(boot4.execFrom).toBeUndefined();
  });
});

describe('liveupdate=off (KHO on, no LUO)', () => {
  it('out/fdt is complete: only kexec-metadata is added before debugfs sizes the file', async () => {
    const probes = new Map<string, string>();
    const m = await startMachine({ kernel, accel: 'tcg', append: 'liveupdate=off' });
    try {
      const caps = await probeKhoCapabilities(recording(m, probes, 'caps-liveupdate-off'));
      expect(caps).toMatchObject({ khoEnabled: true, outFdt: true, outFdtTruncated: false, luoDevice: false, luoFormat: 'absent', khoCompatible: 'kho-v4', outSubtrees: ['kexec-metadata'] });
      const dump = await dumpKhoDebugfs(m.guest);
      await record('cold-liveupdate-off', dump);
      const state = interpretKho(snapshotFromDump(dump));
      expect(state.out?.root).toMatchObject({ ok: true, root: { compatible: 'kho-v4', subtrees: [{ name: 'kexec-metadata', blobSize: 73n }] } });
      expect(state.out?.problems).toEqual([]);
    } finally {
      if (RECORD) await copyFile(m.vm.consoleLog, join(FIXTURES, 'console-liveupdate-off.log'));
      await m.stop();
      for (const [name, text] of probes) await recordText(`${name}.txt`, text);
    }
  });
});

describe('kho=off', () => {
  it('no kho/ in debugfs, no /dev/liveupdate, and LUO says why', async () => {
    const probes = new Map<string, string>();
    const m = await startMachine({ kernel, accel: 'tcg', append: 'kho=off' });
    try {
      const caps = await probeKhoCapabilities(recording(m, probes, 'caps-kho-off'));
      expect(caps).toMatchObject({ khoEnabled: false, debugfsMounted: true, luoDevice: false, luoFormat: 'absent', params: { kho: 'off', liveupdate: 'on' } });
      const dump = await dumpKhoDebugfs(m.guest);
      await record('kho-off', dump);
      expect(snapshotFromDump(dump)).toMatchObject({ enabled: false, debugfsMounted: true });
      const markers = parseMarkers(m.vm.console.lines().map((l) => l.text));
      expect(markers.map((x) => x.kind)).toContain('luo-disabled');
    } finally {
      if (RECORD) await copyFile(m.vm.consoleLog, join(FIXTURES, 'console-kho-off.log'));
      await m.stop();
      for (const [name, text] of probes) await recordText(`${name}.txt`, text);
    }
  });
});
