// One direction of data flow, checked: no module of orchestrator/ imports, directly or through
// others, a module that imports it back, and no stage imports a later one (STAGES below, the
// README's architecture section in code). Type-only imports count: a type names the module that
// owns the data, so a later stage's type in an earlier stage is the same inversion.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';

const ROOT = join(PACKAGE_ROOT, 'orchestrator');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

/**
 * The stages in order: a module may import its own stage or an earlier one. A folder is written
 * `name/`, a top-level module by its file name.
 */
const STAGES: readonly (readonly string[])[] = [
  ['errors.ts', 'paths.ts', 'log/'],
  ['host/'],
  ['vm/'],
  ['guest/'],
  ['kernel/'],
  ['rootfs/'],
  ['machine/'],
  ['kho/'],
  // Coverage of the live-update code: counters read from a guest, turned into lcov (run --coverage).
  ['coverage/'],
  ['scenario/'],
  ['series/'],
  ['report/'],
  // Generated programs checked against the contract's model, run as scenarios (handover fuzz).
  ['fuzz/'],
  // What a run is, put together: handover.yaml's settings, and handover run as a function.
  ['project/', 'suite.ts'],
  ['index.ts'],
  ['cli.ts', 'cli/'],
];

function stageOf(file: string): number | undefined {
  const i = STAGES.findIndex((s) => s.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)));
  return i < 0 ? undefined : i;
}

const stageName = (i: number): string => (STAGES[i] ?? []).map((p) => p.replace(/(\.ts|\/)$/, '')).join('/');

/** The relative imports of one module (by path under orchestrator/), resolved to module paths. */
function importsOf(file: string, text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] ?? m[2] ?? '')));
}

async function graph(): Promise<Map<string, string[]>> {
  const files = (await readdir(ROOT, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => normalize(f));
  const g = new Map<string, string[]>();
  for (const f of files) g.set(f, importsOf(f, await readFile(join(ROOT, f), 'utf8')));
  return g;
}

/** Each import of a later stage, as `a/x.ts → b/y.ts (a → b)`. */
function layerViolations(g: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  for (const [f, deps] of g) {
    const from = stageOf(f);
    for (const d of deps) {
      const to = stageOf(d);
      if (from !== undefined && to !== undefined && to > from) found.push(`${f} → ${d} (${stageName(from)} → ${stageName(to)})`);
    }
  }
  return found;
}

/** Imports of the CLI (cli.ts, cli/) that go around index.ts into the library. */
function cliBypasses(g: ReadonlyMap<string, readonly string[]>): string[] {
  const isCli = (f: string) => f === 'cli.ts' || f.startsWith('cli/');
  return [...g].flatMap(([f, deps]) => (isCli(f) ? deps.filter((d) => !isCli(d) && d !== 'index.ts').map((d) => `${f} → ${d}`) : []));
}

/** Every cycle found by a depth-first walk, as `a.ts -> b.ts -> a.ts`. */
function cycles(g: ReadonlyMap<string, readonly string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const found: string[] = [];
  const walk = (u: string, stack: string[]) => {
    state.set(u, 'open');
    stack.push(u);
    for (const v of g.get(u) ?? []) {
      if (!g.has(v)) continue;
      if (state.get(v) === 'open') found.push([...stack.slice(stack.indexOf(v)), v].join(' -> '));
      else if (state.get(v) === undefined) walk(v, stack);
    }
    stack.pop();
    state.set(u, 'done');
  };
  for (const f of g.keys()) if (state.get(f) === undefined) walk(f, []);
  return found;
}

describe("the orchestrator's import graph", () => {
  it('resolves every relative import to a module that exists', async () => {
    const g = await graph();
    expect(g.size).toBeGreaterThan(50);
    const dangling = [...g].flatMap(([f, deps]) => deps.filter((d) => !g.has(d)).map((d) => `${f} imports ${d}`));
    expect(dangling).toEqual([]);
  });

  it('has no cycle', async () => {
    expect(cycles(await graph())).toEqual([]);
  });

  it('negative control: a cycle is found and named', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(g)).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
  });

  it('places every module in a stage', async () => {
    expect([...(await graph()).keys()].filter((f) => stageOf(f) === undefined)).toEqual([]);
  });

  it('has no stage importing a later one', async () => {
    expect(layerViolations(await graph())).toEqual([]);
  });

  it('negative control: an import of a later stage is named, type-only ones too', () => {
    const g = new Map([
      ['kernel/build.ts', importsOf('kernel/build.ts', "import { formatSeconds } from '../log/progress.ts';\nimport type { RunResult } from '../scenario/results.ts';\n")],
      ['scenario/runner.ts', importsOf('scenario/runner.ts', "import { x } from './steps.ts';\nexport { y } from '../kernel/build.ts';\ntype Z = typeof import('../report/html.ts');\n")],
      ['cli/run.ts', importsOf('cli/run.ts', "import { runScenarios } from '../scenario/runner.ts';\n")],
    ]);
    expect(layerViolations(g)).toEqual([
      'kernel/build.ts → scenario/results.ts (kernel → scenario)',
      'scenario/runner.ts → report/html.ts (scenario → report)',
    ]);
  });

  it('the CLI reaches the library only through index.ts, the API a program imports', async () => {
    expect(cliBypasses(await graph())).toEqual([]);
  });

  it('negative control: a CLI module importing a library module directly is named', () => {
    const g = new Map([
      ['cli/run.ts', importsOf('cli/run.ts', "import { runSuite } from '../index.ts';\nimport { runScenarios } from '../scenario/runner.ts';\nimport { x } from './options.ts';\n")],
      ['cli.ts', importsOf('cli.ts', "import { createProgram } from './cli/program.ts';\nimport type { Outcome } from './errors.ts';\n")],
    ]);
    expect(cliBypasses(g)).toEqual(['cli/run.ts → scenario/runner.ts', 'cli.ts → errors.ts']);
  });
});

