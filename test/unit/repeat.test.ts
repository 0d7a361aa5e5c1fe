// `run --repeat N` on recorded results (test/fixtures/results/README.md): real scenario results
// taken as the repeats of one scenario, folded into its verdict, then through every reporter.
import { access, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../../orchestrator/cli/program.ts';
import { exitCodeFor } from '../../orchestrator/suite.ts';
import { compareRuns } from '../../orchestrator/scenario/baseline.ts';
import { consoleReporter } from '../../orchestrator/report/console-reporter.ts';
import { toHtml } from '../../orchestrator/report/html.ts';
import { toJUnit } from '../../orchestrator/report/junit.ts';
import { toKtap } from '../../orchestrator/report/ktap.ts';
import { parseKtap } from '../../orchestrator/scenario/ktap-parse.ts';
import { mergeRuns, readMergeInputs } from '../../orchestrator/report/merge.ts';
import { isFlaky, summarize, type RunResult, type ScenarioResult } from '../../orchestrator/scenario/results.ts';
import { writeReports } from '../../orchestrator/report/write-reports.ts';
import { aggregateRepeats, repeatPlan, RepeatTally, type RepeatRun } from '../../orchestrator/scenario/repeat.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'results');
const fixture = async (name: string): Promise<RunResult> => JSON.parse(await readFile(join(FIXTURES, name), 'utf8')) as RunResult;
const scenario = (run: RunResult, name: string): ScenarioResult => {
  const s = run.scenarios.find((x) => x.name === name);
  if (s === undefined) throw new Error(`fixture has no ${name}`);
  return s;
};

/** A recorded result as repeat `k` of a run: its files in `<root>/<scenario>/repeat-k/`, as the runner puts them. */
function asRepeat(s: ScenarioResult, k: number, root: string): RepeatRun {
  const dir = join(root, s.name, `repeat-${k}`);
  const moved = (p: string) => (p.startsWith(`${s.artifactsDir}/`) ? join(dir, p.slice(s.artifactsDir.length + 1)) : p === s.artifactsDir ? dir : p);
  const attempts = s.attempts?.map((a) => ({ ...a, artifactsDir: moved(a.artifactsDir) }));
  return { repeat: k, result: { ...s, artifactsDir: dir, consoles: s.consoles.map(moved), ...(attempts === undefined ? {} : { attempts }) } };
}

/** `kinds[k-1]` is the recorded result repeat k is: `pass` or `fail` (kho-on-by-default, passed and failed on 7.3.4). */
async function khoOnByDefault(root: string, kinds: readonly ('pass' | 'fail')[]): Promise<RepeatRun[]> {
  const pass = scenario(await fixture('jobs-2.json'), 'kho-on-by-default');
  const fail = scenario(await fixture('kho-off-everywhere.json'), 'kho-on-by-default');
  return kinds.map((k, i) => asRepeat(k === 'pass' ? pass : fail, i + 1, root));
}

/** 19 of 20 passed, repeat 7 failed. */
const NINETEEN = Array.from({ length: 20 }, (_, i) => (i === 6 ? 'fail' : 'pass'));

/** kho-off-everywhere.json as if run with --repeat 20: kho-off passed 20 times, kho-on-by-default flaky (19/20). */
async function flakyRun(root: string): Promise<RunResult> {
  const run = await fixture('kho-off-everywhere.json');
  const khoOff = scenario(run, 'kho-off');
  const scenarios = [
    aggregateRepeats(Array.from({ length: 20 }, (_, i) => asRepeat(khoOff, i + 1, root)), join(root, 'kho-off')),
    aggregateRepeats(await khoOnByDefault(root, NINETEEN), join(root, 'kho-on-by-default')),
  ];
  return { ...run, scenarios, summary: summarize(scenarios), repeat: 20 };
}

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => (text += b.toString()));
  return { stream, text: () => text };
}

