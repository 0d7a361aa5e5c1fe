// Issue 10: every check of every shipped scenario can fail, at that step, for the stated reason.
// Each control of test/controls/controls.ts is a variant scenario built to break one check; all of
// them run in one runScenarios call (two VMs at a time, no retries), and each must fail exactly
// at its target step, every earlier step having passed. `npm test` runs the sample (every kind of
// checking step, no slow or debug-kernel scenario); HANDOVER_CONTROLS=all runs the whole table.
// HANDOVER_ARCH=arm64 runs them on the arm64 kernel (cross-built, under qemu-system-aarch64): the
// same variants, failing at the same steps for the same reasons.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostArch, parseArch } from '../../orchestrator/host/arch.ts';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import type { RunResult, StepResult } from '../../orchestrator/scenario/results.ts';
import { agentFor } from '../../orchestrator/scenario/agent-binding.ts';
import { findScenarioFiles, findStressFiles } from '../../orchestrator/scenario/discover.ts';
import { loadScenarios, type Scenario } from '../../orchestrator/scenario/load.ts';
import { runScenarios } from '../../orchestrator/scenario/runner.ts';
import { CONTROLS, controlScenario, targetIndex, type Control } from '../controls/controls.ts';

// HANDOVER_CONTROLS=all: the whole table; =name,name: the controls of those scenarios only.
const mode = process.env.HANDOVER_CONTROLS ?? '';
const only = mode === '' || mode === 'all' ? undefined : new Set(mode.split(','));
if (only !== undefined && ![...only].every((n) => CONTROLS.some((c) => c.scenario === n))) {
  throw new Error(`HANDOVER_CONTROLS=${mode}: expected 'all', unset, or names of scenarios with controls`);
}
const archEnv = process.env.HANDOVER_ARCH;
const kernel = archEnv === undefined || archEnv === '' ? {} : { arch: parseArch(archEnv, 'HANDOVER_ARCH') };
const chosen = mode === 'all' ? CONTROLS : only !== undefined ? CONTROLS.filter((c) => only.has(c.scenario)) : CONTROLS.filter((c) => c.sample === true);
// A control that cannot run on this architecture is listed as skipped, with its reason.
const runsHere = (c: Control) => c.notOn === undefined || c.notOn.arch !== (kernel.arch ?? hostArch());
const controls = chosen.filter(runsHere);
const notHere = chosen.filter((c) => !runsHere(c));

let shipped: Scenario[] = [];
let run: RunResult | undefined;
const shippedOf = (c: Control): Scenario => {
  const s = shipped.find((x) => x.name === c.scenario);
  if (s === undefined) throw new Error(`${c.scenario} is not shipped`);
  return s;
};

beforeAll(async () => {
  await buildKernel(kernel);
  shipped = await loadScenarios([...(await findScenarioFiles([])), ...(await findStressFiles())]);
  const output = await mkdtemp(join(tmpdir(), 'handover-controls-'));
  const started = Date.now();
  run = await runScenarios({
    scenarios: controls.map((c) => controlScenario(shippedOf(c), c)),
    kernel,
    accel: 'tcg',
    retries: 0,
    jobs: 2,
    output,
    agentFor,
  });
  // The wall time is reported, never asserted (it is the machine's, not handover's).
  console.log(`controls (${mode === '' ? 'sample' : mode}, ${run.arch ?? 'x86_64'}): ${controls.length} in ${Math.round((Date.now() - started) / 1000)} s, ${run.jobs ?? 1} at a time; artifacts in ${output}`);
});

/** An earlier step may pass, XFAIL, or be skipped by its `requires` (then it says why). */
const cleared = (s: StepResult) => s.status === 'passed' || s.status === 'xfail' || (s.status === 'skipped' && s.message !== undefined);

describe(`negative controls (${mode === 'all' ? 'the whole table' : mode !== '' ? mode : 'the npm test sample; HANDOVER_CONTROLS=all for all'})`, () => {
  it.each(controls.map((c) => [`${c.scenario} step ${c.step + 1}: ${c.control}`, c] as const))('%s', (_, c) => {
    const s = shippedOf(c);
    const variant = controlScenario(s, c);
    const r = run?.scenarios.find((x) => x.name === variant.name);
    if (r === undefined) throw new Error(`${variant.name}: no result`);
    const target = targetIndex(s, variant, c.step);
    const summary = [r.message ?? '', ...r.steps.map((st) => `  ${st.index + 1} ${st.status} ${st.name}${st.message === undefined ? '' : `: ${st.message}`}`)].join('\n');
    expect(r.status, summary).toBe('failed');
    // The verdict is this step's failure (not a crash, a refused handover or a stray KHO error).
    expect(r.outcome, summary).toBe('test-failed');
    expect(r.message, summary).toMatch(new RegExp(`^step ${target + 1} \\(`));
    expect(r.steps.slice(0, target).filter((st) => !cleared(st)).map((st) => `${st.index + 1} ${st.status}`), summary).toEqual([]);
    const step = r.steps[target];
    expect(step?.status, summary).toBe('failed');
    expect(step?.message, summary).toMatch(c.reason);
  });
  if (notHere.length > 0) it.skip.each(notHere.map((c) => [`${c.scenario} step ${c.step + 1}: ${c.control} (not on ${c.notOn?.arch}: ${c.notOn?.why})`] as const))('%s', () => {});
});
