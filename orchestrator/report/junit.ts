import { decodedLines } from './decoded-stack.ts';
import { junitXml, type JUnitCase, type JUnitSuite } from './junit-xml.ts';
import { isFlaky, type RunResult, type ScenarioResult } from '../scenario/results.ts';

/** One <testsuite> per scenario, one <testcase> per step; the console logs as attachments. */
export function toJUnit(run: RunResult): string {
  return junitXml({ name: 'handover', durationMs: run.durationMs, suites: run.scenarios.map((sc) => scenarioSuite(run, sc)) });
}

function scenarioSuite(run: RunResult, sc: ScenarioResult): JUnitSuite {
  const properties: [string, string][] = [['kernel', run.kernel.release], ['arch', run.arch ?? 'x86_64'], ['accel', run.accel.accel]];
  if (sc.passRate !== undefined) properties.push(['passRate', `${sc.passRate.passed}/${sc.passRate.runs}`]);
  // The decoded crash frames follow the raw lines of the failure that carries the crash.
  const decoded = (sc.decodedCrashes ?? []).flatMap(decodedLines);
  const crashStep = sc.steps.find((st) => st.status === 'failed' || st.status === 'error');
  const cases: JUnitCase[] = sc.steps.map((st) => {
    const body = [st.message ?? '', ...(st.evidence ?? []), ...(st === crashStep ? decoded : [])].filter(Boolean).join('\n');
    const c: JUnitCase = { classname: sc.name, name: `${st.index + 1}. ${st.name}`, file: sc.file, line: st.line, durationMs: st.durationMs };
    if (st.status === 'failed') c.outcome = { kind: 'failure', message: st.message ?? 'failed', body };
    if (st.status === 'error') c.outcome = { kind: 'error', message: st.message ?? 'error', body };
    if (st.status === 'skipped' || st.status === 'xfail') c.outcome = { kind: 'skipped', message: st.message ?? 'skipped' };
    return c;
  });
  // A scenario that failed outside its steps (boot, a crash between steps) gets a case of its own.
  if (sc.status !== 'passed' && sc.status !== 'skipped' && crashStep === undefined) {
    const kind = sc.status === 'error' ? 'error' : 'failure';
    cases.push({ classname: sc.name, name: 'scenario', file: sc.file, outcome: { kind, message: `${sc.outcome ?? ''}: ${sc.message ?? ''}`, body: [...(sc.evidence ?? []), ...decoded].join('\n') } });
  }
  if (isFlaky(sc)) cases.push(flakyCase(sc));
  return { name: sc.name, file: sc.file, durationMs: sc.durationMs, properties, cases, systemOut: sc.consoles.map((c) => `[[ATTACHMENT|${c}]]`).join('\n') };
}

/** The repeats of a flaky scenario as one failed case: the pass rate, then each repeat that did not pass. */
function flakyCase(sc: ScenarioResult): JUnitCase {
  const rate = `flaky: ${sc.passRate?.passed ?? 0}/${sc.passRate?.runs ?? 0} repeats passed`;
  const body = (sc.repeats ?? []).filter((x) => x.status !== 'passed').map((x) => `repeat ${x.repeat}: ${x.status}${x.outcome === undefined ? '' : ` ${x.outcome}`}: ${x.message ?? ''} (${x.artifactsDir})`);
  return { classname: sc.name, name: 'repeats', file: sc.file, durationMs: sc.durationMs, outcome: { kind: 'failure', message: rate, body: body.join('\n') } };
}
