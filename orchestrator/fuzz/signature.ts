// What "fails the same way" means while shrinking: the failing step's kind and its message with
// names, numbers and hashes taken out (a smaller memfd still "came back different: size"), or the
// crash title; the verdict's outcome in front.

import type { ScenarioResult, StepResult } from '../scenario/results.ts';

export interface Failure {
  signature: string;
  message: string;
  /** The step that failed (index into the scenario's steps), when one did. */
  step?: number;
  outcome: string;
}

export function normalizeMessage(message: string): string {
  return message
    .replace(/'[^']*'/g, "'…'")
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\b[0-9a-f]{16,}\b/g, 'H')
    .replace(/0x[0-9a-f]+/gi, 'H')
    .replace(/\d+(\.\d+)?/g, 'N')
    .slice(0, 300);
}

/** How a scenario result failed, or undefined when it passed (or ended in an infrastructure error). */
export function failureOf(r: ScenarioResult): Failure | undefined {
  if (r.status !== 'failed') return undefined;
  const outcome = r.outcome ?? 'test-failed';
  const bad = r.steps.find((s: StepResult) => s.status === 'failed' || s.status === 'error');
  const message = r.message ?? bad?.message ?? 'failed';
  if (outcome === 'test-failed' && bad !== undefined) {
    return {
      signature: `${outcome}: ${bad.kind}: ${normalizeMessage(bad.message ?? '')}`,
      message: bad.message ?? message,
      step: bad.index,
      outcome,
    };
  }
  // A crash (its title) or a KHO/LUO error line no step expected: the verdict's message names it.
  return {
    signature: `${outcome}: ${normalizeMessage(message.replace(/^step \d+ \([^)]*\): /, ''))}`,
    message,
    ...(bad === undefined ? {} : { step: bad.index }),
    outcome,
  };
}
