// The contract table of the README: every promise (orchestrator/scenario/contract.ts), the shipped
// steps that check it, what a recorded run of the whole suite found on each kernel
// (test/fixtures/contract/<release>.json, written by bench/record-contract.mjs from a real
// results.json), and the negative control of each checking step (controls.ts).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { PROMISES, stepPromises } from '../../orchestrator/scenario/contract.ts';
import type { Scenario } from '../../orchestrator/scenario/load.ts';
import { CONTROLS } from './controls.ts';

export const CONTRACT_START = '<!-- contract-table: generated from orchestrator/scenario/contract.ts and test/fixtures/contract; test/unit/contract-table.test.ts checks it -->';
export const CONTRACT_END = '<!-- /contract-table -->';

/** One recorded run: the kernel release and each promise's status in it. */
export interface RecordedContract {
  release: string;
  /** The kernel's profiles (kasan, debug), when it had any: a column of its own. */
  profiles?: string[];
  /** How it was recorded (command, date). */
  from: string;
  statuses: Record<string, string>;
}

export const RECORDED_DIR = join(PACKAGE_ROOT, 'test', 'fixtures', 'contract');

export async function recordedContracts(): Promise<RecordedContract[]> {
  // 7.2.13, 7.3.4, 7.3.4-kasan: by release, a profile's run after the plain one.
  const files = (await readdir(RECORDED_DIR)).filter((f) => f.endsWith('.json')).sort((a, b) => a.slice(0, -5).localeCompare(b.slice(0, -5), 'en', { numeric: true }));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(RECORDED_DIR, f), 'utf8')) as RecordedContract));
}

export function contractTable(shipped: readonly Scenario[], recorded: readonly RecordedContract[]): string {
  const head = ['promise', 'checked by', ...recorded.map(columnOf), 'negative control'];
  const rows = PROMISES.map((p) => {
    const checks = shipped.flatMap((s) =>
      s.steps.flatMap((st, i) => (stepPromises(st).includes(p.id) ? [{ scenario: s.name, step: i }] : [])),
    );
    const where = checks.length === 0 ? '**unchecked**' : group(checks.map((c) => ({ key: c.scenario, item: String(c.step + 1) })));
    const controls = checks.flatMap((c) => CONTROLS.filter((k) => k.scenario === c.scenario && k.step === c.step).map((k) => k.control));
    return [`\`${p.id}\`: ${p.promise}`, where, ...recorded.map((r) => r.statuses[p.id] ?? 'not run'), [...new Set(controls)].join('; ') || '—'];
  });
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [CONTRACT_START, line(head), line(head.map(() => '---')), ...rows.map(line), CONTRACT_END].join('\n');
}

/** "7.3.4", or "7.3.4 kasan" for a profile's kernel. */
export const columnOf = (r: RecordedContract): string => [r.release, ...(r.profiles ?? [])].join(' ');

/** "chain 7, 13; memfd-round-trip 14". */
function group(items: readonly { key: string; item: string }[]): string {
  const by = new Map<string, string[]>();
  for (const { key, item } of items) by.set(key, [...(by.get(key) ?? []), item]);
  return [...by].map(([k, v]) => `${k} ${v.join(', ')}`).join('; ');
}
