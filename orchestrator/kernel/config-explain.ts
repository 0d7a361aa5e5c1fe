import { formatOrigin } from './fragments.ts';
import type { Violation } from './config-contract.ts';
import { explainSymbol, loadKconfig } from './kconfig.ts';

export interface ViolationExplanation {
  violation: Violation;
  unknown: boolean;
  lines: string[];
}

/**
 * Says why Kconfig refused each violated request (unmet depends on, who selects it, unknown
 * symbol), reading the tree's own Kconfig. Only runs on failure, so the parse cost is paid then.
 */
export function explainViolations(
  srcDir: string,
  violations: readonly Violation[],
  finalValues: ReadonlyMap<string, string>,
  arch: string = 'x86_64',
): ViolationExplanation[] {
  const db = loadKconfig(srcDir, { arch });
  return violations.map((violation) => {
    const e = explainSymbol(db, violation.request.symbol, violation.request.value, finalValues, {
      origin: `asked by ${formatOrigin(violation.request.origin)}`,
    });
    return { violation, unknown: e.status === 'unknown', lines: [...e.lines] };
  });
}
