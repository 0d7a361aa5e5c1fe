import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSeriesTable, seriesToJUnit } from '../../orchestrator/report/series.ts';
import { seriesExitCode, type SeriesResult } from '../../orchestrator/series/series.ts';

// series.json recorded from `handover series test/fixtures/series/series.mbx --scenarios memfd-round-trip`.
const load = async () => JSON.parse(await readFile(join(import.meta.dirname, '..', 'fixtures', 'series', 'recorded', 'series.json'), 'utf8')) as SeriesResult;

describe('series reports', () => {
  it('prints one row per patch, what broke, and the first bad patch', async () => {
    const text = formatSeriesTable(await load());
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/^# +patch +apply +build +warnings +tests +result$/);
    expect(lines[2]).toMatch(/^1 +liveupdate: luo_core: debug-log where the incoming state lives +ok +ok 10s +\+0 +1\/1 passed +good$/);
    expect(lines[3]).toMatch(/^2 .* \+1 \(1 new here\) +1\/1 passed +good \(new warnings\)$/);
    expect(lines[4]).toMatch(/^3 .* \+1 +0\/1 passed, 1 failed +BAD: tests fail$/);
    expect(text).toContain('    kernel/liveupdate/luo_session.c:267:13: warning: unused variable ‘token’ [-Wunused-variable]');
    expect(text.trimEnd().split('\n').at(-1)).toBe('first bad patch: 3 "mm: memfd_luo: zero restored folios before inserting them" (test-failed)');
  });

  it('writes JUnit with a failure per bad patch and the warnings as output', async () => {
    const xml = seriesToJUnit(await load());
    expect(xml).toContain('tests="4" failures="2" errors="0" skipped="0"');
    expect((xml.match(/<failure type="test-failed"/g) ?? []).length).toBe(2);
    expect(xml).toContain('<property name="first-bad" value="3"/>');
    expect(xml).toContain('+1 compiler warning against the base:');
  });

  it('exits 1 for a bad patch, 0 when all are good, an infrastructure code when one could not be judged', async () => {
    const r = await load();
    expect(seriesExitCode(r)).toBe(1);
    const { firstBad: _bad, ...rest } = r;
    const good: SeriesResult = { ...rest, patches: r.patches.map((p) => ({ ...p, outcome: 'good' as const })) };
    expect(seriesExitCode(good)).toBe(0);
    const infra: SeriesResult = { ...good, patches: good.patches.map((p, i) => (i === 1 ? { ...p, outcome: 'infra-error' as const, infraOutcome: 'boot-timeout' as const } : p)) };
    expect(seriesExitCode(infra)).toBe(6);
    expect(seriesExitCode({ ...r, interrupted: true })).toBe(130);
  });
});

describe('after --final-only', () => {
  it('blames the series, not its last patch, for a failure', async () => {
    const r = await load();
    const { firstBad: _bad, ...rest } = r;
    const final: SeriesResult = { ...rest, mode: 'final-only', patches: r.patches.map((p, i) => (i < 3 ? { ...p, outcome: 'not-tested' as const } : p)) };
    expect(formatSeriesTable(final).trimEnd().split('\n').at(-1)).toBe('the series as a whole is bad (--final-only: run with --each to find the first bad patch)');
    expect(seriesExitCode(final)).toBe(1);
  });
});
