// The capability probe, on its raw output recorded from a real 7.3 guest (test/fixtures/kho/).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmdlineParams, hasCapability, missingCapability, parseCapabilityProbe } from '../../orchestrator/kho/caps.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const probe = (name: string): ReturnType<typeof parseCapabilityProbe> => parseCapabilityProbe(readFileSync(join(FIX, `caps-${name}.txt`), 'utf8'));

describe('capability probe', () => {
  it('cold boot, liveupdate=on: KHO + LUO, out/fdt present but truncated, 7.1+ (no finalize)', () => {
    expect(probe('cold')).toEqual({
      release: '7.3.4',
      cmdline: 'console=ttyS0 panic=-1 liveupdate=on',
      params: { liveupdate: 'on' },
      debugfsMounted: true,
      khoEnabled: true,
      outFdt: true,
      outFdtTruncated: true,
      inFdt: false,
      finalizeFile: false,
      luoDevice: true,
      luoFormat: 'raw',
      luoCompatible: 'luo-v5',
      kexecMetadata: true,
      outSubtrees: ['LUO', 'kexec-metadata'],
      inSubtrees: [],
    });
  });

  it('after a kexec: in/fdt gives the root compatible; LUO format comes from out/, not the stale in/', () => {
    const caps = probe('kexec1');
    expect(caps).toMatchObject({ outFdt: false, outFdtTruncated: false, inFdt: true, khoCompatible: 'kho-v4', luoFormat: 'raw', luoCompatible: 'luo-v5' });
    expect(caps.inSubtrees).toEqual(['LUO', 'kexec-metadata']);
  });

  it('liveupdate=off: KHO without LUO; out/fdt complete', () => {
    expect(probe('liveupdate-off')).toMatchObject({
      khoEnabled: true,
      outFdtTruncated: false,
      khoCompatible: 'kho-v4',
      luoDevice: false,
      luoFormat: 'absent',
      outSubtrees: ['kexec-metadata'],
      params: { liveupdate: 'off' },
    });
  });

  it('kho=off (cold, and kexec’d into): nothing under debugfs, no device', () => {
    for (const name of ['kho-off', 'kexec-kho-off']) {
      const caps = probe(name);
      expect(caps).toMatchObject({ khoEnabled: false, debugfsMounted: true, outFdt: false, inFdt: false, luoDevice: false, luoFormat: 'absent', kexecMetadata: false, params: { kho: 'off', liveupdate: 'on' } });
      expect(caps.khoCompatible).toBeUndefined();
    }
  });

  it('says why a step cannot run, naming the kernel', () => {
    const cold = probe('cold');
    expect(missingCapability(cold, ['khoEnabled', 'luoDevice', 'luoRaw', 'outFdt'])).toBeUndefined();
    expect(missingCapability(cold, ['inFdt', 'finalizeFile'])).toBe(
      'no kho/in/fdt (this kernel was not booted by a KHO kexec); no kho/out/finalize (7.1+ has no finalize step) [kernel 7.3.4]',
    );
    const off = probe('kho-off');
    expect(missingCapability(off, ['luoDevice'])).toMatch(/^no \/dev\/liveupdate \(LUO disabled/);
    expect(hasCapability(off, 'luoFdt')).toBe(false);
    expect(hasCapability(cold, 'luoRaw')).toBe(true);
  });

  it('rejects output that is not the probe’s', () => {
    expect(() => parseCapabilityProbe('sh: not found\n')).toThrow(/missing its fields/);
  });

  it('command-line parameters: last one wins, kho_bootmem is the 7.4 name of kho_scratch', () => {
    expect(cmdlineParams('kho=on liveupdate=on liveupdate=off kho_scratch=256M,64M,256M kho_bootmem=50% quiet')).toEqual({
      kho: 'on',
      liveupdate: 'off',
      khoScratch: '256M,64M,256M',
      khoBootmem: '50%',
    });
  });
});
