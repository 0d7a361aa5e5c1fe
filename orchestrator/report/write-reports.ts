// The report files a run (or a merge of shards) leaves behind: one writer per kind, shared by
// `handover run` and `handover merge-reports`, so both write exactly the same files.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { htmlReport } from './html.ts';
import { toJUnit } from './junit.ts';
import { toKtap } from './ktap.ts';
import type { RunResult } from '../scenario/results.ts';

/** Every reporter `--reporter` accepts: `console` prints, the others are files. */
export const REPORTERS = ['console', 'junit', 'json', 'ktap', 'html'] as const;
export type ReporterKind = (typeof REPORTERS)[number];

const FILES: Partial<Record<ReporterKind, { file: string; render: (run: RunResult, dir: string) => string | Promise<string> }>> = {
  json: { file: 'results.json', render: (run) => `${JSON.stringify(run, null, 2)}\n` },
  junit: { file: 'junit.xml', render: toJUnit },
  ktap: { file: 'results.ktap', render: toKtap },
  html: { file: 'report.html', render: htmlReport },
};

/** Parses `--reporter a,b` against the kinds a command writes; returns the unknown name, if any. */
export function parseReporters<K extends string = ReporterKind>(list: string, allowed: readonly K[] = REPORTERS as unknown as readonly K[]): { kinds: K[]; bad?: string } {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const known = (k: string): k is K => (allowed as readonly string[]).includes(k);
  const bad = names.find((k) => !known(k));
  return { kinds: names.filter(known), ...(bad === undefined ? {} : { bad }) };
}

/**
 * Writes the file reports among `kinds` into `dir`; returns their paths. Each file is written
 * beside its final name and renamed, so a reader never sees half a report.
 */
export async function writeReports(dir: string, run: RunResult, kinds: readonly string[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const kind of kinds) {
    const w = FILES[kind as ReporterKind];
    if (w === undefined) continue;
    const path = join(dir, w.file);
    await writeFile(`${path}.${process.pid}.tmp`, await w.render(run, dir));
    await rename(`${path}.${process.pid}.tmp`, path);
    written.push(path);
  }
  return written;
}
