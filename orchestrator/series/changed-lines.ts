// series --coverage: the lines a patch adds or changes in the live-update files, and those of
// them no scenario executed. Only executable lines count (the tracefile's DA records): a comment
// or a declaration has nothing to reach.
import { COVERED_DIRS, COVERED_FILES } from '../kernel/coverage-profile.ts';
import type { Coverage } from '../coverage/model.ts';
import { git } from './git.ts';

/** A live-update source: a .c file in a covered directory, or one of the covered files. */
export function isLiveUpdateSource(file: string): boolean {
  if (COVERED_FILES.includes(file)) return true;
  return file.endsWith('.c') && COVERED_DIRS.some((d) => file.startsWith(`${d}/`) && !file.slice(d.length + 1).includes('/'));
}

/** The new-side line numbers of every hunk of a `git diff -U0` (pure; exported for tests). */
export function parseChangedLines(diff: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let file: string | undefined;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+++ ')) {
      const path = line.slice(4).trim();
      file = path === '/dev/null' ? undefined : path.replace(/^b\//, '');
      continue;
    }
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (hunk === null || file === undefined) continue;
    const start = Number(hunk[1]);
    const count = hunk[2] === undefined ? 1 : Number(hunk[2]);
    const lines = out.get(file) ?? [];
    for (let i = 0; i < count; i++) lines.push(start + i);
    out.set(file, lines);
  }
  return out;
}

/** Lines `to` adds or changes against `from` in the live-update sources of the tree at `cwd`. */
export async function changedLines(cwd: string, from: string, to: string): Promise<Map<string, number[]>> {
  const diff = await git(['diff', '--no-color', '--no-ext-diff', '-U0', from, to, '--', ...COVERED_DIRS, ...COVERED_FILES], { cwd, what: 'listing the changed lines' });
  const all = parseChangedLines(diff);
  return new Map([...all].filter(([f]) => isLiveUpdateSource(f)));
}

export interface PatchCoverage {
  /** Changed lines in the live-update files. */
  changed: number;
  /** Of those, the executable ones (lines gcov counts). */
  executable: number;
  /** Executable changed lines no scenario executed, as file:line, in file and line order. */
  unreached: string[];
}

/** What of `changed` the run's coverage reached (pure). */
export function patchCoverage(changed: ReadonlyMap<string, readonly number[]>, cov: Coverage): PatchCoverage {
  let total = 0;
  let executable = 0;
  const unreached: string[] = [];
  for (const [file, lines] of [...changed].sort(([a], [b]) => a.localeCompare(b))) {
    const f = cov.get(file);
    for (const l of [...lines].sort((a, b) => a - b)) {
      total++;
      const n = f?.lines.get(l);
      if (n === undefined) continue;
      executable++;
      if (n === 0) unreached.push(`${file}:${l}`);
    }
  }
  return { changed: total, executable, unreached };
}
