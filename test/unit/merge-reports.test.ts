// merge-reports on real shard results (test/fixtures/results/README.md says how each was recorded).
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toJUnit } from '../../orchestrator/report/junit.ts';
import { toKtap } from '../../orchestrator/report/ktap.ts';
import { mergeRuns, readMergeInputs, type MergeInput } from '../../orchestrator/report/merge.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';
import { writeReports } from '../../orchestrator/report/write-reports.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'results');
const input = async (name: string): Promise<MergeInput> => ({ source: name, run: JSON.parse(await readFile(join(FIXTURES, name), 'utf8')) as RunResult });
const statuses = (r: RunResult) => r.scenarios.map((s) => [s.name, s.status]);

describe('merging shards', () => {
  it('two shards merged give the same results as the unsharded run, in suite order', async () => {
    const [s1, s2, whole] = await Promise.all([input('shard-1.json'), input('shard-2.json'), input('jobs-2.json')]);
    expect(s1.run.shard).toMatchObject({ index: 1, total: 2 });
    expect(s1.run.scenarios.length).toBeGreaterThan(0);
    expect(s2.run.scenarios.length).toBeGreaterThan(0);
    const merged = mergeRuns([s2, s1]);
    expect(statuses(merged)).toEqual(statuses(whole.run));
    expect(merged.summary).toEqual(whole.run.summary);
    expect(merged.kernel).toEqual(whole.run.kernel);
    expect(merged.shard).toBeUndefined();
    expect(merged.mergedFrom?.map((m) => m.shard)).toEqual(['2/2', '1/2']);
    expect(Date.parse(merged.startedAt)).toBe(Math.min(Date.parse(s1.run.startedAt), Date.parse(s2.run.startedAt)));
    expect(mergeRuns([s1, s2])).toEqual({ ...merged, mergedFrom: [...(merged.mergedFrom ?? [])].reverse() });
  });

  it('refuses a missing or repeated shard, shards of another suite, and another kernel', async () => {
    const [s1, s2, whole, debug, empty] = await Promise.all(['shard-1.json', 'shard-2.json', 'jobs-2.json', 'debug-profile.json', 'shard-5-of-5.json'].map(input));
    if (s1 === undefined || s2 === undefined || whole === undefined || debug === undefined || empty === undefined) throw new Error('fixtures');
    expect(() => mergeRuns([s1])).toThrow('merge-reports: shard 2/2 missing');
    expect(() => mergeRuns([s1, s1])).toThrow('merge-reports: shard 1/2 given twice: shard-1.json and shard-1.json');
    expect(() => mergeRuns([s1, s2, whole])).toThrow('some inputs are shards and some are not');
    expect(() => mergeRuns([s1, empty])).toThrow(/shard-5-of-5\.json is shard 5\/5 of another suite than shard-1\.json/);
    expect(() => mergeRuns([whole, debug])).toThrow('merge-reports: the results are of different kernels or configs');
    // Plain runs merge only when they do not overlap.
    expect(() => mergeRuns([whole, whole])).toThrow("scenario 'ioctl-errors' is in both jobs-2.json and jobs-2.json");
  });

  it('an empty shard writes empty reports', async () => {
    const { run } = await input('shard-5-of-5.json');
    expect(run.scenarios).toEqual([]);
    const dir = await mkdtemp(join(tmpdir(), 'handover-empty-'));
    const files = await writeReports(dir, run, ['console', 'junit', 'json', 'ktap']);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['junit.xml', 'results.json', 'results.ktap']);
    expect(await readFile(join(dir, 'junit.xml'), 'utf8')).toContain('<testsuites name="handover" tests="0" failures="0"');
    expect(await readFile(join(dir, 'results.ktap'), 'utf8')).toMatch(/^KTAP version 1\n1\.\.0\n/);
  });

  it('reads shard folders, finds artifacts moved with them, writes what run writes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'handover-merge-'));
    for (const n of [1, 2]) {
      const { run } = await input(`shard-${n}.json`);
      const dir = join(root, `shard-${n}`);
      await mkdir(dir);
      // As downloaded by CI: the paths in results.json are those of the machine that ran it.
      const moved = { ...run, scenarios: run.scenarios.map((s) => ({ ...s, artifactsDir: `/nonexistent/shard-${n}/${s.name}`, consoles: s.consoles.map((_, i) => `/nonexistent/shard-${n}/${s.name}/console.boot-${i + 1}.log`) })) };
      await writeFile(join(dir, 'results.json'), JSON.stringify(moved));
      for (const s of run.scenarios) await mkdir(join(dir, s.name));
    }
    await cp(join(FIXTURES, 'shard-2.json'), join(root, 'loose.json'));
    const inputs = await readMergeInputs([join(root, 'shard-1'), join(root, 'shard-2')]);
    const merged = mergeRuns(inputs);
    for (const s of merged.scenarios) {
      expect(s.artifactsDir).toMatch(new RegExp(`^${root}/shard-[12]/${s.name}$`));
      expect(s.consoles[0]).toBe(join(s.artifactsDir, 'console.boot-1.log'));
    }
    await expect(readMergeInputs([join(root, 'nope')])).rejects.toThrow(/merge-reports: .*nope: no such file or directory/);
    expect((await readMergeInputs([join(root, 'loose.json')]))[0]?.run.shard?.index).toBe(2);
    const out = join(root, 'merged');
    await writeReports(out, merged, ['junit', 'json', 'ktap']);
    expect(await readFile(join(out, 'junit.xml'), 'utf8')).toBe(toJUnit(merged));
    expect(await readFile(join(out, 'results.ktap'), 'utf8')).toBe(toKtap(merged));
    expect(JSON.parse(await readFile(join(out, 'results.json'), 'utf8'))).toEqual(merged);
  });
});
