import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findScenarioFiles, SUITE_DIR } from '../../orchestrator/scenario/discover.ts';
import { loadScenarios } from '../../orchestrator/scenario/load.ts';
import { deferredReason } from '../../orchestrator/scenario/runner.ts';
import { scenarioJsonSchema } from '../../orchestrator/scenario/schema.ts';
import { parseSize } from '../../orchestrator/scenario/steps.ts';

describe('the shipped suite', () => {
  it('loads without a problem, with unique names', async () => {
    const scenarios = await loadScenarios(await findScenarioFiles([]));
    expect(scenarios.length).toBeGreaterThanOrEqual(10);
    expect(new Set(scenarios.map((s) => s.name)).size).toBe(scenarios.length);
  });

  it('publishes the JSON Schema generated from the same definition', async () => {
    const committed: unknown = JSON.parse(await readFile(join(SUITE_DIR, 'scenario.schema.json'), 'utf8'));
    expect(committed).toEqual(scenarioJsonSchema());
  });

  it('as a whole needs one kernel: only kho-selftest-debug is deferred, and it says how to run it', async () => {
    const scenarios = await loadScenarios(await findScenarioFiles([]));
    const deferred = scenarios.flatMap((s) => {
      const why = deferredReason(s, []);
      return why === undefined ? [] : [`${s.name}: ${why}`];
    });
    expect(deferred).toEqual([
      "kho-selftest-debug: needs the debug profile's kernel, a second build: not part of the default suite; run it by name (handover run kho-selftest-debug) or the suite with --profile debug",
    ]);
    const selftest = scenarios.find((s) => s.name === 'kho-selftest-debug');
    if (selftest === undefined) throw new Error('kho-selftest-debug is not shipped');
    expect(deferredReason(selftest, ['debug'])).toBeUndefined();
    expect(deferredReason(selftest, ['kasan'])).toMatch(/^needs the debug profile's kernel/);
  });

  it('finds shipped scenarios by name and refuses unknown ones', async () => {
    expect(await findScenarioFiles(['chain'])).toEqual([join(SUITE_DIR, 'chain.yaml')]);
    await expect(findScenarioFiles(['no-such'])).rejects.toThrow(/scenario 'no-such': no such file, folder or shipped scenario \(shipped: .*chain/);
  });
});

describe('sizes', () => {
  it('reads bytes, units and shares of guest memory', () => {
    expect(parseSize(4096, 1024)).toBe(4096);
    expect(parseSize('4K', 1024)).toBe(4096);
    expect(parseSize('2M', 1024)).toBe(2 * 1024 * 1024);
    expect(parseSize('25%', 1024)).toBe(256 * 1024 * 1024);
  });
});
