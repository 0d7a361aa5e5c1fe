// The one JUnit serialiser: run, matrix and series reports build a tree of suites and cases, and
// this writes it. Counts are computed from the cases, at each level, so they cannot disagree with
// the elements a CI system reads.
import { stripVTControlCharacters } from 'node:util';

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

/** What a case ended with when it did not pass; bodies and messages are raw text. */
export type JUnitOutcome =
  | { kind: 'failure' | 'error'; message: string; type?: string; body: string }
  | { kind: 'skipped'; message: string };

export interface JUnitCase {
  classname: string;
  name: string;
  file?: string;
  line?: number;
  durationMs?: number;
  outcome?: JUnitOutcome;
  systemOut?: string;
}

export interface JUnitSuite {
  name: string;
  file?: string;
  durationMs?: number;
  properties?: readonly (readonly [name: string, value: string])[];
  cases: readonly JUnitCase[];
  systemOut?: string;
}

export interface JUnitReport {
  name: string;
  durationMs: number;
  suites: readonly JUnitSuite[];
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function counts(cases: readonly JUnitCase[]): Counts {
  const n = (kind: JUnitOutcome['kind']) => cases.filter((c) => c.outcome?.kind === kind).length;
  return { tests: cases.length, failures: n('failure'), errors: n('error'), skipped: n('skipped') };
}

/** Attributes in order, the undefined ones left out. */
function attrs(list: readonly (readonly [string, string | number | undefined])[]): string {
  return list.flatMap(([k, v]) => (v === undefined ? [] : [` ${k}="${typeof v === 'number' ? v : xmlEscape(v)}"`])).join('');
}

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : (ms / 1000).toFixed(3));
const countAttrs = (c: Counts) => [['tests', c.tests], ['failures', c.failures], ['errors', c.errors], ['skipped', c.skipped]] as const;

function caseLines(c: JUnitCase): string[] {
  const out = [`    <testcase${attrs([['classname', c.classname], ['name', c.name], ['file', c.file], ['line', c.line], ['time', seconds(c.durationMs)]])}>`];
  const o = c.outcome;
  if (o?.kind === 'skipped') out.push(`      <skipped${attrs([['message', o.message]])}/>`);
  else if (o !== undefined) out.push(`      <${o.kind}${attrs([['type', o.type], ['message', o.message]])}>${xmlEscape(o.body)}</${o.kind}>`);
  if (c.systemOut !== undefined) out.push(`      <system-out>${xmlEscape(c.systemOut)}</system-out>`);
  out.push('    </testcase>');
  return out;
}

export function junitXml(r: JUnitReport): string {
  const all = r.suites.flatMap((s) => s.cases);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites${attrs([['name', r.name], ...countAttrs(counts(all)), ['time', seconds(r.durationMs)]])}>`];
  for (const s of r.suites) {
    out.push(`  <testsuite${attrs([['name', s.name], ['file', s.file], ...countAttrs(counts(s.cases)), ['time', seconds(s.durationMs)]])}>`);
    if (s.properties !== undefined) out.push(`    <properties>${s.properties.map(([name, value]) => `<property${attrs([['name', name], ['value', value]])}/>`).join('')}</properties>`);
    for (const c of s.cases) out.push(...caseLines(c));
    if (s.systemOut !== undefined) out.push(`    <system-out>${xmlEscape(s.systemOut)}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
