// Kernel-log markers, on serial consoles recorded from a real 7.3 guest (test/fixtures/kho/).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchMarker, parseMarkers, splitPrintk, summarizeBoot } from '../../orchestrator/kho/markers.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const consoleLog = (name: string): string => readFileSync(join(FIX, name), 'utf8');

describe('the recorded kexec chain (cold boot, 2 KHO kexecs, a kexec into kho=off)', () => {
  const markers = parseMarkers(consoleLog('console-kexec-chain.log'));

  it('finds each boot’s markers, in order, with their timestamps', () => {
    expect(markers.map((m) => [m.boot, m.kind])).toEqual([
      [1, 'kexec-start'],
      [2, 'kho-found'],
      [2, 'luo-retrieved'],
      [2, 'kho-exec-from'],
      [2, 'kexec-start'],
      [3, 'kho-found'],
      [3, 'luo-retrieved'],
      [3, 'kho-exec-from'],
      [3, 'kexec-start'],
      [4, 'kho-found'],
      [4, 'luo-disabled'],
    ]);
    expect(markers[0]).toMatchObject({ kind: 'kexec-start', time: 3.806922, message: 'kexec_core: Starting new kernel' });
    expect(markers[1]).toMatchObject({ kind: 'kho-found', time: 0, message: 'KHO: found kexec handover data.' });
  });

  it('boot 2: liveupdate number 1, exec from 7.3.4 count 1; boot 3: 2 and 2', () => {
    expect(summarizeBoot(markers, 2)).toEqual({
      boot: 2,
      khoFound: true,
      liveupdateNumber: 1,
      execFrom: { release: '7.3.4', count: 1 },
      luoDisabled: false,
      kexecStarted: true,
      failures: [],
      warnings: [],
    });
    expect(summarizeBoot(markers, 3)).toMatchObject({ khoFound: true, liveupdateNumber: 2, execFrom: { release: '7.3.4', count: 2 }, failures: [] });
  });

  it('a kernel line glued after userspace output still counts (`/ # \\x1b[6n[ … ] kexec_core: …`)', () => {
    const glued = markers.find((m) => m.boot === 2 && m.kind === 'kexec-start');
    expect(glued?.time).toBe(6.047637);
    const raw = consoleLog('console-kexec-chain.log').split('\n')[glued?.index ?? 0] ?? '';
    expect(raw.startsWith('/ # \x1b[6n[')).toBe(true);
  });

  it('boot 4 (kho=off): the data is found, but LUO is disabled and nothing is retrieved', () => {
    const s = summarizeBoot(markers, 4);
    expect(s).toMatchObject({ khoFound: true, luoDisabled: true, kexecStarted: false, failures: [] });
    expect(s.liveupdateNumber).toBeUndefined();
    expect(s.execFrom).toBeUndefined();
  });

  it('the console watcher’s own boot numbers win over banner counting', () => {
    const lines = consoleLog('console-kexec-chain.log').split('\n').map((text) => ({ text, boot: 7 }));
    expect(new Set(parseMarkers(lines).map((m) => m.boot))).toEqual(new Set([7]));
  });
});

describe('cold boots', () => {
  it('kho=off with liveupdate=on: LUO says why it is off', () => {
    const markers = parseMarkers(consoleLog('console-kho-off.log'));
    expect(markers).toHaveLength(1);
    expect(markers[0]).toMatchObject({ boot: 1, kind: 'luo-disabled', time: 0.210024 });
    expect(summarizeBoot(markers, 1)).toMatchObject({ khoFound: false, luoDisabled: true, failures: [] });
  });

  it('liveupdate=off: no markers at all (a cold boot of KHO is silent)', () => {
    expect(parseMarkers(consoleLog('console-liveupdate-off.log'))).toEqual([]);
  });
});

