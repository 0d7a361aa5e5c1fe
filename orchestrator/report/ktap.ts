import { isFlaky, knownBugs, type RunResult, type Status } from '../scenario/results.ts';

const directive = (s: Status, message: string | undefined): string =>
  s === 'skipped' ? ` # SKIP ${message ?? ''}`.trimEnd() : s === 'error' ? ` # ERROR ${message ?? ''}`.trimEnd() : s === 'xfail' ? ` # XFAIL ${(message ?? '').replace(/^XFAIL /, '')}`.trimEnd() : '';
const good = (s: Status): boolean => s === 'passed' || s === 'skipped' || s === 'xfail';

/** KTAP v1: one subtest per scenario, one case per step (as kselftest and KUnit print them). */
export function toKtap(run: RunResult): string {
  const out = ['KTAP version 1', `1..${run.scenarios.length}`];
  run.scenarios.forEach((sc, i) => {
    out.push('  KTAP version 1', `  # Subtest: ${sc.name}`, `  1..${sc.steps.length}`);
    sc.steps.forEach((st, j) => {
      if (st.status === 'failed' && st.message !== undefined) for (const l of st.message.split('\n')) out.push(`  # ${l}`);
      out.push(`  ${good(st.status) ? 'ok' : 'not ok'} ${j + 1} ${st.name}${directive(st.status, st.message)}`);
    });
    if (sc.status === 'failed' && sc.message !== undefined) out.push(`# ${sc.name}: ${sc.outcome ?? ''}: ${sc.message}`);
    // Repeats: the rate, and each repeat that did not pass, as diagnostics of the scenario's line.
    if (sc.passRate !== undefined) out.push(`# ${sc.name}: ${isFlaky(sc) ? 'flaky, ' : ''}${sc.passRate.passed}/${sc.passRate.runs} repeats passed`);
    for (const x of sc.repeats ?? []) if (x.status !== 'passed') out.push(`# ${sc.name}: repeat ${x.repeat}: ${x.status}${x.outcome === undefined ? '' : ` ${x.outcome}`}: ${x.message ?? ''}`);
    out.push(`${good(sc.status) ? 'ok' : 'not ok'} ${i + 1} ${sc.name}${directive(sc.status, sc.message)}`);
  });
  const s = run.summary;
  out.push(`# Totals: pass:${s.passed} fail:${s.failed} xfail:${s.xfail} xpass:${knownBugs(run.scenarios).filter((b) => !b.seen).length} skip:${s.skipped} error:${s.error}`);
  if ((s.flaky ?? 0) > 0) out.push(`# Flaky: ${s.flaky} of the failed disagreed across repeats`);
  return `${out.join('\n')}\n`;
}
