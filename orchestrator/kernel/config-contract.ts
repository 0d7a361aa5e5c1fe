import { formatOrigin, type MergedConfig, type Request } from './fragments.ts';

/** A requested symbol that the final .config does not honour. */
export interface Violation {
  request: Request;
  /** The final value, 'n' when unset; undefined when the symbol is absent from .config entirely. */
  actual: string | undefined;
}

/**
 * Compares every request with the final .config values (strings unquoted, as kconfig.ts's
 * parseDotConfig gives them); n is satisfied by "not set" or absence.
 */
export function findViolations(merged: MergedConfig, finalValues: ReadonlyMap<string, string>): Violation[] {
  const out: Violation[] = [];
  for (const request of merged.requests) {
    const actual = finalValues.get(request.symbol);
    const wanted = /^".*"$/.test(request.value) ? request.value.slice(1, -1).replace(/\\(.)/g, '$1') : request.value;
    const honoured = request.value === 'n' ? actual === undefined || actual === 'n' : actual === wanted;
    if (!honoured) out.push({ request, actual });
  }
  return out;
}

export function describeViolation(v: Violation): string {
  const got = v.actual === undefined ? 'absent from .config' : v.actual === 'n' ? 'is not set' : `=${v.actual}`;
  return `CONFIG_${v.request.symbol}=${v.request.value} (asked by ${formatOrigin(v.request.origin)}) was dropped: final .config ${got}`;
}

/** Lines telling which earlier request a later one replaced, so a silent override is never a surprise. */
export function describeOverrides(merged: MergedConfig): string[] {
  return merged.overrides.map(
    ({ earlier, later }) =>
      `CONFIG_${later.symbol}=${later.value} (${formatOrigin(later.origin)}) overrides =${earlier.value} (${formatOrigin(earlier.origin)})`,
  );
}