// No recorded guest has failed a handover yet. These lines are the 7.3 source's format strings
// with their arguments filled in (file:line in the reference's Appendix A), so the patterns are
// checked against the exact wording the kernel prints.
describe('failure lines (7.3 format strings)', () => {
  const cases: [string, unknown][] = [
    // kexec_handover.c:1979, :2038
    ["[    0.000000] KHO: setup: handover FDT (0x1de7000) is incompatible with 'kho-v4': -1", { kind: 'kho-incompatible', expected: 'kho-v4', address: '0x1de7000', code: -1 }],
    ['[    0.000000] KHO: disabling KHO revival', { kind: 'kho-revival-disabled' }],
    // 6.16-era wording carried the error code
    ['[    0.000000] KHO: disabling KHO revival: -2', { kind: 'kho-revival-disabled', code: -2 }],
    // kexec_handover.c:1973, :645, :1968, :906, :1945
    ['[    0.000000] KHO: setup: handover FDT (0x1de7000) is invalid: -9', { kind: 'kho-setup-failed', reason: 'setup: handover FDT (0x1de7000) is invalid: -9' }],
    ['[    0.000000] KHO: failed to get preserved memory map', { kind: 'kho-setup-failed' }],
    ['[    0.000000] KHO: Failed to reserve lowmem scratch buffer', { kind: 'kho-setup-failed' }],
    ['[    0.000000] KHO: Failed to reserve scratch area, disabling kexec handover', { kind: 'kho-disabled', reason: 'Failed to reserve scratch area, disabling kexec handover' }],
    ['[    0.000000] KHO: disabled in the kdump kernel', { kind: 'kho-disabled' }],
    // arch/x86/kernel/setup.c:464 (no prefix)
    ['[    0.000000] Passed KHO data, but CONFIG_KEXEC_HANDOVER not set. Ignoring.', { kind: 'kho-disabled' }],
    // luo_core.c:117, :111, :102, :145 (panic); the ≤7.1 FDT wording
    ["[    0.431000] luo: LUO state is incompatible with 'luo-v5'", { kind: 'luo-incompatible', expected: 'luo-v5' }],
    ["[    0.431000] luo: FDT 'LUO' is incompatible with 'luo-v1' [luo-v2]", { kind: 'luo-incompatible', expected: 'luo-v1' }],
    ['[    0.431000] luo: LUO state is too small (16 < 32)', { kind: 'luo-restore-failed', reason: 'LUO state is too small (16 < 32)' }],
    ["[    0.431000] luo: failed to retrieve LUO state 'LUO' from KHO: -ENOENT", { kind: 'luo-restore-failed' }],
    ['[    0.432000] Kernel panic - not syncing: The incoming tree failed to initialize properly [-EINVAL], disabling live update', { kind: 'luo-restore-panic', error: '-EINVAL' }],
    // luo_file.c / luo_session.c (§5.3, §5.5), memfd_luo.c
    ["[   12.000000] luo: No registered handler for compatible 'memfd-v2'", { kind: 'luo-error', message: "No registered handler for compatible 'memfd-v2'" }],
    ['[   12.000000] luo: Unable to finish session [s1] on release', { kind: 'luo-error' }],
    ['[   12.000000] luo: Freeze failed for token[0x1234] handler[memfd-v2] err[-EIO]', { kind: 'luo-error' }],
    ['[   12.000000] memfd_luo: Unable to restore folio at physical address: 1234000', { kind: 'memfd-luo-error' }],
    // lib/test_kho.c:326-328
    ['[    1.000000] test_kho: KHO restore succeeded', { kind: 'test-kho', ok: true }],
    ['[    1.000000] test_kho: KHO restore failed', { kind: 'test-kho', ok: false }],
    // kexec_handover.c:1744, debugfs
    ['[    0.800000] KHO: kexec-metadata version 2 not supported (expected 1)', { kind: 'kho-warning' }],
    ['[    0.800000] KHO: failed exposing handover FDT in debugfs: -ENOMEM', { kind: 'kho-warning' }],
  ];

  it.each(cases)('%s', (line, expected) => {
    const m = matchMarker(line);
    expect(m).toBeDefined();
    expect(m).toMatchObject(expected as object);
  });

  it('failures and warnings are summarised per boot', () => {
    const markers = parseMarkers(cases.map(([l]) => l));
    const s = summarizeBoot(markers, 1);
    expect(s.failures.map((m) => m.kind)).not.toContain('kho-warning');
    expect(s.failures.some((m) => m.kind === 'test-kho')).toBe(true);
    expect(s.warnings).toHaveLength(2);
    expect(s.testKho).toBe(true);
  });

  it('ordinary log lines are not markers', () => {
    for (const line of ['[    0.000000] Linux version 7.3.4', 'luo: something informational', 'KHO: scratch scale is 200%', 'handover: sshd up']) {
      expect(matchMarker(line)).toBeUndefined();
    }
  });
});

describe('splitPrintk', () => {
  it('strips timestamps, caller ids, log levels and CR', () => {
    expect(splitPrintk('[    1.234567] luo: x\r')).toEqual({ time: 1.234567, message: 'luo: x' });
    expect(splitPrintk('<6>[    1.5][    T1] KHO: y')).toEqual({ time: 1.5, message: 'KHO: y' });
    expect(splitPrintk('KHO: z')).toEqual({ message: 'KHO: z' });
  });
});
