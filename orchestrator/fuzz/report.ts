// The fuzz run's reports, in run's formats: the console summary with the coverage table, fuzz.json,
// and JUnit with one case per finding (one passing case when there is none).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatCoverageTable } from '../report/coverage.ts';
import { junitXml, type JUnitCase } from '../report/junit-xml.ts';
import type { FuzzResult } from './fuzz.ts';

export const FUZZ_REPORTERS = ['console', 'json', 'junit'] as const;

const perMinute = (n: number, ms: number): string => (ms <= 0 ? '0' : ((n * 60_000) / ms).toFixed(1));

export function formatFuzz(r: FuzzResult): string {
  const lines: string[] = [];
  const min = (r.durationMs / 60_000).toFixed(1);
  lines.push(
    `fuzz seed ${r.seed}: ${r.programs} programs in ${r.batches} VMs (${r.perBatch} per VM, --jobs ${r.jobs}), ${r.kexecs} kexecs in ${min} min on ${r.kernel?.release ?? 'unknown'} (${r.accel ?? 'unknown'})`,
  );
  lines.push(`  ${perMinute(r.programs, r.durationMs)} programs/min, ${perMinute(r.kexecs, r.durationMs)} kexecs/min`);
  lines.push('', 'coverage (operation × outcome, attribute classes; steps that passed):');
  const width = Math.max(...r.coverage.map((c) => c.label.length));
  for (const c of r.coverage) lines.push(`  ${c.label.padEnd(width)}  ${c.count === 0 ? '-' : String(c.count)}`);
  lines.push(r.unreached.length === 0 ? '  everything was reached' : `  never reached (${r.unreached.length}): ${r.unreached.join(', ')}`);
  const k = r.kernelCoverage;
  if (k !== undefined) {
    lines.push('', ...formatCoverageTable({ files: k.files, scenarios: [], missed: k.missed.map((m) => ({ scenario: m.batch, boot: 0, reason: m.reason })), tracefile: k.tracefile }, `${r.batches} fuzz VMs`));
    const first = k.samples[0];
    const last = k.samples[k.samples.length - 1];
    if (first !== undefined && last !== undefined) {
      lines.push(
        `  over time: lines ${first.lines.hit} → ${last.lines.hit}, branches ${first.branches.hit} → ${last.branches.hit} (after the first round, at the end); ${k.corpus} programs kept for new coverage, ${k.mutants} mutants, ${k.mutantGains} of their VMs reached something new`,
      );
    }
    if (k.beyond !== undefined) {
      const all = [...k.beyond.newLines, ...k.beyond.newBranches];
      lines.push(`  beyond ${k.beyond.tracefile}: ${k.beyond.lines} lines and ${k.beyond.branches} branches it did not reach${all.length === 0 ? '' : ':'}`);
      for (const l of all.slice(0, 40)) lines.push(`    ${l}`);
      if (all.length > 40) lines.push(`    … ${all.length - 40} more in fuzz.json`);
    }
  }
  for (const e of r.errors) lines.push(`error: ${e.batch}: ${e.outcome}: ${e.message}`);
  lines.push('');
  if (r.findings.length === 0) lines.push(`nothing found in ${r.programs} programs, ${r.kexecs} kexecs`);
  for (const f of r.findings) {
    lines.push(`FINDING ${f.id}: ${f.outcome}: ${f.message}`);
    lines.push(`  first in ${f.batch}${f.program === undefined ? '' : ` (program ${f.program})`}, seen in ${f.seen} batch${f.seen === 1 ? '' : 'es'}`);
    if (f.shrink !== undefined) {
      lines.push(
        f.shrink.reproduced
          ? `  shrunk to ${f.steps} steps in ${f.shrink.tries} tries (${(f.shrink.ms / 1000).toFixed(0)} s): handover run ${f.reproducer}`
          : `  did not show again when run alone (${f.shrink.tries} tries): the batch is the reproducer: handover run ${f.reproducer}`,
      );
    } else lines.push(`  reproducer (not shrunk): handover run ${f.reproducer}`);
  }
  return `${lines.join('\n')}\n`;
}

export function fuzzJUnit(r: FuzzResult): string {
  const cases: JUnitCase[] =
    r.findings.length === 0
      ? [
          {
            classname: 'fuzz',
            name: `seed ${r.seed}: ${r.programs} programs, ${r.kexecs} kexecs: nothing found`,
            durationMs: r.durationMs,
          },
        ]
      : r.findings.map((f) => ({
          classname: 'fuzz',
          name: `finding ${f.id}: ${f.signature}`,
          file: f.reproducer,
          outcome: {
            kind: 'failure' as const,
            type: f.outcome,
            message: f.message,
            body: [`reproduce: handover run ${f.reproducer}`, `batch: ${f.batchFile}`, `steps: ${f.steps}`].join('\n'),
          },
        }));
  return junitXml({
    name: 'handover fuzz',
    durationMs: r.durationMs,
    suites: [
      {
        name: `fuzz seed ${r.seed}`,
        durationMs: r.durationMs,
        properties: [['seed', String(r.seed)]],
        cases,
      },
    ],
  });
}

/** fuzz.json and fuzz-junit.xml in the output directory, as asked. */
export async function writeFuzzReports(r: FuzzResult, output: string, kinds: readonly string[]): Promise<void> {
  await mkdir(output, { recursive: true });
  if (kinds.includes('json')) await writeFile(join(output, 'fuzz.json'), `${JSON.stringify(r, null, 2)}\n`);
  if (kinds.includes('junit')) await writeFile(join(output, 'fuzz-junit.xml'), fuzzJUnit(r));
}