describe('a scenario over its repeats', () => {
  const root = '/srv/run';

  it('passed when every repeat passed: the rate, every repeat, the repeats’ time', async () => {
    const runs = await khoOnByDefault(root, ['pass', 'pass', 'pass']);
    const r = aggregateRepeats(runs, join(root, 'kho-on-by-default'));
    expect(r.status).toBe('passed');
    expect(r.message).toBeUndefined();
    expect(r.passRate).toEqual({ passed: 3, runs: 3 });
    expect(isFlaky(r)).toBe(false);
    expect(r.repeats?.map((x) => [x.repeat, x.status, x.artifactsDir])).toEqual([1, 2, 3].map((k) => [k, 'passed', join(root, 'kho-on-by-default', `repeat-${k}`)]));
    expect(r.artifactsDir).toBe(join(root, 'kho-on-by-default'));
    expect(r.durationMs).toBeCloseTo(runs.reduce((n, x) => n + x.result.durationMs, 0));
    expect(r.consoles.every((c) => c.startsWith(`${r.artifactsDir}/repeat-3/`))).toBe(true);
    expect(summarize([r])).toEqual({ passed: 1, failed: 0, skipped: 0, error: 0, xfail: 0 });
  });

  it('repeats that disagree: flaky, failed (not a pass), showing the repeat that failed', async () => {
    const runs = await khoOnByDefault(root, NINETEEN);
    const r = aggregateRepeats(runs, join(root, 'kho-on-by-default'));
    const failed = runs[6]?.result;
    expect(r.status).toBe('failed');
    expect(isFlaky(r)).toBe(true);
    expect(r.passRate).toEqual({ passed: 19, runs: 20 });
    expect(r.outcome).toBe('flaky');
    expect(r.repeats?.[6]?.outcome).toBe('test-failed');
    expect(r.message).toBe(`19/20 repeats passed; repeat 7 failed: ${failed?.message ?? ''}`);
    expect(r.steps).toEqual(failed?.steps);
    expect(r.consoles.every((c) => c.startsWith(`${r.artifactsDir}/repeat-7/`))).toBe(true);
    expect(r.repeats?.filter((x) => x.status !== 'passed').map((x) => x.repeat)).toEqual([7]);
    expect(summarize([r])).toMatchObject({ passed: 0, failed: 1, flaky: 1 });
  });

  it('every repeat failed: failed, not flaky, the first failure shown', async () => {
    const r = aggregateRepeats(await khoOnByDefault(root, ['fail', 'fail']), join(root, 'kho-on-by-default'));
    expect([r.status, isFlaky(r), r.passRate]).toEqual(['failed', false, { passed: 0, runs: 2 }]);
    expect(r.message).toMatch(/^0\/2 repeats passed; repeat 1 failed: step 1 /);
    expect(summarize([r]).flaky).toBeUndefined();
  });

  it('a repeat retried on an infrastructure error keeps its attempts; an error every time is an error (exit 6)', async () => {
    const retried = scenario(await fixture('retry-vm-failed.json'), 'vm-fails');
    const runs = [asRepeat(retried, 1, root), asRepeat(retried, 2, root)];
    const r = aggregateRepeats(runs, join(root, 'vm-fails'));
    expect([r.status, r.outcome, isFlaky(r)]).toEqual(['error', 'vm-failed', false]);
    expect(r.repeats?.[0]?.attempts?.map((a) => [a.attempt, a.status, a.artifactsDir])).toEqual([
      [1, 'error', join(root, 'vm-fails', 'repeat-1', 'attempt-1')],
      [2, 'error', join(root, 'vm-fails', 'repeat-1')],
    ]);
    // Each repeat's retries are its own, not the scenario's.
    expect(r.attempts).toBeUndefined();
    const run = await fixture('retry-vm-failed.json');
    expect(exitCodeFor({ ...run, scenarios: [r], summary: summarize([r]) })).toBe(6);
  });

  it('an error in one repeat and a pass in another is flaky too: exit 1, never a pass nor an infrastructure code', async () => {
    const [pass] = await khoOnByDefault(root, ['pass']);
    const err = asRepeat(scenario(await fixture('retry-vm-failed.json'), 'vm-fails'), 2, root);
    if (pass === undefined) throw new Error('fixture');
    const r = aggregateRepeats([pass, { ...err, result: { ...err.result, name: pass.result.name } }], join(root, 'kho-on-by-default'));
    expect([r.status, isFlaky(r), r.outcome, r.repeats?.[1]?.outcome]).toEqual(['failed', true, 'flaky', 'vm-failed']);
    const run = await fixture('jobs-2.json');
    expect(exitCodeFor({ ...run, scenarios: [r], summary: summarize([r]) })).toBe(1);
    expect(exitCodeFor({ ...run, scenarios: [aggregateRepeats([pass], r.artifactsDir)], summary: summarize([aggregateRepeats([pass], r.artifactsDir)]) })).toBe(0);
  });

  it('repeats are planned scenario after scenario and tallied in whatever order they end', async () => {
    expect(repeatPlan(2, 3)).toEqual([
      { index: 0, repeat: 1 },
      { index: 0, repeat: 2 },
      { index: 0, repeat: 3 },
      { index: 1, repeat: 1 },
      { index: 1, repeat: 2 },
      { index: 1, repeat: 3 },
    ]);
    const runs = await khoOnByDefault(root, ['pass', 'fail', 'pass']);
    const tally = new RepeatTally(1, 3);
    const dir = join(root, 'kho-on-by-default');
    const [r1, r2, r3] = runs;
    if (r1 === undefined || r2 === undefined || r3 === undefined) throw new Error('fixture');
    expect(tally.add({ index: 0, repeat: 3 }, r3.result, dir)).toBeUndefined();
    // Stopped here: the pass rate counts what ended, numbered as it ran.
    expect(tally.partial(0, dir)?.repeats?.map((x) => x.repeat)).toEqual([3]);
    expect(tally.add({ index: 0, repeat: 1 }, r1.result, dir)).toBeUndefined();
    expect(tally.add({ index: 0, repeat: 2 }, r2.result, dir)).toEqual(aggregateRepeats(runs, dir));
  });
});

