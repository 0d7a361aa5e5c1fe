// Reports of a kernel matrix: a from × to table on the console, JSON, and JUnit with one
// testcase per pair × scenario.

import { specLabel, type MatrixCell, type MatrixResult } from '../scenario/matrix.ts';
import { junitXml, type JUnitCase, type JUnitOutcome, type JUnitSuite } from './junit-xml.ts';
import { formatSeconds } from '../log/progress.ts';

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length));

/** What a cell shows: the outcome, or n/m passed when a pair ran several scenarios. */
function cellText(cells: readonly MatrixCell[]): string {
  if (cells.length === 0) return '—';
  if (cells.length === 1) return (cells[0] as MatrixCell).outcome;
  const ok = cells.filter((c) => c.status === 'passed' || c.status === 'skipped').length;
  const bad = [...new Set(cells.filter((c) => c.status === 'failed' || c.status === 'error').map((c) => c.outcome))];
  return `${ok}/${cells.length} passed${bad.length === 0 ? '' : ` (${bad.join(', ')})`}`;
}

/** The from × to table, then one line per cell that did not pass, with its evidence. */
export function formatMatrix(m: MatrixResult): string {
  // Kernels are named by release, and by their spec too when two share a release (a patched tree).
  const names = m.kernels.map((k) => (m.kernels.filter((o) => o.release === k.release).length > 1 ? `${k.release} (${specLabel(k.spec)})` : k.release));
  const name = (spec: string) => names[m.kernels.findIndex((k) => k.spec === spec)] ?? spec;
  const rowHead = 'from \\ to';
  const w0 = Math.max(rowHead.length, ...names.map((n) => n.length));
  const cols = m.kernels.map((to) =>
    Math.max(
      name(to.spec).length,
      ...m.kernels.map((from) => cellText(m.cells.filter((c) => c.from === from.spec && c.to === to.spec)).length),
    ),
  );
  const out = [`${pad(rowHead, w0)}  ${m.kernels.map((k, i) => pad(name(k.spec), cols[i] ?? 0)).join('  ')}`.trimEnd()];
  for (const from of m.kernels) {
    const row = m.kernels.map((to, i) => pad(from.spec === to.spec ? '—' : cellText(m.cells.filter((c) => c.from === from.spec && c.to === to.spec)), cols[i] ?? 0));
    out.push(`${pad(name(from.spec), w0)}  ${row.join('  ')}`.trimEnd());
  }
  out.push('');
  for (const k of m.kernels) out.push(`${name(k.spec)}: ${k.spec} (${k.describe}), built in ${formatSeconds(k.buildSeconds)}${k.cacheHit ? ' (cache hit)' : ''}`);
  for (const c of m.cells) {
    const blackout = c.blackoutsMs.length === 0 ? '' : `, blackout ${c.blackoutsMs.map((b) => formatSeconds(b / 1000)).join(' / ')}`;
    out.push(`${c.status === 'passed' ? 'ok  ' : c.status === 'skipped' ? 'skip' : 'FAIL'} ${name(c.from)} → ${name(c.to)} ${c.scenario} in ${formatSeconds(c.durationMs / 1000)}${blackout}`);
    if (c.status === 'failed' || c.status === 'error' || c.status === 'skipped') {
      out.push(`  ${c.outcome}: ${c.message ?? ''}`);
      for (const e of c.evidence ?? []) out.push(`    ${e}`);
      if (c.status !== 'skipped') out.push(`  artifacts: ${c.artifactsDir}`);
    }
  }
  const s = m.summary;
  out.push(`${s.passed} passed, ${s.failed + s.error} failed${s.skipped > 0 ? `, ${s.skipped} skipped` : ''} (${m.cells.length} pair × scenario cells, ${m.accel.accel})`);
  return `${out.join('\n')}\n`;
}

/** One testsuite per ordered pair, one testcase per scenario. */
export function matrixToJUnit(m: MatrixResult): string {
  const pairs = [...new Set(m.cells.map((c) => `${c.from}\n${c.to}`))];
  const suites = pairs.map((pair): JUnitSuite => {
    const cells = m.cells.filter((c) => `${c.from}\n${c.to}` === pair);
    const first = cells[0] as MatrixCell;
    const same = first.releases.from === first.releases.to;
    const suite = same ? `${first.releases.from} (${specLabel(first.from)}) -> ${first.releases.to} (${specLabel(first.to)})` : `${first.releases.from} -> ${first.releases.to}`;
    const cases = cells.map((c): JUnitCase => {
      const body = [c.message ?? '', ...(c.evidence ?? [])].filter(Boolean).join('\n');
      const message = `${c.outcome}: ${c.message ?? ''}`;
      const outcome: JUnitOutcome | undefined =
        c.status === 'failed' ? { kind: 'failure', type: c.outcome, message, body }
        : c.status === 'error' ? { kind: 'error', type: c.outcome, message, body }
        : c.status === 'skipped' ? { kind: 'skipped', message: c.message ?? 'skipped' }
        : undefined;
      return { classname: suite, name: c.scenario, durationMs: c.durationMs, ...(outcome === undefined ? {} : { outcome }) };
    });
    return { name: suite, properties: [['from', first.from], ['to', first.to]], cases };
  });
  return junitXml({ name: 'handover matrix', durationMs: m.durationMs, suites });
}
