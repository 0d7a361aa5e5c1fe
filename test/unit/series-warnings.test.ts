import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffWarnings, recompiledUnits, updateWarningMap, warningsByUnit } from '../../orchestrator/series/warnings.ts';

// Incremental build logs recorded from `handover series` on the fixture series (7.3.4):
// patch 2 recompiles luo_session.c (one new warning), patch 3 only memfd_luo.c.
const RECORDED = join(import.meta.dirname, '..', 'fixtures', 'series', 'recorded');
const TREE = '/root/.cache/handover/series/55f2b543b2d1f58f/tree';
const log = (name: string) => readFile(join(RECORDED, name), 'utf8');
const TOKEN = 'kernel/liveupdate/luo_session.c:267:13: warning: unused variable ‘token’ [-Wunused-variable]';

describe('compiler warnings of incremental kernel builds', () => {
  it('finds the warning in tree-relative form, attributed to its unit', async () => {
    expect(warningsByUnit(await log('build-patch2.log'), TREE)).toEqual({ 'kernel/liveupdate/luo_session.c': [TOKEN] });
  });

  it('knows which units a log recompiled', async () => {
    const units = recompiledUnits(await log('build-patch3.log'));
    expect(units).toContain('mm/memfd_luo.c');
    expect(units).toContain('init/version-timestamp.c');
    expect(units).not.toContain('kernel/liveupdate/luo_session.c');
  });

  it('carries a warning across builds that do not recompile its unit, and drops it when the unit compiles clean', async () => {
    const afterPatch2 = updateWarningMap({}, await log('build-patch2.log'), TREE);
    const afterPatch3 = updateWarningMap(afterPatch2, await log('build-patch3.log'), TREE);
    expect(afterPatch3['kernel/liveupdate/luo_session.c']).toEqual([TOKEN]);
    // The same unit recompiled without the warning (patch 2's log with the warning lines taken out).
    const clean = (await log('build-patch2.log')).split('\n').filter((l) => !l.includes('luo_session.c:') && !/^\s+(267 \||\|)/.test(l)).join('\n');
    expect(updateWarningMap(afterPatch3, clean, TREE)['kernel/liveupdate/luo_session.c']).toBeUndefined();
  });

  it('counts new warnings against the base by file and message, not by line (code moves)', () => {
    const base = { 'a.c': ['a.c:10:5: warning: unused variable ‘x’ [-Wunused-variable]'] };
    const moved = { 'a.c': ['a.c:12:5: warning: unused variable ‘x’ [-Wunused-variable]', TOKEN.replace('luo_session', 'a').replace('kernel/liveupdate/', '')] };
    const d = diffWarnings(base, moved);
    expect(d.total).toBe(2);
    expect(d.added).toEqual(['a.c:267:13: warning: unused variable ‘token’ [-Wunused-variable]']);
    expect(d.removed).toEqual([]);
    expect(diffWarnings(moved, base).removed).toHaveLength(1);
  });
});
