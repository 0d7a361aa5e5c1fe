// The lcov tracefile format (geninfo(1)): what genhtml, Codecov, GitLab and most CI systems read.
// One `TN:` section per test (a scenario), so genhtml --show-details names who reached each line.
import { HandoverError } from '../errors.ts';
import { emptyFile, type Coverage, type FileCoverage } from './model.ts';

export interface TestCoverage {
  /** lcov test names are [A-Za-z0-9_]: see testName. */
  test: string;
  coverage: Coverage;
}

/** A scenario's name as an lcov test name (genhtml accepts only word characters). */
export function testName(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

export function toLcov(tests: readonly TestCoverage[]): string {
  const out: string[] = [];
  for (const t of tests) {
    for (const [file, f] of [...t.coverage].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`TN:${t.test}`, `SF:${file}`, ...fileRecord(f), 'end_of_record');
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function fileRecord(f: FileCoverage): string[] {
  const out: string[] = [];
  const fns = [...f.functions].sort(([, a], [, b]) => a.line - b.line);
  for (const [name, fn] of fns) out.push(`FN:${fn.line},${name}`);
  for (const [name, fn] of fns) out.push(`FNDA:${fn.count},${name}`);
  out.push(`FNF:${fns.length}`, `FNH:${fns.filter(([, fn]) => fn.count > 0).length}`);
  let brf = 0;
  let brh = 0;
  for (const [line, bs] of [...f.branches].sort(([a], [b]) => a - b)) {
    // A branch of a line that never ran was not evaluated: lcov writes `-`, not 0.
    const ran = (f.lines.get(line) ?? 0) > 0;
    bs.forEach((n, i) => out.push(`BRDA:${line},0,${i},${ran ? n : '-'}`));
    brf += bs.length;
    brh += bs.filter((n) => n > 0).length;
  }
  out.push(`BRF:${brf}`, `BRH:${brh}`);
  const lines = [...f.lines].sort(([a], [b]) => a - b);
  for (const [line, n] of lines) out.push(`DA:${line},${n}`);
  out.push(`LF:${lines.length}`, `LH:${lines.filter(([, n]) => n > 0).length}`);
  return out;
}

/** Parses a tracefile; a line that is not lcov is an error naming file:line. */
export function parseLcov(text: string, source = 'coverage.info'): TestCoverage[] {
  const tests = new Map<string, Coverage>();
  let test = '';
  let file: FileCoverage | undefined;
  const fnLines = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const bad = () => new HandoverError('usage-error', `${source}:${i + 1}:1: not an lcov record: '${line.slice(0, 60)}'`);
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    const nums = value.split(',');
    switch (tag) {
      case 'TN':
        test = value;
        return;
      case 'SF': {
        let cov = tests.get(test);
        if (cov === undefined) tests.set(test, (cov = new Map<string, FileCoverage>()));
        file = cov.get(value) ?? emptyFile();
        cov.set(value, file);
        fnLines.clear();
        return;
      }
      case 'end_of_record':
        file = undefined;
        return;
      case 'FNF':
      case 'FNH':
      case 'BRF':
      case 'BRH':
      case 'LF':
      case 'LH':
        return;
    }
    if (file === undefined) throw bad();
    if (tag === 'FN') {
      const [l, ...name] = nums;
      fnLines.set(name.join(','), Number(l));
      file.functions.set(name.join(','), { line: Number(l), count: file.functions.get(name.join(','))?.count ?? 0 });
    } else if (tag === 'FNDA') {
      const [n, ...name] = nums;
      const key = name.join(',');
      file.functions.set(key, { line: fnLines.get(key) ?? file.functions.get(key)?.line ?? 0, count: Number(n) });
    } else if (tag === 'DA') {
      const [l, n] = nums.map(Number);
      if (l === undefined || n === undefined || !Number.isFinite(l) || !Number.isFinite(n)) throw bad();
      file.lines.set(l, (file.lines.get(l) ?? 0) + n);
    } else if (tag === 'BRDA') {
      const [l, , b, taken] = nums;
      const ln = Number(l);
      const bi = Number(b);
      if (!Number.isFinite(ln) || !Number.isFinite(bi)) throw bad();
      const bs = file.branches.get(ln) ?? [];
      bs[bi] = (bs[bi] ?? 0) + (taken === '-' ? 0 : Number(taken));
      file.branches.set(ln, Array.from(bs, (x) => x ?? 0));
    } else throw bad();
  });
  return [...tests].map(([t, coverage]) => ({ test: t, coverage }));
}
