// Coverage as a signal for a generator (handover fuzz, issue 16): the points a tracefile reached,
// what of them is new against what a corpus already reached, and a snapshot for coverage over
// time. A point is `file:line` for an executed line, `file:line:bN` for a taken branch (N in
// gcov's order on that line). Points of one coverage kernel compare across batches, VMs and
// boots: the notes (and so the lines and branch numbers) are the same.
import type { Coverage, Ratio } from './model.ts';

export interface CoveragePoints {
  /** Points reached (count > 0). */
  covered: Set<string>;
  /** Every point the kernel's notes have: covered ∪ never reached. */
  coverable: Set<string>;
}

/** The points of a coverage (every test section summed): its lines and its branches. */
export function coveragePoints(cov: Coverage): CoveragePoints {
  const covered = new Set<string>();
  const coverable = new Set<string>();
  for (const [file, f] of cov) {
    for (const [line, n] of f.lines) {
      const p = `${file}:${line}`;
      coverable.add(p);
      if (n > 0) covered.add(p);
    }
    for (const [line, bs] of f.branches) {
      bs.forEach((n, i) => {
        const p = `${file}:${line}:b${i}`;
        coverable.add(p);
        if (n > 0) covered.add(p);
      });
    }
  }
  return { covered, coverable };
}

/**
 * What `batch` reached that `seen` had not, sorted (file, then line, then branch): the generator
 * keeps a program whose list is not empty. `seen` is not changed: see addPoints.
 */
export function newPoints(seen: ReadonlySet<string>, batch: ReadonlySet<string>): string[] {
  return [...batch].filter((p) => !seen.has(p)).sort(comparePoints);
}

/** Adds `points` to `seen` (in place); returns how many were new. */
export function addPoints(seen: Set<string>, points: Iterable<string>): number {
  const before = seen.size;
  for (const p of points) seen.add(p);
  return seen.size - before;
}

/** A line of coverage over time (fuzz.json): lines and branches reached so far, of the coverable ones. */
export interface CoverageSample {
  elapsedMs: number;
  lines: Ratio;
  branches: Ratio;
}

export function coverageSample(elapsedMs: number, seen: ReadonlySet<string>, coverable: ReadonlySet<string>): CoverageSample {
  const count = (s: ReadonlySet<string>, branch: boolean) => [...s].filter((p) => isBranch(p) === branch).length;
  const hit = (branch: boolean) => [...seen].filter((p) => isBranch(p) === branch && coverable.has(p)).length;
  return {
    elapsedMs,
    lines: { hit: hit(false), found: count(coverable, false) },
    branches: { hit: hit(true), found: count(coverable, true) },
  };
}

const isBranch = (p: string) => /:b\d+$/.test(p);

function comparePoints(a: string, b: string): number {
  const pa = parsePoint(a);
  const pb = parsePoint(b);
  return pa.file.localeCompare(pb.file) || pa.line - pb.line || pa.branch - pb.branch;
}

function parsePoint(p: string): { file: string; line: number; branch: number } {
  const m = /^(.*):(\d+)(?::b(\d+))?$/.exec(p);
  return m === null ? { file: p, line: 0, branch: -1 } : { file: m[1] ?? p, line: Number(m[2]), branch: m[3] === undefined ? -1 : Number(m[3]) };
}
