// `handover merge-reports`: the results.json of several shards (or runs) joined into one run, as if
// it had run unsharded: the scenarios in suite order, the summary recomputed.
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { HandoverError } from '../errors.ts';
import { suiteOrder } from '../scenario/shard.ts';
import { contractResults } from '../scenario/contract.ts';
import { readResults } from '../scenario/baseline.ts';
import { summarize, type RunResult, type ScenarioResult } from '../scenario/results.ts';

export interface MergeInput {
  /** The results.json it was read from. */
  source: string;
  run: RunResult;
}

/** Each argument is a results.json or a folder holding one (a shard's --output). */
export async function readMergeInputs(paths: readonly string[]): Promise<MergeInput[]> {
  const inputs: MergeInput[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    const st = await stat(abs).catch(() => undefined);
    if (st === undefined) throw new HandoverError('usage-error', `merge-reports: ${p}: no such file or directory`);
    const source = st.isDirectory() ? join(abs, 'results.json') : abs;
    const run = await readResults(source, 'merge-reports:');
    inputs.push({ source, run: await rebaseArtifacts(run, dirname(source)) });
  }
  return inputs;
}

/**
 * A shard's results name its artifacts where that shard ran; when they were moved (CI downloads
 * each shard's folder somewhere else) and sit beside the results.json, point to them there.
 */
async function rebaseArtifacts(run: RunResult, dir: string): Promise<RunResult> {
  const scenarios = await Promise.all(
    run.scenarios.map(async (s) => {
      if ((await stat(s.artifactsDir).catch(() => undefined)) !== undefined) return s;
      const here = join(dir, basename(s.artifactsDir));
      if ((await stat(here).catch(() => undefined)) === undefined) return s;
      const moved = (p: string) => (p.startsWith(`${s.artifactsDir}/`) ? join(here, p.slice(s.artifactsDir.length + 1)) : p);
      const rebased: ScenarioResult = { ...s, artifactsDir: here, consoles: s.consoles.map(moved) };
      // --repeat: each repeat's folder (and its retries') is inside the scenario's.
      if (s.repeats !== undefined) {
        rebased.repeats = s.repeats.map((x) => ({
          ...x,
          artifactsDir: moved(x.artifactsDir),
          ...(x.attempts === undefined ? {} : { attempts: x.attempts.map((a) => ({ ...a, artifactsDir: moved(a.artifactsDir) })) }),
        }));
      }
      return rebased;
    }),
  );
  return { ...run, scenarios };
}

const kernelId = (r: RunResult) => `${r.kernel.spec} ${r.kernel.release} config ${r.kernel.configHash.slice(0, 12)}`;

/**
 * Joins runs of the same kernel and config. Shards must all be there, once each, and agree on the
 * suite; a scenario may appear in one input only. A shard that ran no scenarios has no kernel and
 * is not compared.
 */
export function mergeRuns(inputs: readonly MergeInput[]): RunResult {
  if (inputs.length === 0) throw new HandoverError('usage-error', 'merge-reports: nothing to merge');
  const withKernel = inputs.filter((i) => i.run.scenarios.length > 0);
  const ref = withKernel[0] ?? inputs[0];
  if (ref === undefined) throw new HandoverError('usage-error', 'merge-reports: nothing to merge');
  const other = withKernel.filter((i) => i.run.kernel.configHash !== ref.run.kernel.configHash || i.run.kernel.release !== ref.run.kernel.release || i.run.kernel.spec !== ref.run.kernel.spec);
  if (other.length > 0) {
    throw new HandoverError('usage-error', 'merge-reports: the results are of different kernels or configs', {
      evidence: withKernel.map((i) => `${i.source}: ${kernelId(i.run)}`),
    });
  }

  const shards = inputs.filter((i) => i.run.shard !== undefined);
  let suite: string[] | undefined;
  if (shards.length > 0) {
    const first = shards[0]?.run.shard;
    if (shards.length !== inputs.length || first === undefined) {
      throw new HandoverError('usage-error', 'merge-reports: some inputs are shards and some are not', { evidence: inputs.map((i) => `${i.source}: ${i.run.shard === undefined ? 'not a shard' : `shard ${i.run.shard.index}/${i.run.shard.total}`}`) });
    }
    const seen = new Map<number, string>();
    for (const i of shards) {
      const sh = i.run.shard as NonNullable<RunResult['shard']>;
      if (sh.total !== first.total || sh.suite.join('\n') !== first.suite.join('\n')) {
        throw new HandoverError('usage-error', `merge-reports: ${i.source} is shard ${sh.index}/${sh.total} of another suite than ${shards[0]?.source ?? ''} (shard ${first.index}/${first.total})`);
      }
      const dup = seen.get(sh.index);
      if (dup !== undefined) throw new HandoverError('usage-error', `merge-reports: shard ${sh.index}/${sh.total} given twice: ${dup} and ${i.source}`);
      seen.set(sh.index, i.source);
    }
    const missing = Array.from({ length: first.total }, (_, k) => k + 1).filter((k) => !seen.has(k));
    if (missing.length > 0) throw new HandoverError('usage-error', `merge-reports: shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${first.total}`).join(', ')} missing`);
    suite = first.suite;
  }

  const byName = new Map<string, { s: ScenarioResult; source: string }>();
  for (const i of inputs) {
    for (const s of i.run.scenarios) {
      const dup = byName.get(s.name);
      if (dup !== undefined) throw new HandoverError('usage-error', `merge-reports: scenario '${s.name}' is in both ${dup.source} and ${i.source}`);
      byName.set(s.name, { s, source: i.source });
    }
  }
  const order = suite ?? suiteOrder([...byName.keys()]);
  const scenarios = order.flatMap((n) => {
    const hit = byName.get(n);
    return hit === undefined ? [] : [hit.s];
  });

  const starts = inputs.map((i) => Date.parse(i.run.startedAt));
  const ends = inputs.map((i) => Date.parse(i.run.startedAt) + i.run.durationMs);
  const start = Math.min(...starts);
  const repeat = repeatOf(inputs);
  const lastAccel = [...withKernel].reverse().find((i) => i.run.accel.accel !== 'unknown');
  return {
    startedAt: new Date(start).toISOString(),
    durationMs: Math.max(...ends) - start,
    kernel: ref.run.kernel,
    qemu: ref.run.qemu,
    accel: lastAccel?.run.accel ?? ref.run.accel,
    scenarios,
    summary: summarize(scenarios),
    contract: contractResults(scenarios),
    // Shards run with the same --repeat say so once merged; mixed ones keep it per scenario (passRate).
    ...(repeat === undefined ? {} : { repeat }),
    mergedFrom: inputs.map((i) => ({
      source: i.source,
      startedAt: i.run.startedAt,
      durationMs: i.run.durationMs,
      ...(i.run.shard === undefined ? {} : { shard: `${i.run.shard.index}/${i.run.shard.total}` }),
    })),
  };
}

function repeatOf(inputs: readonly MergeInput[]): number | undefined {
  const counts = new Set(inputs.map((i) => i.run.repeat ?? 1));
  const [only] = counts;
  return counts.size === 1 && only !== undefined && only > 1 ? only : undefined;
}
