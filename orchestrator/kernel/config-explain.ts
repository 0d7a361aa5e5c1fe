import { describeViolation, type Violation } from './config-contract.ts';

export interface Explanation {
  violation: Violation;
  unknown: boolean;
  lines: string[];
}

/** Placeholder until the Kconfig explainer lands: states what was dropped. */
export async function explainViolations(
  _srcDir: string,
  violations: readonly Violation[],
  _finalValues: Map<string, string>,
): Promise<Explanation[]> {
  return Promise.resolve(violations.map((violation) => ({ violation, unknown: violation.actual === undefined, lines: [describeViolation(violation)] })));
}
