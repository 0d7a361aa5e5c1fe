import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeriesResult } from '../../orchestrator/series/series.ts';
import { handover } from '../helpers/cli.ts';

// The fixture series (test/fixtures/series) is four real git format-patch patches against the
// default tree (Debian linux-source-7.3, 7.3.4): 1 harmless, 2 adds one -Wunused-variable
// warning, 3 clears every restored memfd folio, 4 a comment. Cost on a warm cache: the base and
// four incremental builds (ccache) and four memfd-round-trip runs, a few minutes; the first run on
// a machine also makes the throwaway repository (~1.5 min) and builds its output dir cold (~5 min).
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'series');

describe('handover series on the default tree', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'handover-series-e2e-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('applies, builds and tests the mbox patch by patch: patch 2 adds a warning, patch 3 is named first bad', async () => {
    const out = join(dir, 'mbox');
    const t0 = Date.now();
    const r = await handover(['series', join(FIXTURES, 'series.mbx'), '--scenarios', 'memfd-round-trip', '--output', out]);
    console.log(`series of 4 patches: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect(r.exitCode, r.stderr).toBe(1);
    const result = JSON.parse(await readFile(join(out, 'series.json'), 'utf8')) as SeriesResult;
    // 4 builds on top of patch 3 still carries patch 3's bug: the series is cumulative.
    expect(result.patches.map((p) => p.outcome)).toEqual(['good', 'new-warnings', 'test-failed', 'test-failed']);
    expect(result.firstBad).toMatchObject({ index: 3, subject: 'mm: memfd_luo: zero restored folios before inserting them', outcome: 'test-failed' });
    expect(result.base.warnings).toBeDefined();

    const [p1, p2, p3] = result.patches;
    expect(p1?.build?.warnings?.added).toEqual([]);
    expect(p2?.build?.introduced?.added).toHaveLength(1);
    expect(p2?.build?.introduced?.added[0]).toMatch(/^kernel\/liveupdate\/luo_session\.c:\d+:\d+: warning: unused variable ['‘]token['’] \[-Wunused-variable\]$/);
    expect(p3?.build?.warnings?.added).toHaveLength(1);
    expect(p3?.build?.introduced?.added).toEqual([]);
    // The failure is the content check, not an infrastructure problem.
    expect(p3?.message).toMatch(/^memfd-round-trip: test-failed: step \d+ .*retrieve/);
    expect(p3?.evidence.join('\n') + (p3?.message ?? '')).toMatch(/SHA-256|sha256/i);

    expect(r.stdout).toContain('first bad patch: 3 "mm: memfd_luo: zero restored folios before inserting them" (test-failed)');
    expect(r.stdout).toMatch(/^2 +liveupdate: luo_session: name the token of a preserved fd +ok +ok .* \+1 \(1 new here\) +1\/1 passed +good \(new warnings\)$/m);
    const junit = await readFile(join(out, 'junit.xml'), 'utf8');
    expect(junit).toContain('tests="4" failures="2" errors="0" skipped="0"');
    expect(junit).toContain('<failure type="test-failed" message="memfd-round-trip: test-failed:');
    expect(junit).toContain('<property name="first-bad" value="3"/>');
    expect(junit).toMatch(/warning: unused variable ['‘]token['’]/);
  });

  it('reports a patch that does not apply with its file, hunk and line, builds nothing, and exits 1', async () => {
    const out = join(dir, 'no-apply');
    const r = await handover(['series', join(FIXTURES, 'does-not-apply'), '--scenarios', 'memfd-round-trip', '--output', out]);
    expect(r.exitCode, r.stderr).toBe(1);
    const result = JSON.parse(await readFile(join(out, 'series.json'), 'utf8')) as SeriesResult;
    expect(result.patches.map((p) => p.outcome)).toEqual(['apply-failed', 'not-attempted']);
    expect(result.patches[0]?.apply).toEqual({ ok: false, file: 'kernel/liveupdate/luo_core.c', hunk: 2, line: 337 });
    expect(result.base.build).toBeUndefined();
    expect(r.stdout).toContain('does not apply: kernel/liveupdate/luo_core.c hunk #2 (at line 337): the context does not match');
    expect(r.stdout).toContain('rejected hunk: @@ -337,7 +338,7 @@ static int luo_open(');
    expect(r.stdout).toContain('first bad patch: 1 "liveupdate: make deserialization checks explicit" (apply-failed)');
  });

  // Issue 16: a patch touching a path the suite cannot reach. Its first hunk is in the branch
  // where kho_restore_folio() fails on a retrieve (no scenario can make it fail), its second a
  // line every memfd retrieve runs: --coverage lists the first, not the second, in the table,
  // series.json and JUnit. Costs the coverage build of the scratch tree (ccache shares the
  // coverage e2e test's objects) and one incremental build.
  it('--coverage lists the changed line no scenario executed, with file:line, and not the one memfd-round-trip runs', async () => {
    const out = join(dir, 'unreached');
    const r = await handover(['series', join(FIXTURES, 'unreached'), '--coverage', '--scenarios', 'memfd-round-trip', '--output', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(await readFile(join(out, 'series.json'), 'utf8')) as SeriesResult;
    expect(result.patches.map((p) => p.outcome)).toEqual(['good']);
    expect(result.patches[0]?.coverage).toEqual({ changed: 3, executable: 2, unreached: ['mm/memfd_luo.c:440'] });
    expect(r.stdout).toMatch(/^1 +mm: memfd_luo: name the folio that fails to restore .* 1\/1 passed +1\/2 unreached +good$/m);
    expect(r.stdout).toContain('1 changed line no scenario executed:\n    mm/memfd_luo.c:440\n');
    expect(await readFile(join(out, 'junit.xml'), 'utf8')).toContain('no scenario executed:\nmm/memfd_luo.c:440');
  });
});
