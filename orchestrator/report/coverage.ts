// The coverage a run leaves: a console table (file, lines, branches, functions), Cobertura XML
// for CI systems (coverage.xml, beside the lcov tracefile), and genhtml's HTML view with a detail
// page per file naming the scenarios that reached each line.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseLcov } from '../coverage/lcov.ts';
import { mergeAll, percent, summarizeFile, type Coverage, type Ratio } from '../coverage/model.ts';
import type { RunCoverage } from '../coverage/run-coverage.ts';
import { xmlEscape } from './junit-xml.ts';

export const COBERTURA_FILE = 'coverage.xml';
export const HTML_DIR = 'coverage-html';

const cell = (r: Ratio) => `${`${r.hit}/${r.found}`.padStart(9)} ${percent(r).padStart(6)}`;

/** The console table; the last row is the total. */
export function formatCoverageTable(c: Pick<RunCoverage, 'files' | 'scenarios' | 'missed' | 'tracefile'>, by?: string): string[] {
  const width = Math.max(4, ...c.files.map((f) => f.file.length));
  const out = [
    `coverage of the live-update code by ${by ?? `${c.scenarios.length} scenario${c.scenarios.length === 1 ? '' : 's'}`} (hit/found):`,
    `  ${'file'.padEnd(width)}  ${'lines'.padStart(16)}  ${'branches'.padStart(16)}  ${'functions'.padStart(16)}`,
  ];
  for (const f of c.files) out.push(`  ${f.file.padEnd(width)}  ${cell(f.lines)}  ${cell(f.branches)}  ${cell(f.functions)}`);
  for (const m of c.missed) out.push(`  not counted: ${m.scenario}${m.boot > 0 ? ` boot ${m.boot}` : ''}: ${m.reason}`);
  out.push(`  tracefile: ${c.tracefile}`);
  return out;
}

/** Cobertura XML (coverage-04.dtd): one package per directory, one class per file. */
export function toCobertura(cov: Coverage, timestamp = Date.now()): string {
  const files = [...cov].sort(([a], [b]) => a.localeCompare(b));
  const all = files.map(([file, f]) => summarizeFile(file, f));
  const total = (k: 'lines' | 'branches'): Ratio => ({ hit: all.reduce((a, s) => a + s[k].hit, 0), found: all.reduce((a, s) => a + s[k].found, 0) });
  const rate = (r: Ratio) => (r.found === 0 ? '1' : (r.hit / r.found).toFixed(4));
  const byDir = new Map<string, [string, Coverage extends Map<string, infer F> ? F : never][]>();
  for (const [file, f] of files) {
    const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
    byDir.set(dir, [...(byDir.get(dir) ?? []), [file, f]]);
  }
  const L = total('lines');
  const B = total('branches');
  const out = [
    '<?xml version="1.0" ?>',
    '<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">',
    `<coverage line-rate="${rate(L)}" branch-rate="${rate(B)}" lines-covered="${L.hit}" lines-valid="${L.found}" branches-covered="${B.hit}" branches-valid="${B.found}" complexity="0" version="handover" timestamp="${Math.floor(timestamp / 1000)}">`,
    '  <sources><source>.</source></sources>',
    '  <packages>',
  ];
  for (const [dir, list] of byDir) {
    const sums = list.map(([file, f]) => summarizeFile(file, f));
    const pl = { hit: sums.reduce((a, s) => a + s.lines.hit, 0), found: sums.reduce((a, s) => a + s.lines.found, 0) };
    const pb = { hit: sums.reduce((a, s) => a + s.branches.hit, 0), found: sums.reduce((a, s) => a + s.branches.found, 0) };
    out.push(`    <package name="${xmlEscape(dir.replace(/\//g, '.'))}" line-rate="${rate(pl)}" branch-rate="${rate(pb)}" complexity="0">`, '      <classes>');
    for (const [file, f] of list) {
      const s = summarizeFile(file, f);
      out.push(`        <class name="${xmlEscape(file.split('/').pop() ?? file)}" filename="${xmlEscape(file)}" line-rate="${rate(s.lines)}" branch-rate="${rate(s.branches)}" complexity="0">`, '          <methods>');
      for (const [name, fn] of [...f.functions].sort(([, a], [, b]) => a.line - b.line)) {
        out.push(`            <method name="${xmlEscape(name)}" signature="" line-rate="${fn.count > 0 ? 1 : 0}" branch-rate="0" complexity="0"><lines><line number="${fn.line}" hits="${fn.count}"/></lines></method>`);
      }
      out.push('          </methods>', '          <lines>');
      for (const [line, hits] of [...f.lines].sort(([a], [b]) => a - b)) {
        const bs = f.branches.get(line);
        const cond =
          bs === undefined || bs.length === 0
            ? ''
            : ` branch="true" condition-coverage="${Math.round((100 * bs.filter((n) => n > 0).length) / bs.length)}% (${bs.filter((n) => n > 0).length}/${bs.length})"`;
        out.push(`            <line number="${line}" hits="${hits}"${cond}/>`);
      }
      out.push('          </lines>', '        </class>');
    }
    out.push('      </classes>', '    </package>');
  }
  out.push('  </packages>', '</coverage>', '');
  return out.join('\n');
}

/**
 * Writes coverage.xml next to the tracefile, and the HTML view with genhtml (lcov) when it is
 * installed, reading the sources the coverage kernel's cache entry keeps. Returns what it wrote
 * and, when genhtml is missing or fails, why there is no HTML.
 */
export async function writeCoverageReports(output: string, c: RunCoverage): Promise<{ written: string[]; note?: string }> {
  const tests = parseLcov(await readFile(c.tracefile, 'utf8'), c.tracefile);
  const xml = join(output, COBERTURA_FILE);
  await writeFile(`${xml}.${process.pid}.tmp`, toCobertura(mergeAll(tests.map((t) => t.coverage))));
  await rename(`${xml}.${process.pid}.tmp`, xml);
  const written = [xml];
  if (c.sources === undefined) return { written, note: 'no HTML: the sources of the coverage kernel are not known' };
  const html = join(output, HTML_DIR);
  await rm(html, { recursive: true, force: true });
  const r = await execa(
    'genhtml',
    ['--quiet', '--branch-coverage', '--show-details', '--legend', '--title', 'handover: live-update code', '--output-directory', html, c.tracefile],
    { cwd: c.sources, reject: false, stdin: 'ignore', all: true },
  ).catch((err: Error) => ({ exitCode: -1, all: err.message }));
  if (r.exitCode !== 0) {
    const why = r.exitCode === -1 ? 'genhtml is not installed (Debian package lcov; handover doctor --fix installs it)' : `genhtml failed: ${String(r.all).split('\n').slice(-3).join(' ')}`;
    return { written, note: `no HTML view: ${why}` };
  }
  written.push(join(html, 'index.html'));
  return { written };
}