describe('a flaky scenario in the reports', () => {
  const root = '/srv/run';

  it('console: FLAKY with the rate, the failing repeat and its folder; the summary says flaky', async () => {
    const run = await flakyRun(root);
    const err = capture();
    const out = capture();
    const r = consoleReporter(err.stream, out.stream);
    for (const s of run.scenarios) r.scenarioEnd?.(s);
    await r.runEnd?.(run);
    const lines = err.text().split('\n');
    expect(lines[0]).toMatch(/^ok {3}kho-off 20\/20 passed in \S+/);
    expect(lines[1]).toMatch(/^FLAKY kho-on-by-default 19\/20 passed in \S+/);
    expect(lines[2]).toMatch(/^ {2}repeat 7: failed test-failed: step 1 /);
    expect(lines[3]).toBe(`    artifacts: ${join(root, 'kho-on-by-default', 'repeat-7')}`);
    expect(err.text()).toMatch(/: 2 scenarios in \S+, each 20 times\n$/);
    expect(out.text()).toBe('1 passed, 1 failed (1 flaky)\n');
  });

  it('JSON: every repeat, the pass rate, the flaky count', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'handover-repeat-'));
    await writeReports(dir, await flakyRun(root), ['json']);
    const run = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as RunResult;
    expect(run.repeat).toBe(20);
    expect(run.summary).toEqual({ passed: 1, failed: 1, skipped: 0, error: 0, xfail: 0, flaky: 1 });
    const s = scenario(run, 'kho-on-by-default');
    expect(s.passRate).toEqual({ passed: 19, runs: 20 });
    expect(s.repeats).toHaveLength(20);
    expect(s.repeats?.[6]).toMatchObject({ repeat: 7, status: 'failed', outcome: 'test-failed', artifactsDir: join(root, 'kho-on-by-default', 'repeat-7') });
  });

  it('JUnit: a failed "repeats" case with the rate and the failing repeats’ messages', async () => {
    const xml = toJUnit(await flakyRun(root));
    // The totals are the cases' (steps and the repeats case), summed over the suites.
    expect(xml).toContain('<testsuites name="handover" tests="9" failures="2" errors="0"');
    const suite = xml.slice(xml.indexOf('<testsuite name="kho-on-by-default"'));
    expect(suite).toMatch(/^<testsuite name="kho-on-by-default" [^>]*tests="6" failures="2"/);
    expect(suite).toContain('<property name="passRate" value="19/20"/>');
    expect(suite).toMatch(/<testcase classname="kho-on-by-default" name="repeats"[^>]*>\n {6}<failure message="flaky: 19\/20 repeats passed">repeat 7: failed test-failed: step 1 [^<]*<\/failure>/);
    // The one that passed every time: its rate, no failure.
    const khoOff = xml.slice(xml.indexOf('<testsuite name="kho-off"'), xml.indexOf('<testsuite name="kho-on-by-default"'));
    expect(khoOff).toContain('<property name="passRate" value="20/20"/>');
    expect(khoOff).not.toContain('<failure');
  });

  it('KTAP: not ok, with the rate and the failing repeat as diagnostics', async () => {
    const doc = parseKtap(toKtap(await flakyRun(root)));
    const [khoOff, flaky] = doc.cases;
    expect(khoOff).toMatchObject({ name: 'kho-off', ok: true, diagnostics: ['kho-off: 20/20 repeats passed'] });
    expect(flaky?.name).toBe('kho-on-by-default');
    expect(flaky?.ok).toBe(false);
    expect(flaky?.diagnostics).toContain('kho-on-by-default: flaky, 19/20 repeats passed');
    expect(flaky?.diagnostics.some((d) => /^kho-on-by-default: repeat 7: failed test-failed: step 1 /.test(d))).toBe(true);
    expect(doc.totals).toMatchObject({ pass: 1, fail: 1 });
  });

  it('HTML: a FLAKY badge and the rate beside the name, every repeat listed with its folder', async () => {
    const html = toHtml(await flakyRun(root), { reportDir: root });
    const row = html.match(/<tr data-scenario="kho-on-by-default">.*?<\/tr>/)?.[0] ?? '';
    expect(row).toContain('<span class="badge flaky">FLAKY</span>');
    expect(row).toContain('<span class="rate flaky" title="repeats that passed">19/20 passed</span>');
    expect(html.match(/<tr data-scenario="kho-off">.*?<\/tr>/)?.[0]).toContain('<span class="rate" title="repeats that passed">20/20 passed</span>');
    expect(html).toContain('<span class="chip flaky">1 flaky (repeats disagreed)</span>');
    expect(html).toMatch(/<li>repeat 7: <span class="badge failed">FAIL<\/span> test-failed [^<]*\(\S+ s\) <a href="kho-on-by-default\/repeat-7\/">/);
    expect(html.match(/<li>repeat \d+: /g)).toHaveLength(40);
    // The failure is among the failures, with what failed in repeat 7.
    expect(html).toMatch(/<article class="failure" id="f-kho-on-by-default">\n<h3><span class="badge flaky">FLAKY<\/span> kho-on-by-default/);
  });

  it('merge-reports: shards run with repeats merge into the same flaky scenario, their folders found where they moved', async () => {
    const [s1, s2] = await Promise.all([fixture('shard-1.json'), fixture('shard-2.json')]);
    const repeated = async (run: RunResult, where: string): Promise<RunResult> => {
      const scenarios = await Promise.all(
        run.scenarios.map(async (s) => (s.name === 'kho-on-by-default' ? aggregateRepeats(await khoOnByDefault(where, NINETEEN), join(where, s.name)) : aggregateRepeats([1, 2].map((k) => asRepeat(s, k, where)), join(where, s.name)))),
      );
      return { ...run, scenarios, summary: summarize(scenarios), repeat: 20 };
    };
    const merged = mergeRuns([
      { source: 'shard-1.json', run: await repeated(s1, '/tmp/cis/rec/shard-1') },
      { source: 'shard-2.json', run: await repeated(s2, '/tmp/cis/rec/shard-2') },
    ]);
    expect(merged.summary).toEqual({ passed: 3, failed: 1, skipped: 0, error: 0, xfail: s1.summary.xfail + s2.summary.xfail, flaky: 1 });
    expect(merged.repeat).toBe(20);
    expect(merged.scenarios.map((s) => [s.name, s.passRate])).toEqual([
      ['ioctl-errors', { passed: 2, runs: 2 }],
      ['kho-off', { passed: 2, runs: 2 }],
      ['kho-on-by-default', { passed: 19, runs: 20 }],
      ['out-fdt-always', { passed: 2, runs: 2 }],
    ]);
    expect(exitCodeFor(merged)).toBe(1);

    // A shard's folder downloaded elsewhere: its repeats' folders are found beside its results.json.
    const dir = await mkdtemp(join(tmpdir(), 'handover-merge-repeat-'));
    const shard = join(dir, 'shard-1');
    await mkdir(join(shard, 'kho-on-by-default', 'repeat-7'), { recursive: true });
    await writeReports(shard, await repeated(s1, '/tmp/cis/rec/shard-1'), ['json']);
    const [input] = await readMergeInputs([shard]);
    const s = input === undefined ? undefined : scenario(input.run, 'kho-on-by-default');
    expect(s?.artifactsDir).toBe(join(shard, 'kho-on-by-default'));
    expect(s?.repeats?.[6]?.artifactsDir).toBe(join(shard, 'kho-on-by-default', 'repeat-7'));
    expect(s?.consoles.every((c) => c.startsWith(join(shard, 'kho-on-by-default', 'repeat-7')))).toBe(true);
  });

  it('baseline: repeats that disagreed are flaky, whatever the baseline said', async () => {
    const baseline = { path: 'jobs-2.json', run: await fixture('jobs-2.json') };
    const c = compareRuns(baseline, await flakyRun(root));
    expect(c.scenarios.find((s) => s.name === 'kho-on-by-default')).toEqual({ name: 'kho-on-by-default', previous: 'passed', current: 'failed', class: 'flaky' });
    expect(c.scenarios.find((s) => s.name === 'kho-off')?.class).toBe('still-passing');
    const failing = { path: 'kho-off-everywhere.json', run: await fixture('kho-off-everywhere.json') };
    expect(compareRuns(failing, await flakyRun(root)).scenarios.find((s) => s.name === 'kho-on-by-default')?.class).toBe('flaky');
  });
});

describe('--repeat on the command line', () => {
  it('a repeat count that is not a positive whole number is a usage error naming the option; nothing starts', async () => {
    for (const bad of ['0', '-1', '1.5', 'x']) {
      const program = createProgram();
      const run = program.commands.find((c) => c.name() === 'run');
      let stderr = '';
      run?.configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => undefined });
      const dir = join(tmpdir(), `handover-bad-repeat-${process.pid}`);
      const err: unknown = await program.parseAsync(['node', 'handover', 'run', '--repeat', bad, '--output', dir]).then(
        () => undefined,
        (e: unknown) => e,
      );
      // cli.ts turns every CommanderError but --help into exit 2.
      expect(err).toBeInstanceOf(CommanderError);
      expect((err as CommanderError).code).toBe('commander.invalidArgument');
      expect(stderr).toContain(`option '--repeat <n>' argument '${bad}' is invalid. expected a positive whole number`);
      expect(await access(dir).then(() => true, () => false)).toBe(false);
    }
  });
});
