// One boot's .gcda files turned into line, branch and function counts with the host's gcov
// (`gcov --json-format --stdout --branch-probabilities`): the same gcc that built the kernel, so
// the note and data formats match. Notes without data (an object whose counters were not read)
// count as never run, as gcov itself says.
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { HandoverError } from '../errors.ts';
import { privateTempDir } from '../paths.ts';
import { emptyFile, type Coverage } from './model.ts';

/** The .gcno files below a notes dir (`<kernel entry>/gcov`), relative to it, sorted. */
export async function listNotes(notesDir: string): Promise<string[]> {
  const all = await readdir(notesDir, { recursive: true }).catch(() => [] as string[]);
  return all.filter((f) => f.endsWith('.gcno')).sort();
}

interface GcovJson {
  current_working_directory?: string;
  files?: {
    file: string;
    lines?: { line_number: number; count: number; branches?: { count: number }[] }[];
    functions?: { name: string; start_line: number; execution_count: number }[];
  }[];
}

/**
 * Counts of `sources` (tree-relative paths) from the .gcda files in `dataDir` (laid out by object
 * path, as saveBoot writes them) and the notes in `notesDir`.
 */
export async function gcovCoverage(notesDir: string, dataDir: string | undefined, sources: readonly string[]): Promise<Coverage> {
  const notes = await listNotes(notesDir);
  if (notes.length === 0) throw new HandoverError('step-failed', `no gcov notes (.gcno) in ${notesDir}: not a coverage kernel's cache entry`);
  const work = await privateTempDir('gcov');
  try {
    for (const n of notes) {
      await mkdir(dirname(join(work, n)), { recursive: true });
      await copyFile(join(notesDir, n), join(work, n));
      const gcda = n.replace(/\.gcno$/, '.gcda');
      if (dataDir !== undefined) await copyFile(join(dataDir, gcda), join(work, gcda)).catch(() => undefined);
    }
    const r = await execa('gcov', ['--json-format', '--stdout', '--branch-probabilities', ...notes], { cwd: work, reject: false, stdin: 'ignore', maxBuffer: 1 << 28 });
    if (r.exitCode !== 0) {
      throw new HandoverError('step-failed', `gcov failed (exit ${String(r.exitCode)}) on ${notesDir}`, { evidence: String(r.stderr).split('\n').slice(-5) });
    }
    return fromGcovJson(String(r.stdout), sources);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Parses gcov's JSON lines (one object per input), keeping `sources` only (pure; exported for tests). */
export function fromGcovJson(text: string, sources: readonly string[]): Coverage {
  const wanted = new Set(sources);
  const cov: Coverage = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const doc = JSON.parse(line) as GcovJson;
    for (const f of doc.files ?? []) {
      const file = treePath(f.file, sources);
      if (file === undefined || !wanted.has(file)) continue;
      let fc = cov.get(file);
      if (fc === undefined) cov.set(file, (fc = emptyFile()));
      for (const l of f.lines ?? []) {
        fc.lines.set(l.line_number, (fc.lines.get(l.line_number) ?? 0) + l.count);
        const bs = (l.branches ?? []).map((b) => b.count);
        if (bs.length === 0) continue;
        const have = fc.branches.get(l.line_number) ?? [];
        fc.branches.set(l.line_number, [...have, ...bs]);
      }
      for (const fn of f.functions ?? []) {
        const have = fc.functions.get(fn.name);
        fc.functions.set(fn.name, { line: have?.line ?? fn.start_line, count: (have?.count ?? 0) + fn.execution_count });
      }
    }
  }
  return cov;
}

/**
 * A note's source path as the tree-relative one: Kbuild compiles in the output dir, a direct
 * subdirectory of the tree, so sources are `../kernel/…`; an absolute path is matched by suffix.
 */
function treePath(file: string, sources: readonly string[]): string | undefined {
  const stripped = file.replace(/^(\.\.\/|\.\/)+/, '');
  if (!file.startsWith('/')) return stripped;
  return sources.find((s) => file.endsWith(`/${s}`)) ?? relative('/', file);
}
