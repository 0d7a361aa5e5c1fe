// Nightly comparison on real results (test/fixtures/results/README.md says how each was recorded).
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns, formatComparison, loadBaseline, readResults, storeInHistory } from '../../orchestrator/scenario/baseline.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'results');
const fixture = async (name: string): Promise<RunResult> => JSON.parse(await readFile(join(FIXTURES, name), 'utf8')) as RunResult;
const classes = (c: ReturnType<typeof compareRuns>) => Object.fromEntries(c.scenarios.map((s) => [s.name, s.class]));

describe('comparing a run with a baseline', () => {
  it('a scenario made to fail (kho=off everywhere) is exactly one new failure', async () => {
    const baseline = { path: 'suite-7.3.4.json', run: await fixture('suite-7.3.4.json') };
    const c = compareRuns(baseline, await fixture('kho-off-everywhere.json'));
    expect(c.counts['new-failure']).toBe(1);
    expect(c.scenarios.find((s) => s.class === 'new-failure')).toEqual({ name: 'kho-on-by-default', previous: 'passed', current: 'failed', class: 'new-failure' });
    expect(classes(c)['kho-off']).toBe('still-passing');
    expect(c.counts.removed).toBe(11);
    expect(c.baselineStartedAt).toBe(baseline.run.startedAt);
    // Every class is counted, zeros too, and the counts add up.
    expect(Object.keys(c.counts).sort()).toEqual(['fixed', 'flaky', 'new', 'new-failure', 'removed', 'skipped', 'still-failing', 'still-passing']);
    expect(Object.values(c.counts).reduce((a, b) => a + b, 0)).toBe(13);
  });

  it('fixed, still failing, new', async () => {
    const failing = { path: 'kho-off-everywhere.json', run: await fixture('kho-off-everywhere.json') };
    const fixed = compareRuns(failing, await fixture('jobs-2.json'));
    expect(classes(fixed)).toEqual({ 'ioctl-errors': 'new', 'kho-off': 'still-passing', 'kho-on-by-default': 'fixed', 'out-fdt-always': 'new' });
    expect(classes(compareRuns(failing, failing.run))).toEqual({ 'kho-off': 'still-passing', 'kho-on-by-default': 'still-failing' });
  });

  it('an infrastructure error retried and failing again is a failure; passing on the retry is flaky', async () => {
    const baseline = { path: 'suite-7.3.4.json', run: await fixture('suite-7.3.4.json') };
    const retried = await fixture('retry-vm-failed.json');
    const vmFails = retried.scenarios.find((s) => s.name === 'vm-fails');
    expect(vmFails?.attempts?.map((a) => a.outcome)).toEqual(['vm-failed', 'vm-failed']);
    expect(classes(compareRuns(baseline, retried))).toMatchObject({ 'vm-fails': 'new-failure', 'kho-off': 'still-passing' });
    // The one synthesized case (an infrastructure error cannot be made to happen once only): the
    // recorded passing kho-off with the recorded failed attempt of vm-fails before it.
    const khoOff = retried.scenarios.find((s) => s.name === 'kho-off');
    if (vmFails?.attempts?.[0] === undefined || khoOff === undefined) throw new Error('fixture');
    const flaky = { ...retried, scenarios: [{ ...khoOff, attempts: [vmFails.attempts[0], { attempt: 2, status: 'passed' as const, durationMs: khoOff.durationMs, artifactsDir: khoOff.artifactsDir }] }] };
    expect(classes(compareRuns(baseline, flaky))).toEqual({ 'kho-off': 'flaky', ...Object.fromEntries(baseline.run.scenarios.filter((s) => s.name !== 'kho-off').map((s) => [s.name, 'removed'])) });
  });

  it('prints new failures first, one line each; what did not run on one side on one line', async () => {
    const c = compareRuns({ path: '/h/suite.json', run: await fixture('suite-7.3.4.json') }, await fixture('kho-off-everywhere.json'));
    const lines = formatComparison(c);
    expect(lines[0]).toBe('compared with /h/suite.json (run of 2026-11-25T06:10:53.170Z): 1 new-failure, 11 removed, 1 still-passing');
    expect(lines[1]).toBe('  new-failure   kho-on-by-default (was passed, now failed)');
    expect(lines[2]).toMatch(/^ {2}removed {7}chain, dynamic-updates, /);
    expect(lines).toHaveLength(3);
  });
});

describe('--baseline FILE|DIR and --history DIR', () => {
  it('takes the newest run in a history directory; an empty one is no baseline yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'handover-history-'));
    expect(await loadBaseline(dir)).toBeUndefined();
    const newer = await fixture('kho-off-everywhere.json');
    const older = await fixture('suite-7.3.4.json');
    const p1 = await storeInHistory(dir, newer);
    await storeInHistory(dir, older);
    expect(p1).toBe(join(dir, `results-${newer.startedAt.replace(/[:.]/g, '')}.json`));
    const b = await loadBaseline(dir);
    expect(b?.path).toBe(p1);
    expect(b?.run.startedAt).toBe(newer.startedAt);
    expect((await loadBaseline(p1))?.run.scenarios).toHaveLength(2);
  });

  it('refuses what is not a results.json, naming --baseline and the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'handover-baseline-'));
    await expect(loadBaseline(join(dir, 'nope.json'))).rejects.toThrow(/^--baseline .*nope\.json: no such file or directory$/);
    await writeFile(join(dir, 'junk.json'), '{"a": 1}');
    await expect(loadBaseline(join(dir, 'junk.json'))).rejects.toThrow(/junk\.json: not a handover results\.json/);
    await writeFile(join(dir, 'broken.json'), '{');
    await expect(readResults(join(dir, 'broken.json'), '--baseline')).rejects.toMatchObject({ outcome: 'usage-error', message: expect.stringMatching(/broken\.json: not JSON/) as unknown });
  });
});
