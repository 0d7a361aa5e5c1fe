// One direction of data flow, checked: no module of orchestrator/ imports, directly or through
// others, a module that imports it back. (Folders may depend both ways through different files:
// report/results.ts is data the runner fills, report/html.ts draws it after the run.)
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';

const ROOT = join(PACKAGE_ROOT, 'orchestrator');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g;

async function graph(): Promise<Map<string, string[]>> {
  const files = (await readdir(ROOT, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => normalize(f));
  const g = new Map<string, string[]>();
  for (const f of files) {
    const text = await readFile(join(ROOT, f), 'utf8');
    g.set(f, [...text.matchAll(IMPORT)].map((m) => relative(ROOT, join(ROOT, dirname(f), m[1] ?? ''))));
  }
  return g;
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
});
