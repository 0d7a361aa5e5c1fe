// The contract (orchestrator/scenario/contract.ts): what a run says of each promise, and the README
// table built from the promises, the shipped steps that name them, recorded runs and the controls.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { contractResults, PROMISES, stepPromises } from '../../orchestrator/scenario/contract.ts';
import { findScenarioFiles, findStressFiles } from '../../orchestrator/scenario/discover.ts';
import { loadScenarios, type Scenario } from '../../orchestrator/scenario/load.ts';
import { CONTRACT_END, CONTRACT_START, contractTable, recordedContracts } from '../controls/contract-table.ts';

let shipped: Scenario[] = [];
beforeAll(async () => {
  // The stress scenarios are shipped too (outside the default run): their checks need controls as well.
  shipped = await loadScenarios([...(await findScenarioFiles([])), ...(await findStressFiles())]);
});

const step = (status: string, promises: string[], index = 0) => ({ index, line: index + 4, name: `s${index}`, status, promises });

describe('the contract', () => {
  it('has unique ids, each with a source', () => {
    expect(new Set(PROMISES.map((p) => p.id)).size).toBe(PROMISES.length);
    for (const p of PROMISES) expect(p.source.length, p.id).toBeGreaterThan(0);
  });

  it('passes a promise only when every step that checks it passed; none checked is unchecked, never a pass', () => {
    const byId = (steps: ReturnType<typeof step>[]) => new Map(contractResults([{ name: 'x', steps }]).map((c) => [c.id, c]));
    expect(byId([step('passed', ['memfd.pos'])]).get('memfd.pos')?.status).toBe('passed');
    expect(byId([step('passed', ['memfd.pos'])]).get('memfd.seals')).toMatchObject({ status: 'unchecked', checks: [] });
    expect(byId([step('passed', ['memfd.pos']), step('failed', ['memfd.pos'], 1)]).get('memfd.pos')?.status).toBe('failed');
    expect(byId([step('passed', ['memfd.pos']), step('error', ['memfd.pos'], 1)]).get('memfd.pos')?.status).toBe('failed');
    expect(byId([step('passed', ['memfd.pos']), step('xfail', ['memfd.pos'], 1)]).get('memfd.pos')?.status).toBe('xfail');
    // A skipped check leaves the promise unproven, even when another check of it passed.
    expect(byId([step('passed', ['memfd.pos']), step('skipped', ['memfd.pos'], 1)]).get('memfd.pos')?.status).toBe('skipped');
    expect(byId([step('passed', ['memfd.pos', 'memfd.size'], 3)]).get('memfd.size')?.checks).toEqual([
      { scenario: 'x', step: 4, line: 7, name: 's3', status: 'passed' },
    ]);
  });

  it("leaves a deferred scenario's steps out: it was not part of the run", () => {
    const results = contractResults([
      { name: 'ran', steps: [step('passed', ['kho.handover'])] },
      { name: 'kho-selftest-debug', deferred: true, steps: [step('skipped', ['kho.handover', 'kho.selftest'])] },
    ]);
    const byId = new Map(results.map((c) => [c.id, c]));
    expect(byId.get('kho.handover')).toMatchObject({ status: 'passed', checks: [{ scenario: 'ran' }] });
    expect(byId.get('kho.selftest')).toMatchObject({ status: 'unchecked', checks: [] });
    // Skipped for another reason (a capability the kernel lacks), it still leaves the promise unproven.
    const gap = contractResults([
      { name: 'ran', steps: [step('passed', ['kho.handover'])] },
      { name: 'needs-hugetlbfs', steps: [step('skipped', ['kho.handover'])] },
    ]);
    expect(gap.find((c) => c.id === 'kho.handover')?.status).toBe('skipped');
  });

  it('knows what a step checks by its kind: every kexec the handover, every retrieve size and contents', () => {
    expect(stepPromises({ kind: 'kexec', kexec: { handover: true } })).toEqual(['kho.handover']);
    expect(stepPromises({ kind: 'kexec', kexec: { handover: false } })).toEqual([]);
    expect(stepPromises({ kind: 'retrieve', promise: ['memfd.pos'] })).toEqual(['memfd.contents', 'memfd.size', 'memfd.pos']);
    expect(stepPromises({ kind: 'retrieve', expect_error: 'ENOENT' })).toEqual([]);
    expect(stepPromises({ kind: 'log', promise: 'luo.live-update-number' })).toEqual(['luo.live-update-number']);
  });

  it('is the table in the README', async () => {
    const readme = await readFile(join(PACKAGE_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf(CONTRACT_START);
    const end = readme.indexOf(CONTRACT_END);
    expect(start, 'README has the generated contract table').toBeGreaterThanOrEqual(0);
    const want = contractTable(shipped, await recordedContracts());
    // HANDOVER_UPDATE_TABLES=1 writes it (after a change to the promises, scenarios or controls).
    if (process.env.HANDOVER_UPDATE_TABLES === '1') await writeFile(join(PACKAGE_ROOT, 'README.md'), readme.slice(0, start) + want + readme.slice(end + CONTRACT_END.length));
    else expect(readme.slice(start, end + CONTRACT_END.length)).toBe(want);
  });

  it('records runs that name only promises the contract has', async () => {
    const ids = new Set<string>(PROMISES.map((p) => p.id));
    for (const r of await recordedContracts()) for (const id of Object.keys(r.statuses)) expect(ids.has(id), `${r.release}: ${id}`).toBe(true);
  });
});
