// The coverage profile's build side: which objects gcov instruments, and what of the build a
// coverage report needs later (the .gcno notes and the sources they describe).
//
// Profiling is chosen per object without editing the tree: Kbuild reads GCOV_PROFILE_<stem>.o
// (scripts/Makefile.lib), and make's command-line variables reach every sub-make. Only the
// live-update code is instrumented; CONFIG_GCOV_PROFILE_ALL would slow every TCG boot.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const COVERAGE_PROFILE = 'coverage';
/** Directories whose every .c file is instrumented (KHO and LUO live in kernel/liveupdate/ since 7.x). */
export const COVERED_DIRS = ['kernel/liveupdate'];
/** Single files outside those directories. */
export const COVERED_FILES = ['mm/memfd_luo.c'];
/** Where a coverage kernel's cache entry keeps its notes and sources (`<entry>/gcov/…`). */
export const NOTES_DIR = 'gcov';

/** The live-update sources of a tree (paths relative to its root), sorted. */
export async function coveredSources(srcDir: string): Promise<string[]> {
  const inDirs = await Promise.all(
    COVERED_DIRS.map(async (d) => {
      const names = await readdir(join(srcDir, d)).catch(() => [] as string[]);
      return names.filter((n) => n.endsWith('.c')).map((n) => `${d}/${n}`);
    }),
  );
  const single = await Promise.all(COVERED_FILES.map(async (f) => ((await readdir(join(srcDir, dirname(f))).catch(() => [] as string[])).includes(f.split('/').pop() ?? '') ? [f] : [])));
  return [...inDirs.flat(), ...single.flat()].sort();
}

/**
 * The make variables a profile set adds to the build (none without the coverage profile, so the
 * other kernels' commands and cache keys are unchanged). A stem that another directory also
 * uses is instrumented there too: harmless, reports only read the live-update files.
 */
export async function profileMakeVars(profiles: readonly string[], srcDir: string): Promise<string[]> {
  if (!profiles.includes(COVERAGE_PROFILE)) return [];
  const stems = new Set((await coveredSources(srcDir)).map((f) => (f.split('/').pop() ?? '').replace(/\.c$/, '')));
  return [...stems].sort().map((s) => `GCOV_PROFILE_${s}.o=y`);
}

/**
 * Copies each instrumented object's .gcno (from the output dir) and its source into
 * `<entry>/gcov/<path>`: the output dir is rebuilt by the next build of another config, the
 * cache entry is not. Returns the sources that have notes.
 */
export async function saveCoverageNotes(srcDir: string, outDir: string, entry: string): Promise<string[]> {
  const saved: string[] = [];
  for (const src of await coveredSources(srcDir)) {
    const gcno = src.replace(/\.c$/, '.gcno');
    const dest = join(entry, NOTES_DIR, gcno);
    await mkdir(dirname(dest), { recursive: true });
    const ok = await copyFile(join(outDir, gcno), dest).then(
      () => true,
      () => false,
    );
    if (!ok) continue;
    await copyFile(join(srcDir, src), join(entry, NOTES_DIR, src));
    saved.push(src);
  }
  return saved;
}
