import { stripVTControlCharacters } from 'node:util';
import { decodedLines } from './decoded-stack.ts';
import { isFlaky, type RunResult, type ScenarioResult } from '../scenario/results.ts';

// XML 1.0 cannot carry most control characters, and console logs are full of them.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVALID_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f]/g;

/** Text for XML content and quoted attributes: terminal escapes and invalid characters dropped. */
export function xmlEscape(text: string): string {
  return stripVTControlCharacters(text)
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** One <testsuite> per scenario, one <testcase> per step; the console logs as attachments. */
export function toJUnit(run: RunResult): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const s = run.summary;
  out.push(
    `<testsuites name="handover" tests="${run.scenarios.length}" failures="${s.failed}" errors="${s.error}" skipped="${s.skipped}" time="${(run.durationMs / 1000).toFixed(3)}">`,
  );
  for (const sc of run.scenarios) {
    const flaky = isFlaky(sc);
    const failures = sc.steps.filter((st) => st.status === 'failed').length + (sc.status === 'failed' && !sc.steps.some((st) => st.status === 'failed') ? 1 : 0) + (flaky ? 1 : 0);
    out.push(
      `  <testsuite name="${xmlEscape(sc.name)}" file="${xmlEscape(sc.file)}" tests="${Math.max(1, sc.steps.length) + (flaky ? 1 : 0)}" failures="${failures}" errors="${sc.status === 'error' ? 1 : 0}" skipped="${sc.steps.filter((st) => st.status === 'skipped' || st.status === 'xfail').length}" time="${(sc.durationMs / 1000).toFixed(3)}">`,
    );
    out.push(`    <properties><property name="kernel" value="${xmlEscape(run.kernel.release)}"/><property name="accel" value="${xmlEscape(run.accel.accel)}"/>${sc.passRate === undefined ? '' : `<property name="passRate" value="${sc.passRate.passed}/${sc.passRate.runs}"/>`}</properties>`);
    // The decoded crash frames follow the raw lines of the failure that carries the crash.
    const decoded = (sc.decodedCrashes ?? []).flatMap(decodedLines);
    const crashStep = sc.steps.find((st) => st.status === 'failed' || st.status === 'error');
    for (const st of sc.steps) {
      out.push(`    <testcase classname="${xmlEscape(sc.name)}" name="${xmlEscape(`${st.index + 1}. ${st.name}`)}" file="${xmlEscape(sc.file)}" line="${st.line}" time="${(st.durationMs / 1000).toFixed(3)}">`);
      const body = xmlEscape([st.message ?? '', ...(st.evidence ?? []), ...(st === crashStep ? decoded : [])].filter(Boolean).join('\n'));
      if (st.status === 'failed') out.push(`      <failure message="${xmlEscape(st.message ?? 'failed')}">${body}</failure>`);
      if (st.status === 'error') out.push(`      <error message="${xmlEscape(st.message ?? 'error')}">${body}</error>`);
      if (st.status === 'skipped' || st.status === 'xfail') out.push(`      <skipped message="${xmlEscape(st.message ?? 'skipped')}"/>`);
      out.push('    </testcase>');
    }
    if (sc.status !== 'passed' && sc.status !== 'skipped' && !sc.steps.some((st) => st.status === 'failed' || st.status === 'error')) {
      const tag = sc.status === 'error' ? 'error' : 'failure';
      out.push(`    <testcase classname="${xmlEscape(sc.name)}" name="scenario" file="${xmlEscape(sc.file)}">`);
      out.push(`      <${tag} message="${xmlEscape(`${sc.outcome ?? ''}: ${sc.message ?? ''}`)}">${xmlEscape([...(sc.evidence ?? []), ...decoded].join('\n'))}</${tag}>`);
      out.push('    </testcase>');
    }
    if (flaky) out.push(...flakyCase(sc));
    const attachments = sc.consoles.map((c) => `[[ATTACHMENT|${c}]]`).join('\n');
    out.push(`    <system-out>${xmlEscape(attachments)}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** The repeats of a flaky scenario as one failed case: the pass rate, then each repeat that did not pass. */
function flakyCase(sc: ScenarioResult): string[] {
  const rate = `flaky: ${sc.passRate?.passed ?? 0}/${sc.passRate?.runs ?? 0} repeats passed`;
  const body = (sc.repeats ?? []).filter((x) => x.status !== 'passed').map((x) => `repeat ${x.repeat}: ${x.status}${x.outcome === undefined ? '' : ` ${x.outcome}`}: ${x.message ?? ''} (${x.artifactsDir})`);
  return [
    `    <testcase classname="${xmlEscape(sc.name)}" name="repeats" file="${xmlEscape(sc.file)}" time="${(sc.durationMs / 1000).toFixed(3)}">`,
    `      <failure message="${xmlEscape(rate)}">${xmlEscape(body.join('\n'))}</failure>`,
    '    </testcase>',
  ];
}
