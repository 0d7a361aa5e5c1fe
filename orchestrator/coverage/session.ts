// A scenario's coverage: the counters of each boot read off the guest (before its kexec, and at
// the end), then turned into counts with the boot's own kernel notes and summed into the
// scenario's tracefile. The run joins the scenarios' tracefiles (run-coverage.ts).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelBuild } from '../kernel/build.ts';
import { NOTES_DIR } from '../kernel/coverage-profile.ts';
import { readGcda, saveBoot, type GuestExec } from './collect.ts';
import { gcovCoverage, listNotes } from './gcov.ts';
import { testName, toLcov } from './lcov.ts';
import { addCoverage, type Coverage } from './model.ts';

/** What a scenario's result says of its coverage. */
export interface ScenarioCoverage {
  /** `<scenario>/coverage.info`: one TN section, the scenario's. */
  tracefile: string;
  /** The boots whose counters were read. */
  boots: number[];
  /** Boots whose counters could not be read, and why: their code ran uncounted. */
  missed?: { boot: number; reason: string }[];
}

/** The notes dir of a coverage kernel's cache entry (`<entry>/gcov`). */
export function notesDirOf(k: KernelBuild): string {
  return join(k.dir, NOTES_DIR);
}

/** The sources a coverage kernel has notes for (tree-relative), sorted. */
export async function sourcesOf(k: KernelBuild): Promise<string[]> {
  return (await listNotes(notesDirOf(k))).map((n) => n.replace(/\.gcno$/, '.c'));
}

export class CoverageRecorder {
  readonly #dir: string;
  readonly #kernelOf: (boot: number) => KernelBuild;
  readonly #boots: { boot: number; dir: string; kernel: KernelBuild }[] = [];
  readonly #missed: { boot: number; reason: string }[] = [];
  readonly #read = new Set<number>();

  /** `dir`: the scenario's `<dir>/coverage`; `kernelOf`: the kernel a boot runs (kernel B after a kexec into it). */
  constructor(dir: string, kernelOf: (boot: number) => KernelBuild) {
    this.#dir = dir;
    this.#kernelOf = kernelOf;
  }

  /** Reads the running boot's counters once; a failure is recorded (the scenario goes on), not thrown. */
  async collect(guest: GuestExec, boot: number): Promise<void> {
    if (this.#read.has(boot)) return;
    this.#read.add(boot);
    const kernel = this.#kernelOf(boot);
    try {
      const notes = await listNotes(notesDirOf(kernel));
      const files = await readGcda(guest, { timeoutMs: 20_000 });
      const dir = join(this.#dir, `boot-${boot}`);
      const saved = await saveBoot(files, notes, dir);
      if (saved.length === 0) throw new Error(`none of the ${files.length} .gcda files the guest serves belongs to this kernel's ${notes.length} notes`);
      this.#boots.push({ boot, dir, kernel });
    } catch (err) {
      this.#missed.push({ boot, reason: (err as Error).message });
    }
  }

  /** Sums the boots into `<scenario>/coverage.info` (only kernel A's boots: a tracefile describes one source). */
  async finish(scenario: string, base: KernelBuild, scenarioDir: string): Promise<ScenarioCoverage> {
    const sources = await sourcesOf(base);
    const total: Coverage = new Map();
    const boots: number[] = [];
    for (const b of this.#boots) {
      if (b.kernel.metadata.source.identity !== base.metadata.source.identity) {
        this.#missed.push({ boot: b.boot, reason: `kernel ${b.kernel.metadata.release} (${b.kernel.metadata.source.describe}) is another source: not merged` });
        continue;
      }
      addCoverage(total, await gcovCoverage(notesDirOf(b.kernel), b.dir, sources));
      boots.push(b.boot);
    }
    // No boot read: the files are still listed, every line unrun, so a table never hides them.
    if (boots.length === 0) addCoverage(total, await gcovCoverage(notesDirOf(base), undefined, sources));
    const tracefile = join(scenarioDir, 'coverage.info');
    await writeFile(tracefile, toLcov([{ test: testName(scenario), coverage: total }]));
    return { tracefile, boots, ...(this.#missed.length === 0 ? {} : { missed: [...this.#missed] }) };
  }
}
