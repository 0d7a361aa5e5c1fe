import type { Reporter } from '../scenario/reporter.ts';
import { formatComparison } from '../scenario/baseline.ts';
import { isFlaky, knownBugs, type RunResult, type ScenarioResult } from '../scenario/results.ts';
import { formatSeconds } from '../log/progress.ts';
import { decodedLines } from './decoded-stack.ts';
import { formatCoverageTable } from './coverage.ts';

// The interface belongs to the runner that calls it; re-exported for the reporters' users.
export type { Reporter } from '../scenario/reporter.ts';

const MARK = { passed: 'ok  ', failed: 'FAIL', skipped: 'skip', error: 'ERR ', xfail: 'xfail' } as const;

export interface ConsoleReporterOptions {
  /**
   * Several scenarios at once (`--jobs` > 1): each scenario's lines are held back and printed as
   * one block when it ends, and the run ends with one line per scenario in suite order.
   */
  buffered?: boolean;
}

/** Live lines per scenario and step, then what broke and where, then a summary. */
export function consoleReporter(
  stream: NodeJS.WritableStream = process.stderr,
  summary: NodeJS.WritableStream = process.stdout,
  opts: ConsoleReporterOptions = {},
): Reporter {
  const w = (line: string) => stream.write(`${line}\n`);
  const held = new Map<string, string[]>();
  const out = (scenario: string, line: string) => {
    const lines = held.get(scenario);
    if (lines === undefined) w(line);
    else lines.push(line);
  };
  return {
    scenarioStart(name, description) {
      if (opts.buffered === true) held.set(name, []);
      out(name, `▶ ${name}: ${description}`);
    },
    step(scenario, st) {
      // A skipped step says why (a capability the kernel lacks); one never reached has no message.
      const note = st.message ?? '';
      out(scenario, `  ${MARK[st.status]} ${String(st.index + 1).padStart(2)}. ${st.name} (${formatSeconds(st.durationMs / 1000)})${note === '' ? '' : `: ${note}`}`);
    },
    note(line) {
      w(`note: ${line}`);
    },
    scenarioEnd(r) {
      for (const line of scenarioLines(r)) out(r.name, line);
      const lines = held.get(r.name);
      held.delete(r.name);
      if (lines !== undefined) stream.write(`${lines.join('\n')}\n`);
    },
    runEnd(run) {
      w('');
      if (opts.buffered === true) for (const r of run.scenarios) w(scenarioLines(r)[0] ?? '');
      const shard = run.shard === undefined ? '' : ` (shard ${run.shard.index}/${run.shard.total} of ${run.shard.suite.length})`;
      w(`kernel ${run.kernel.release} (${run.kernel.describe}), ${run.arch ?? 'x86_64'}, ${run.accel.accel}: ${run.scenarios.length} scenarios${shard} in ${formatSeconds(run.durationMs / 1000)}${(run.repeat ?? 1) > 1 ? `, each ${run.repeat} times` : ''}${(run.jobs ?? 1) > 1 ? `, ${run.jobs} at a time` : ''}`);
      if (run.shard !== undefined && run.scenarios.length === 0) w(`shard ${run.shard.index}/${run.shard.total} has no scenarios: empty reports`);
      if (run.comparison !== undefined) for (const line of formatComparison(run.comparison)) w(line);
      for (const line of knownBugLines(run)) w(line);
      if (run.coverage !== undefined) for (const line of formatCoverageTable(run.coverage)) w(line);
      summary.write(`${summaryLine(run)}\n`);
    },
  };
}

/** Each known kernel bug the run saw (XFAIL) or did not see (XPASS), with its scenario and step. */
export function knownBugLines(run: RunResult): string[] {
  const bugs = knownBugs(run.scenarios);
  const out: string[] = [];
  for (const [seen, title] of [
    [true, 'known kernel bugs seen (xfail)'],
    [false, 'known kernel bugs not seen (XPASS: fixed in this kernel? update the scenario)'],
  ] as const) {
    const these = bugs.filter((b) => b.seen === seen);
    if (these.length === 0) continue;
    out.push(`${title}:`);
    for (const b of these) out.push(`  ${b.scenario} step ${b.step} (${b.file}:${b.line}, ${b.name}): ${b.reason}`);
  }
  return out;
}

/** The closing line CI systems read. */
export function summaryLine(run: RunResult): string {
  const s = run.summary;
  return `${s.passed} passed, ${s.failed + s.error} failed${(s.flaky ?? 0) > 0 ? ` (${s.flaky} flaky)` : ''}${s.skipped > 0 ? `, ${s.skipped} skipped` : ''}${s.xfail > 0 ? ` (${s.xfail} known kernel bug${s.xfail === 1 ? '' : 's'} seen: xfail)` : ''}`;
}

function scenarioLines(r: ScenarioResult): string[] {
  if (r.passRate !== undefined) return repeatedLines(r, r.passRate);
  const extra = r.blackoutsMs.length > 0 ? `, blackout ${r.blackoutsMs.map((b) => formatSeconds(b / 1000)).join(' / ')}` : '';
  const tries = (r.attempts?.length ?? 1) > 1 ? `, attempt ${r.attempts?.length} (earlier: ${(r.attempts ?? []).slice(0, -1).map((a) => a.outcome ?? a.status).join(', ')})` : '';
  const lines = [`${MARK[r.status]} ${r.name} in ${formatSeconds(r.durationMs / 1000)}${extra}${tries}${r.status === 'skipped' ? `: ${r.message ?? ''}` : ''}`];
  if (r.status === 'failed' || r.status === 'error') {
    lines.push(`  ${r.outcome ?? 'failed'}: ${r.message ?? ''}`);
    for (const e of r.evidence ?? []) lines.push(`    ${e}`);
    for (const d of r.decodedCrashes ?? []) lines.push(...decodedLines(d).map((l) => `  ${l}`));
    lines.push(`  artifacts: ${r.artifactsDir}`);
  }
  return lines;
}

/** A scenario over its repeats: `FLAKY memfd-round-trip 19/20 passed in …`, then each repeat that did not pass. */
function repeatedLines(r: ScenarioResult, rate: { passed: number; runs: number }): string[] {
  const flaky = isFlaky(r);
  const lines = [`${flaky ? 'FLAKY' : MARK[r.status]} ${r.name} ${rate.passed}/${rate.runs} passed in ${formatSeconds(r.durationMs / 1000)}${r.status === 'skipped' ? `: ${r.message ?? ''}` : ''}`];
  if (r.status !== 'failed' && r.status !== 'error') return lines;
  if (!flaky) {
    lines.push(`  ${r.outcome ?? 'failed'}: ${r.message ?? ''}`);
    for (const e of r.evidence ?? []) lines.push(`    ${e}`);
  }
  for (const x of r.repeats ?? []) {
    if (x.status !== 'passed') lines.push(`  repeat ${x.repeat}: ${x.status}${x.outcome === undefined ? '' : ` ${x.outcome}`}: ${x.message ?? ''}`, `    artifacts: ${x.artifactsDir}`);
  }
  return lines;
}
