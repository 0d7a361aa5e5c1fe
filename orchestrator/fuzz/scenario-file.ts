// Programs become scenario files: several programs merged into one batch (their phases side by
// side, one kexec for all), the model's steps written as YAML in the shipped format, and parsed
// back with the scenario loader, so what runs is exactly what a finding's file says.

import { HandoverError } from '../errors.ts';
import { formatDiagnostic, parseScenario, type Scenario } from '../scenario/load.ts';
import type { RealizedStep, StepObject } from './model.ts';
import type { Op, TaggedOp } from './ops.ts';

/** Programs side by side: phase k of each (the ops before its (k+1)-th kexec), then one kexec. */
export function mergePrograms(programs: readonly (readonly Op[])[]): TaggedOp[] {
  const phases = programs.map((ops) => {
    const out: Op[][] = [[]];
    for (const op of ops) {
      if (op.t === 'kexec') out.push([]);
      else (out[out.length - 1] as Op[]).push(op);
    }
    return out;
  });
  const most = Math.max(0, ...phases.map((p) => p.length));
  const merged: TaggedOp[] = [];
  for (let k = 0; k < most; k++) {
    phases.forEach((p, prog) => merged.push(...(p[k] ?? []).map((op) => ({ ...op, prog }))));
    const by = phases.findIndex((p) => p.length > k + 1);
    if (by >= 0) merged.push({ t: 'kexec', prog: by });
  }
  return merged;
}

/** The kind's key first, then the fields every step may carry. */
const COMMON = ['name', 'expect_error', 'timeout'];

/** A scenario file in the shipped format (JSON values are YAML flow values). */
export function scenarioText(steps: readonly RealizedStep[], description: string, comment: readonly string[] = []): string {
  const kexecs = steps.filter((s) => 'kexec' in s.step).length;
  const lines = [
    ...comment.map((c) => `# ${c}`),
    `description: ${JSON.stringify(description)}`,
    // The default 300 s is for hand-written scenarios; a batch may have many steps and kexecs.
    `timeout: ${120 + 90 * kexecs + 5 * steps.length}`,
    'steps:',
    ...steps.flatMap((s) => stepLines(s.step)),
  ];
  return `${lines.join('\n')}\n`;
}

function stepLines(step: StepObject): string[] {
  const kind = Object.keys(step).find((k) => !COMMON.includes(k));
  if (kind === undefined) throw new Error(`a step without a kind: ${JSON.stringify(step)}`);
  const rest = COMMON.filter((k) => step[k] !== undefined).map((k) => `    ${k}: ${JSON.stringify(step[k])}`);
  return [`  - ${kind}: ${JSON.stringify(step[kind])}`, ...rest];
}

/** Parses a generated file with the scenario loader; a diagnostic is a bug in the generator. */
export function loadGenerated(text: string, file: string): Scenario {
  const { scenario, diagnostics } = parseScenario(text, file);
  if (scenario === undefined) {
    throw new HandoverError('internal-error', `the fuzz generator wrote a scenario the loader refuses (${file})`, { evidence: diagnostics.map(formatDiagnostic) });
  }
  return scenario;
}
