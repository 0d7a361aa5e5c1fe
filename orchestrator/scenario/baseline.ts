// Nightly comparison: this run against a previous results.json (or the newest one in a history
// directory), scenario by scenario. The exit code stays about this run; this only classifies.
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HandoverError } from '../errors.ts';
import { isFlaky, type Comparison, type ComparisonClass, type RunResult, type ScenarioResult, type Status } from './results.ts';

export const COMPARISON_CLASSES: readonly ComparisonClass[] = ['new-failure', 'flaky', 'still-failing', 'fixed', 'new', 'removed', 'skipped', 'still-passing'];

export interface Baseline {
  /** The results.json it came from. */
  path: string;
  run: RunResult;
}

/** Reads one results.json; a usage error naming `option` and the file when it is not one. */
export async function readResults(path: string, option: string): Promise<RunResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new HandoverError('usage-error', `${option} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let run: unknown;
  try {
    run = JSON.parse(text);
  } catch (err) {
    throw new HandoverError('usage-error', `${option} ${path}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isRunResult(run)) throw new HandoverError('usage-error', `${option} ${path}: not a handover results.json (no startedAt, kernel and scenarios)`);
  return run;
}

function isRunResult(v: unknown): v is RunResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<RunResult>;
  return typeof r.startedAt === 'string' && typeof r.kernel === 'object' && Array.isArray(r.scenarios) && r.scenarios.every((s) => typeof s.name === 'string' && typeof s.status === 'string');
}

/**
 * `--baseline FILE` is that results.json; `--baseline DIR` the newest run (by startedAt) among the
 * *.json files there (a history directory, see storeInHistory). An empty directory is no baseline
 * (the first nightly), anything else that is not a results.json is a usage error.
 */
export async function loadBaseline(path: string): Promise<Baseline | undefined> {
  const abs = resolve(path);
  const st = await stat(abs).catch(() => undefined);
  if (st === undefined) throw new HandoverError('usage-error', `--baseline ${path}: no such file or directory`);
  if (!st.isDirectory()) return { path: abs, run: await readResults(abs, '--baseline') };
  let newest: Baseline | undefined;
  for (const f of (await readdir(abs)).filter((n) => n.endsWith('.json')).sort()) {
    const run = await readResults(join(abs, f), '--baseline');
    if (newest === undefined || run.startedAt >= newest.run.startedAt) newest = { path: join(abs, f), run };
  }
  return newest;
}

/** Stores a run in a history directory as results-<startedAt>.json; returns the path. */
export async function storeInHistory(dir: string, run: RunResult): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(resolve(dir), `results-${run.startedAt.replace(/[:.]/g, '')}.json`);
  await writeFile(`${path}.${process.pid}.tmp`, `${JSON.stringify(run, null, 2)}\n`);
  await rename(`${path}.${process.pid}.tmp`, path);
  return path;
}

const bad = (s: Status | undefined) => s === 'failed' || s === 'error';

/** A scenario that passed only after an infrastructure error was retried (in any of its repeats). */
function passedOnRetry(r: ScenarioResult): boolean {
  return r.status === 'passed' && [r, ...(r.repeats ?? [])].some((x) => (x.attempts ?? []).some((a) => bad(a.status)));
}

export function classify(previous: Status | undefined, current: ScenarioResult): ComparisonClass {
  if (current.status === 'skipped') return 'skipped';
  // Its repeats disagreed: flaky whatever the baseline said (its status is failed, not a new failure).
  if (passedOnRetry(current) || isFlaky(current)) return 'flaky';
  if (previous === undefined || previous === 'skipped') return bad(current.status) ? 'new-failure' : 'new';
  if (bad(previous)) return bad(current.status) ? 'still-failing' : 'fixed';
  return bad(current.status) ? 'new-failure' : 'still-passing';
}

export function compareRuns(baseline: Baseline, current: RunResult): Comparison {
  const before = new Map(baseline.run.scenarios.map((s) => [s.name, s.status]));
  const scenarios: Comparison['scenarios'] = current.scenarios.map((s) => {
    const previous = before.get(s.name);
    return { name: s.name, ...(previous === undefined ? {} : { previous }), current: s.status, class: classify(previous, s) };
  });
  const now = new Set(current.scenarios.map((s) => s.name));
  for (const s of baseline.run.scenarios) {
    if (!now.has(s.name)) scenarios.push({ name: s.name, previous: s.status, current: 'skipped', class: 'removed' });
  }
  const counts: Record<string, number> = Object.fromEntries(COMPARISON_CLASSES.map((c) => [c, 0]));
  for (const s of scenarios) counts[s.class] = (counts[s.class] ?? 0) + 1;
  return { baseline: baseline.path, baselineStartedAt: baseline.run.startedAt, scenarios, counts };
}

/** The console lines: a count per class, then every scenario that changed, new failures first. */
export function formatComparison(c: Comparison): string[] {
  const counts = COMPARISON_CLASSES.filter((k) => (c.counts[k] ?? 0) > 0).map((k) => `${c.counts[k]} ${k}`);
  const lines = [`compared with ${c.baseline} (run of ${c.baselineStartedAt}): ${counts.join(', ') || 'nothing to compare'}`];
  for (const k of COMPARISON_CLASSES) {
    if (k === 'still-passing') continue;
    const these = c.scenarios.filter((x) => x.class === k);
    if (these.length === 0) continue;
    // Changes get a line each; what merely did not run on one side is listed on one line.
    if (k === 'new' || k === 'removed' || k === 'skipped') lines.push(`  ${k.padEnd(13)} ${these.map((s) => s.name).join(', ')}`);
    else for (const s of these) lines.push(`  ${k.padEnd(13)} ${s.name} (${s.previous === undefined ? 'not in the baseline' : `was ${s.previous}`}, now ${s.current})`);
  }
  return lines;
}
