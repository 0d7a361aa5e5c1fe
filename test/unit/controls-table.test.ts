// The negative-control table (test/controls/controls.ts) covers every check of every shipped
// scenario exactly once, each variant really changes its scenario and stays a valid one, and the
// docs/scenarios.md shows the same table. A new scenario or check step without a control fails here.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { findScenarioFiles, findStressFiles } from '../../orchestrator/scenario/discover.ts';
import { loadScenarios, type Scenario } from '../../orchestrator/scenario/load.ts';
import { STEP_SCHEMAS } from '../../orchestrator/scenario/schema.ts';
import { checkSteps } from '../../orchestrator/scenario/verdict.ts';
import { CONTROLS, controlScenario, controlsTable, TABLE_END, TABLE_START, targetIndex, type Control } from '../controls/controls.ts';

let shipped: Scenario[] = [];
let stress: string[] = [];
beforeAll(async () => {
  // The stress scenarios are shipped too (outside the default run): their checks need controls as well.
  const slow = await loadScenarios(await findStressFiles());
  stress = slow.map((s) => s.name);
  shipped = [...(await loadScenarios(await findScenarioFiles([]))), ...slow];
});
const scenarioOf = (c: Control): Scenario => {
  const s = shipped.find((x) => x.name === c.scenario);
  if (s === undefined) throw new Error(`control for '${c.scenario}', which is not shipped`);
  return s;
};
const id = (c: Control) => `${c.scenario} step ${c.step + 1}`;

describe('the negative-control table', () => {
  it('has exactly one control for every check step of every shipped scenario, and none for other steps', () => {
    const want = shipped.flatMap((s) => [...checkSteps(s.steps)].map((i) => `${s.name} step ${i + 1}`)).sort();
    const have = CONTROLS.map(id).sort();
    expect(have).toEqual([...new Set(have)]);
    expect(have).toEqual(want);
  });

  it('each variant changes its scenario, stays valid, and keeps its target step as a check', () => {
    for (const c of CONTROLS) {
      const s = scenarioOf(c);
      const v = controlScenario(s, c);
      expect(v.name, id(c)).toBe(`${s.name}--control-${c.step + 1}`);
      const { name: _a, ...was } = s;
      const { name: _b, ...now } = v;
      expect(JSON.stringify(now), id(c)).not.toBe(JSON.stringify(was));
      // The shipped scenario is left as it was (variants copy, never mutate).
      expect(JSON.stringify(s), id(c)).toBe(JSON.stringify(shipped.find((x) => x.name === s.name)));
      for (const [i, st] of v.steps.entries()) {
        const { kind, line: _l, ...raw } = st;
        const parsed = STEP_SCHEMAS[kind].safeParse(raw);
        expect(parsed.success, `${id(c)}: variant step ${i + 1} (${kind}): ${parsed.error?.message ?? ''}`).toBe(true);
      }
      const target = targetIndex(s, v, c.step);
      expect(target, `${id(c)}: the target step is in the variant once`).toBeGreaterThanOrEqual(0);
      expect(checkSteps(v.steps).has(target), id(c)).toBe(true);
      expect(v.steps[target]?.kind, id(c)).toBe(s.steps[c.step]?.kind);
    }
  });

  it('names a reason that says something (an empty message does not match it)', () => {
    for (const c of CONTROLS) expect(c.reason.test(''), id(c)).toBe(false);
  });

  it("keeps npm test's sample to every step kind that checks, without the slow or debug-kernel scenarios", () => {
    const kinds = (cs: readonly Control[]) => new Set(cs.map((c) => scenarioOf(c).steps[c.step]?.kind));
    const sample = CONTROLS.filter((c) => c.sample === true);
    // The stress scenarios' own kinds (bulk_retrieve) are for the full run only.
    expect([...kinds(sample)].sort()).toEqual([...kinds(CONTROLS.filter((c) => !stress.includes(c.scenario)))].sort());
    expect(sample.filter((c) => ['kho-selftest-debug', 'large-memfd', ...stress].includes(c.scenario)).map(id)).toEqual([]);
  });

  it('is the table in docs/scenarios.md', async () => {
    const readme = await readFile(join(PACKAGE_ROOT, 'docs', 'scenarios.md'), 'utf8');
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    expect(start, 'docs/scenarios.md has the generated table').toBeGreaterThanOrEqual(0);
    const want = controlsTable(shipped);
    // HANDOVER_UPDATE_TABLES=1 writes it (after a change to the scenarios or the controls).
    if (process.env.HANDOVER_UPDATE_TABLES === '1') await writeFile(join(PACKAGE_ROOT, 'docs', 'scenarios.md'), readme.slice(0, start) + want + readme.slice(end + TABLE_END.length));
    else expect(readme.slice(start, end + TABLE_END.length)).toBe(want);
  });
});
