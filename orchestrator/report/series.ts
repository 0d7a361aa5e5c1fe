import { junitXml, type JUnitCase } from './junit-xml.ts';
import { formatSeconds } from '../log/progress.ts';
import { BAD_OUTCOMES, type PatchResult, type SeriesResult } from '../series/series.ts';

const MARK: Record<PatchResult['outcome'], string> = {
  good: 'good',
  'new-warnings': 'good (new warnings)',
  'apply-failed': 'BAD: does not apply',
  'build-failed': 'BAD: does not build',
  'test-failed': 'BAD: tests fail',
  'infra-error': 'could not judge',
  'not-attempted': 'not attempted',
  'not-tested': 'applied, not tested',
  interrupted: 'interrupted',
};

function applyCell(p: PatchResult): string {
  if (p.apply.ok) return 'ok';
  if (p.outcome !== 'apply-failed') return '-';
  return `FAIL ${p.apply.file ?? '?'}${p.apply.hunk === undefined ? '' : ` #${p.apply.hunk}`}`;
}

function buildCell(p: PatchResult): string {
  if (p.build === undefined) return '-';
  if (!p.build.ok) return `FAIL (${p.build.outcome ?? 'build-failed'})`;
  return `ok ${formatSeconds(p.build.seconds)}${p.build.cacheHit ? ' (cached)' : ''}`;
}

function warningCell(p: PatchResult): string {
  if (p.build?.ok !== true) return '-';
  const w = p.build.warnings;
  if (w === undefined) return '?';
  const here = p.build.introduced?.added.length ?? 0;
  return `+${w.added.length}${w.removed.length > 0 ? ` -${w.removed.length}` : ''}${here > 0 ? ` (${here} new here)` : ''}`;
}

function testCell(p: PatchResult): string {
  const t = p.tests;
  if (t === undefined) return '-';
  const total = t.scenarios.length;
  return `${t.passed}/${total} passed${t.failed + t.error > 0 ? `, ${t.failed + t.error} failed` : ''}${t.skipped > 0 ? `, ${t.skipped} skipped` : ''}`;
}

/** --coverage: of the changed live-update lines that can run, how many no scenario reached. */
function coverageCell(p: PatchResult): string {
  const c = p.coverage;
  if (c === undefined) return '-';
  if (c.executable === 0) return c.changed === 0 ? 'no lu lines' : `0/${c.changed} executable`;
  return `${c.unreached.length}/${c.executable} unreached`;
}

/** The per-patch table, then what broke for every patch that is not plainly good, then the verdict. */
export function formatSeriesTable(r: SeriesResult): string {
  const withCoverage = r.patches.some((p) => p.coverage !== undefined);
  const head = ['#', 'patch', 'apply', 'build', 'warnings', 'tests', ...(withCoverage ? ['coverage'] : []), 'result'];
  const rows = r.patches.map((p) => [String(p.index), truncate(p.subject, 64), applyCell(p), buildCell(p), warningCell(p), testCell(p), ...(withCoverage ? [coverageCell(p)] : []), MARK[p.outcome]]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [
    `series ${r.series.text} on ${r.base.describe}: ${r.patches.length} patch${r.patches.length === 1 ? '' : 'es'}, ${r.mode === 'each' ? 'built and tested after each' : 'built and tested after the last'} (${r.scenarios.join(', ') || 'no scenarios'})`,
    fmt(head),
    ...rows.map(fmt),
  ];
  for (const p of r.patches) {
    if (p.outcome === 'good' || p.outcome === 'not-attempted' || p.outcome === 'not-tested') continue;
    out.push('', `${p.index}. ${p.subject}: ${p.outcome}${p.message === undefined ? '' : `: ${p.message}`}`);
    for (const e of p.evidence.slice(0, 20)) out.push(`    ${e}`);
    if (p.tests !== undefined && p.outcome === 'test-failed') out.push(`    artifacts: ${p.tests.output}`);
    if (p.build?.ok === false && p.build.buildLog !== undefined) out.push(`    build log: ${p.build.buildLog}`);
  }
  for (const p of r.patches) {
    if (p.coverage === undefined || p.coverage.unreached.length === 0) continue;
    out.push('', `${p.index}. ${p.subject}: ${p.coverage.unreached.length} changed line${p.coverage.unreached.length === 1 ? '' : 's'} no scenario executed:`);
    for (const l of p.coverage.unreached) out.push(`    ${l}`);
  }
  out.push('');
  if (r.firstBad !== undefined) out.push(`first bad patch: ${r.firstBad.index} "${r.firstBad.subject}" (${r.firstBad.outcome})`);
  else if (r.patches.some((p) => p.outcome === 'build-failed' || p.outcome === 'test-failed')) out.push('the series as a whole is bad (--final-only: run with --each to find the first bad patch)');
  else if (r.interrupted) out.push('interrupted before every patch was judged');
  else if (r.patches.some((p) => p.outcome === 'infra-error')) out.push('no bad patch found, but some patches could not be judged (infrastructure errors above)');
  else out.push(`all ${r.patches.length} patches good${r.patches.some((p) => p.outcome === 'new-warnings') ? ' (some add compiler warnings)' : ''} in ${formatSeconds(r.durationMs / 1000)}`);
  return `${out.join('\n')}\n`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/**
 * One <testsuite> for the series, one <testcase> per patch: a bad patch is a failure, an
 * infrastructure error an error, a patch not built a skip. New warnings are shown in system-out.
 */
export function seriesToJUnit(r: SeriesResult): string {
  const cases = r.patches.map((p): JUnitCase => {
    const body = [p.message ?? '', ...p.evidence].filter(Boolean).join('\n');
    const c: JUnitCase = { classname: 'series', name: `${String(p.index).padStart(2, '0')}. ${p.subject}`, durationMs: p.durationMs };
    if (BAD_OUTCOMES.includes(p.outcome)) c.outcome = { kind: 'failure', type: p.outcome, message: p.message ?? p.outcome, body };
    else if (p.outcome === 'infra-error') c.outcome = { kind: 'error', type: p.infraOutcome ?? 'infra-error', message: p.message ?? 'infrastructure error', body };
    else if (p.outcome !== 'good' && p.outcome !== 'new-warnings') c.outcome = { kind: 'skipped', message: MARK[p.outcome] };
    const added = p.build?.warnings?.added ?? [];
    const unreached = p.coverage?.unreached ?? [];
    const out = [
      ...(added.length > 0 ? [`+${added.length} compiler warning${added.length === 1 ? '' : 's'} against the base:`, ...added] : []),
      ...(unreached.length > 0 ? [`${unreached.length} changed live-update line${unreached.length === 1 ? '' : 's'} no scenario executed:`, ...unreached] : []),
    ];
    if (out.length > 0) c.systemOut = out.join('\n');
    return c;
  });
  const properties: [string, string][] = [['base', r.base.describe], ['base-commit', r.base.commit], ['scenarios', r.scenarios.join(',')]];
  if (r.firstBad !== undefined) properties.push(['first-bad', String(r.firstBad.index)]);
  return junitXml({ name: 'handover series', durationMs: r.durationMs, suites: [{ name: r.series.text, durationMs: r.durationMs, properties, cases }] });
}
