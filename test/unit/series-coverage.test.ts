// series --coverage on recorded fixtures: test/fixtures/series/unreached is a patch to
// mm/memfd_luo.c whose first hunk is an error path no shipped scenario reaches (a folio that
// kho_restore_folio() cannot restore) and whose second is a line memfd-round-trip executes.
// unreached-patch.diff is `git diff -U0` of that patch in the scratch tree, unreached-patch.info
// the tracefile memfd-round-trip wrote on the patched coverage kernel, unreached-series.json the
// series.json of that run (handover series test/fixtures/series/unreached --coverage).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLcov } from '../../orchestrator/coverage/lcov.ts';
import { mergeAll } from '../../orchestrator/coverage/model.ts';
import { formatSeriesTable, seriesToJUnit } from '../../orchestrator/report/series.ts';
import { isLiveUpdateSource, parseChangedLines, patchCoverage } from '../../orchestrator/series/changed-lines.ts';
import type { SeriesResult } from '../../orchestrator/series/series.ts';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'coverage');
const read = (f: string) => readFile(join(FIX, f), 'utf8');
const tracefile = async () => mergeAll(parseLcov(await read('unreached-patch.info'), 'unreached-patch.info').map((t) => t.coverage));

describe('series --coverage: changed lines no scenario executed', () => {
  it('reads the new-side lines of each hunk of the patch', async () => {
    expect(parseChangedLines(await read('unreached-patch.diff'))).toEqual(new Map([['mm/memfd_luo.c', [440, 441, 553]]]));
  });

  it('lists the error path the suite cannot reach, not the line it executes nor the continuation line gcov does not count', async () => {
    const cov = await tracefile();
    // The recorded counters: 440 (the pr_err in the restore-failure branch) never ran, 553 ran once per retrieve, 441 is no line of its own.
    expect(cov.get('mm/memfd_luo.c')?.lines.get(440)).toBe(0);
    expect(cov.get('mm/memfd_luo.c')?.lines.get(553)).toBeGreaterThan(0);
    expect(cov.get('mm/memfd_luo.c')?.lines.get(441)).toBeUndefined();
    expect(patchCoverage(parseChangedLines(await read('unreached-patch.diff')), cov)).toEqual({ changed: 3, executable: 2, unreached: ['mm/memfd_luo.c:440'] });
  });

  it('control: once a scenario executes the line, nothing is listed', async () => {
    const cov = await tracefile();
    cov.get('mm/memfd_luo.c')?.lines.set(440, 1);
    expect(patchCoverage(parseChangedLines(await read('unreached-patch.diff')), cov)).toEqual({ changed: 3, executable: 2, unreached: [] });
  });

  it('control: a changed line in a file the tracefile has no record of is not counted executable', async () => {
    const cov = await tracefile();
    expect(patchCoverage(new Map([['kernel/liveupdate/luo_new.c', [1, 2]]]), cov)).toEqual({ changed: 2, executable: 0, unreached: [] });
  });

  it('counts only the live-update sources', () => {
    expect(isLiveUpdateSource('mm/memfd_luo.c')).toBe(true);
    expect(isLiveUpdateSource('kernel/liveupdate/luo_core.c')).toBe(true);
    expect(isLiveUpdateSource('kernel/liveupdate/Makefile')).toBe(false);
    expect(isLiveUpdateSource('mm/memfd.c')).toBe(false);
  });

  it('names the unreached line in the series table and in JUnit', async () => {
    const r = JSON.parse(await read('unreached-series.json')) as SeriesResult;
    const table = formatSeriesTable(r);
    expect(table).toMatch(/^# {2}patch +apply +build +warnings +tests +coverage +result$/m);
    expect(table).toMatch(/^1 +mm: memfd_luo: name the folio that fails to restore .* 1\/1 passed +1\/2 unreached +good$/m);
    expect(table).toContain('1. mm: memfd_luo: name the folio that fails to restore: 1 changed line no scenario executed:\n    mm/memfd_luo.c:440\n');
    expect(seriesToJUnit(r)).toContain('1 changed live-update line no scenario executed:\nmm/memfd_luo.c:440');
  });
});
