// A run's coverage: every scenario's tracefile joined into `<output>/coverage.info` (one TN
// section per scenario, so genhtml can say who reached a line) and the per-file summary of the
// sums. Shards join the same way (merge-reports): the tracefiles are the inputs.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLcov, toLcov, type TestCoverage } from './lcov.ts';
import { mergeAll, summarize, type FileSummary } from './model.ts';

/** What a run's result says of its coverage (RunResult.coverage). */
export interface RunCoverage {
  /** `<output>/coverage.info`, every scenario's section. */
  tracefile: string;
  /** Per live-update file, then `total`: what all scenarios together reached. */
  files: FileSummary[];
  /** Scenarios whose tracefile is in. */
  scenarios: string[];
  /** Boots whose counters were not read (their code ran uncounted), per scenario. */
  missed: { scenario: string; boot: number; reason: string }[];
  /** The sources the tracefile's paths are relative to (the coverage kernel's cache entry keeps a copy). */
  sources?: string;
  /** The report files written from it (coverage.xml, coverage-html/index.html), and why one is missing. */
  reports?: string[];
  reportNote?: string;
}

export interface CoverageInput {
  name: string;
  coverage?: { tracefile: string; missed?: { boot: number; reason: string }[] };
}

/** Joins the scenarios' tracefiles; undefined when no scenario has one. */
export async function joinCoverage(output: string, scenarios: readonly CoverageInput[], sources?: string): Promise<RunCoverage | undefined> {
  const tests: TestCoverage[] = [];
  const names: string[] = [];
  const missed: RunCoverage['missed'] = [];
  for (const s of scenarios) {
    if (s.coverage === undefined) continue;
    const text = await readFile(s.coverage.tracefile, 'utf8').catch(() => undefined);
    if (text === undefined) {
      missed.push({ scenario: s.name, boot: 0, reason: `${s.coverage.tracefile} is missing` });
      continue;
    }
    tests.push(...parseLcov(text, s.coverage.tracefile));
    names.push(s.name);
    for (const m of s.coverage.missed ?? []) missed.push({ scenario: s.name, ...m });
  }
  if (tests.length === 0) return undefined;
  return { ...(await writeJoined(output, tests, names, missed)), ...(sources === undefined ? {} : { sources }) };
}

/** Writes `<output>/coverage.info` from test sections (also what merge-reports calls with the shards'). */
export async function writeJoined(output: string, tests: readonly TestCoverage[], scenarios: string[], missed: RunCoverage['missed']): Promise<RunCoverage> {
  const tracefile = join(output, 'coverage.info');
  await writeFile(`${tracefile}.${process.pid}.tmp`, toLcov(tests));
  await rename(`${tracefile}.${process.pid}.tmp`, tracefile);
  return { tracefile, files: summarize(mergeAll(tests.map((t) => t.coverage))), scenarios, missed };
}
