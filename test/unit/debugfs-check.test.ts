// The `debugfs` step's verdicts on dumps recorded from real 7.3 guests (test/fixtures/kho/README.md):
// no verdict without debugfs mounted, and a file whose read failed is never "present".

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKhoDump, parseKhoDump, type KhoDump } from '../../orchestrator/kho/debugfs.ts';
import { HandoverError } from '../../orchestrator/errors.ts';
import { checkDebugfs, khoRelative, type DebugfsCheck } from '../../orchestrator/scenario/debugfs-check.ts';
import { StepFailure } from '../../orchestrator/scenario/step-context.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const saved = (name: string): Promise<KhoDump> => loadKhoDump(join(FIX, name));
const raw = async (name: string): Promise<string> => readFile(join(FIX, name), 'utf8');
const check = (path: string, more: Partial<DebugfsCheck> = {}): DebugfsCheck => ({ path, exists: true, ...more });

function failure(dump: KhoDump, d: DebugfsCheck, evidence: string[] = []): StepFailure {
  try {
    checkDebugfs(dump, d, evidence);
  } catch (err) {
    if (err instanceof StepFailure) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(d)} to fail`);
}

describe('debugfs: presence and absence', () => {
  it('cold boot: out/ is there, in/ is not', async () => {
    const cold = await saved('cold');
    expect(checkDebugfs(cold, check('kho'))).toEqual({ exists: true });
    expect(checkDebugfs(cold, check('kho/out/scratch_len', { min_size: 1 }))).toEqual({ exists: true, size: 24 });
    expect(checkDebugfs(cold, check('/sys/kernel/debug/kho/in/', { exists: false }))).toEqual({ exists: false });
    expect(failure(cold, check('kho/in')).message).toBe('kho/in is absent, expected present');
  });

  it('kho=off with debugfs mounted: kho/ and everything below it are proven absent', async () => {
    const off = await saved('kho-off');
    expect(off.debugfsMounted).toBe(true);
    expect(checkDebugfs(off, check('kho', { exists: false }))).toEqual({ exists: false });
    expect(checkDebugfs(off, check('kho/out/fdt', { exists: false }))).toEqual({ exists: false });
    expect(failure(off, check('kho')).message).toBe('kho/ is absent, expected present');
  });

  it('refuses a path the dump cannot see', async () => {
    const cold = await saved('cold');
    expect(khoRelative('khofoo')).toBeUndefined();
    expect(() => checkDebugfs(cold, check('tracing/trace', { exists: false }))).toThrow(HandoverError);
    expect(() => checkDebugfs(cold, check('tracing/trace', { exists: false }))).toThrow('debugfs: tracing/trace is not below kho/');
  });
});

describe('debugfs: not mounted', () => {
  // Saved from a kho=off guest after `umount /sys/kernel/debug` (an empty directory is left).
  it('fails every check, exists: false included, saying what it cannot tell', async () => {
    const dump = await saved('debugfs-unmounted');
    expect(dump).toMatchObject({ debugfsMounted: false, khoDir: false, dirs: [] });
    const warning = 'console: handover: warning what=mount-debugfs path=/sys/kernel/debug -- debugfs is NOT mounted';
    for (const [path, exists] of [['kho', false], ['kho', true], ['kho/out/fdt', false], ['kho/in/fdt', true]] as const) {
      const f = failure(dump, check(path, { exists }), [warning]);
      expect(f.message).toBe(`debugfs is not mounted at /sys/kernel/debug: cannot tell whether ${khoRelative(path) === '' ? 'kho/' : path} exists`);
      expect(f.evidence).toEqual(['no debugfs at /sys/kernel/debug in the guest\'s /proc/mounts', warning]);
    }
  });
});

describe('debugfs: a file whose read failed', () => {
  const withError = async (): Promise<KhoDump> => {
    const text = await raw('dump-kexec1.txt');
    return parseKhoDump(text.replace(/(@@file 0 in\/sub_fdts\/LUO\n)[^\n]*\n@@end/, '$1@@error 1 base64: in/sub_fdts/LUO: Input/output error'));
  };

  it('is a failure naming the error, never present', async () => {
    const dump = await withError();
    expect(failure(dump, check('kho/in/sub_fdts/LUO')).message).toBe(
      'kho/in/sub_fdts/LUO is listed but reading it failed (exit 1: base64: in/sub_fdts/LUO: Input/output error)',
    );
    expect(failure(dump, check('kho/in/sub_fdts/LUO', { exists: false })).message).toBe(
      'kho/in/sub_fdts/LUO is listed but reading it failed (exit 1: base64: in/sub_fdts/LUO: Input/output error), expected absent',
    );
    // The other files of the same dump are unaffected.
    expect(checkDebugfs(dump, check('kho/in/sub_fdts/kexec-metadata'))).toEqual({ exists: true, size: 73 });
  });
});

describe('debugfs: luo_state, the blob read as LUO state', () => {
  it("a cold boot's out/sub_fdts/LUO is luo-v5 state with the number the next kernel will log (1)", async () => {
    const cold = await saved('cold');
    expect(checkDebugfs(cold, check('kho/out/sub_fdts/LUO', { luo_state: { compatible: 'luo-v*', liveupdate_number: 1 } }))).toEqual({ exists: true, size: 32 });
    expect(failure(cold, check('kho/out/sub_fdts/LUO', { luo_state: { liveupdate_number: 2 } })).message).toBe('kho/out/sub_fdts/LUO: LUO live update number is 1, expected 2');
    expect(failure(cold, check('kho/out/sub_fdts/LUO', { luo_state: { compatible: 'luo-v6' } })).message).toBe("kho/out/sub_fdts/LUO: LUO state compatible is 'luo-v5', expected luo-v6");
  });

  it('after a kexec, in/sub_fdts/LUO (a page LUO freed, reused) is no LUO state: the failure names the bytes', async () => {
    const f = failure(await saved('kexec1'), check('kho/in/sub_fdts/LUO', { luo_state: { compatible: 'luo-v*', liveupdate_number: 1 } }));
    expect(f.message).toBe('kho/in/sub_fdts/LUO is not LUO state (32 bytes): no FDT magic and no "luo-vN" string at offset 0 (first bytes 7f454c4602010103)');
    expect(f.evidence[0]).toMatch(/^first bytes: 7f454c46/);
  });

  it('an FDT blob that is not LUO state fails on its compatible', async () => {
    expect(failure(await saved('kexec1'), check('kho/in/fdt', { luo_state: { compatible: 'luo-v*' } })).message).toBe("kho/in/fdt: LUO state compatible is 'kho-v4', expected luo-v*");
  });
});
