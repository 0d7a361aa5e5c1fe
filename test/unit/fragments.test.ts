import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeOverrides, findViolations } from '../../orchestrator/kernel/config-contract.ts';
import {
  DEFAULT_FRAGMENTS,
  loadBuiltinFragment,
  loadConfigArg,
  mergeRequests,
  parseFragment,
  PROFILE_TIME_SCALE,
  PROFILES,
  timeScaleOf,
} from '../../orchestrator/kernel/fragments.ts';
import { parseDotConfig } from '../../orchestrator/kernel/kconfig.ts';
import { HandoverError } from '../../orchestrator/errors.ts';

const fixture = (name: string) => readFile(join(import.meta.dirname, '../fixtures/kconfig', name), 'utf8');
const defaults = () => Promise.all(DEFAULT_FRAGMENTS.map(loadBuiltinFragment));

describe('fragments', () => {
  it('remembers the file and line of every request', () => {
    const reqs = parseFragment('# comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=0x10\n', 'f.config');
    expect(reqs).toEqual([
      { symbol: 'A', value: 'y', origin: { file: 'f.config', line: 2 } },
      { symbol: 'B', value: 'n', origin: { file: 'f.config', line: 4 } },
      { symbol: 'C', value: '"x y"', origin: { file: 'f.config', line: 5 } },
      { symbol: 'D', value: '0x10', origin: { file: 'f.config', line: 6 } },
    ]);
  });

  it('rejects a malformed line at file:line:col', () => {
    const bad = () => parseFragment('CONFIG_A=y\n  CONFIG_B=maybe\n', 'bad.config');
    expect(bad).toThrow(HandoverError);
    expect(bad).toThrow('bad.config:2:3: expected CONFIG_NAME=value');
  });

  it('lets a later request win and records the override', () => {
    const merged = mergeRequests([
      parseFragment('CONFIG_A=y\nCONFIG_B=y\n', 'one'),
      parseFragment('# CONFIG_A is not set\n', 'two'),
    ]);
    expect(merged.text).toBe('# CONFIG_A is not set\nCONFIG_B=y\n');
    expect(describeOverrides(merged)).toEqual(['CONFIG_A=n (two:1) overrides =y (one:1)']);
  });

  it('takes a single item from --config with the option as its origin', async () => {
    const [req] = await loadConfigArg('CONFIG_KEXEC_HANDOVER=n');
    expect(req).toEqual({ symbol: 'KEXEC_HANDOVER', value: 'n', origin: { file: '--config CONFIG_KEXEC_HANDOVER=n', line: 0 } });
  });

  it('ships fragments that ask for KHO on by default, LUO and memfd preservation', async () => {
    const merged = mergeRequests(await defaults());
    const asked = new Map(merged.requests.map((r) => [r.symbol, r.value]));
    for (const s of ['KEXEC_HANDOVER', 'KEXEC_HANDOVER_ENABLE_DEFAULT', 'KEXEC_HANDOVER_DEBUGFS', 'LIVEUPDATE', 'LIVEUPDATE_MEMFD', 'VIRTIO_NET']) {
      expect(asked.get(s), s).toBe('y');
    }
  });
});

describe('config contract against .config files Kconfig really produced', () => {
  it('finds nothing wrong with the default build config', async () => {
    const merged = mergeRequests(await defaults());
    expect(findViolations(merged, parseDotConfig(await fixture('default.config')))).toEqual([]);
  });

  it('names every symbol dropped when KEXEC_HANDOVER is off, with the fragment line that asked', async () => {
    const merged = mergeRequests([...(await defaults()), await loadConfigArg('CONFIG_KEXEC_HANDOVER=n')]);
    const violations = findViolations(merged, parseDotConfig(await fixture('kho-off.config')));
    const where = Object.fromEntries(violations.map((v) => [v.request.symbol, `${v.request.origin.file}:${v.request.origin.line}`]));
    expect(where).toEqual({
      KEXEC_HANDOVER_ENABLE_DEFAULT: 'kernel-config/kho.config:4',
      KEXEC_HANDOVER_DEBUGFS: 'kernel-config/kho.config:5',
      LIVEUPDATE: 'kernel-config/luo.config:2',
      LIVEUPDATE_MEMFD: 'kernel-config/luo.config:3',
    });
    expect(violations.every((v) => v.actual === undefined)).toBe(true);
  });
});

describe('profile time scale', () => {
  it('multiplies the factors of the profiles whose fragment a kernel was built with, 1 for none', () => {
    const base = ['kernel-config/base-qemu-x86_64.config', 'kernel-config/luo.config', 'kernel-config/kho.config'];
    expect(timeScaleOf(base)).toBe(1);
    expect(timeScaleOf([...base, 'kernel-config/debug.config'])).toBe(PROFILE_TIME_SCALE.debug);
    expect(timeScaleOf([...base, 'kernel-config/kasan.config'])).toBe(PROFILE_TIME_SCALE.kasan);
    expect(timeScaleOf([...base, '/abs/kernel-config/debug.config', 'kernel-config/kasan.config'])).toBe((PROFILE_TIME_SCALE.debug ?? 1) * (PROFILE_TIME_SCALE.kasan ?? 1));
    expect(PROFILE_TIME_SCALE.kasan).toBeGreaterThan(1);
    // Every profile has a factor.
    expect(Object.keys(PROFILE_TIME_SCALE).sort()).toEqual(Object.keys(PROFILES).sort());
  });
});
