// Coverage of source files as counts: lines, branches (per line, in gcov's order) and functions.
// Boots, scenarios, VMs and shards of one kernel build sum: the same notes give the same shape.

export interface FileCoverage {
  /** Line number → execution count. */
  lines: Map<number, number>;
  /** Line number → each branch's taken count, in gcov's order. */
  branches: Map<number, number[]>;
  /** Function name → its first line and call count. */
  functions: Map<string, { line: number; count: number }>;
}

/** Source path (relative to the kernel tree's root, e.g. `kernel/liveupdate/luo_core.c`) → its coverage. */
export type Coverage = Map<string, FileCoverage>;

export function emptyFile(): FileCoverage {
  return { lines: new Map(), branches: new Map(), functions: new Map() };
}

/** Adds `from` into `into` (in place) and returns it. */
export function addCoverage(into: Coverage, from: Coverage): Coverage {
  for (const [file, f] of from) {
    let t = into.get(file);
    if (t === undefined) into.set(file, (t = emptyFile()));
    addFile(t, f);
  }
  return into;
}

export function addFile(t: FileCoverage, f: FileCoverage): void {
  for (const [line, n] of f.lines) t.lines.set(line, (t.lines.get(line) ?? 0) + n);
  for (const [line, bs] of f.branches) {
    const have = t.branches.get(line) ?? [];
    t.branches.set(
      line,
      Array.from({ length: Math.max(have.length, bs.length) }, (_, i) => (have[i] ?? 0) + (bs[i] ?? 0)),
    );
  }
  for (const [name, fn] of f.functions) {
    const have = t.functions.get(name);
    t.functions.set(name, { line: have?.line ?? fn.line, count: (have?.count ?? 0) + fn.count });
  }
}

export function mergeAll(list: readonly Coverage[]): Coverage {
  return list.reduce<Coverage>((acc, c) => addCoverage(acc, c), new Map());
}

export interface Ratio {
  hit: number;
  found: number;
}

export interface FileSummary {
  file: string;
  lines: Ratio;
  branches: Ratio;
  functions: Ratio;
}

export function summarizeFile(file: string, f: FileCoverage): FileSummary {
  const branches = [...f.branches.values()].flat();
  return {
    file,
    lines: { found: f.lines.size, hit: [...f.lines.values()].filter((n) => n > 0).length },
    branches: { found: branches.length, hit: branches.filter((n) => n > 0).length },
    functions: { found: f.functions.size, hit: [...f.functions.values()].filter((fn) => fn.count > 0).length },
  };
}

/** Per file (sorted by path), then the total as the last entry, file `total`. */
export function summarize(cov: Coverage): FileSummary[] {
  const files = [...cov.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([file, f]) => summarizeFile(file, f));
  const sum = (k: 'lines' | 'branches' | 'functions'): Ratio => ({
    hit: files.reduce((a, s) => a + s[k].hit, 0),
    found: files.reduce((a, s) => a + s[k].found, 0),
  });
  return [...files, { file: 'total', lines: sum('lines'), branches: sum('branches'), functions: sum('functions') }];
}

/** `12.3%` (one decimal), or `-` when there is nothing to cover. */
export function percent(r: Ratio): string {
  return r.found === 0 ? '-' : `${((100 * r.hit) / r.found).toFixed(1)}%`;
}

/** The executable lines nobody ran, sorted. */
export function uncoveredLines(f: FileCoverage): number[] {
  return [...f.lines].filter(([, n]) => n === 0).map(([l]) => l).sort((a, b) => a - b);
}
