/** What a user needs from a failed kernel build: the compiler's first errors, not a wall of make. */
export function firstErrors(log: string, max = 20): string[] {
  const lines = log.split('\n');
  const first = lines.findIndex((l) => /(^|\s)(error|fatal error):|undefined reference to|\*\*\* .*(Stop|Error)\b/.test(l));
  if (first < 0) return lines.filter((l) => l.trim() !== '').slice(-max);
  // Keep the "In file included from"/"In function" lead-in that names where it happened.
  let start = first;
  while (start > 0 && /^(In file included from|\s+from |.*: In function|.*: At top level)/.test(lines[start - 1] ?? '')) start--;
  return lines.slice(start, start + max).filter((l) => l.trim() !== '');
}

/** Kbuild's short lines ("  CC      kernel/fork.o") are what progress counts. */
export function kbuildStep(line: string): { tool: string; target: string } | undefined {
  const m = /^ {2}([A-Z][A-Z0-9_]{1,8}(?: \[M\])?)\s+(\S+)/.exec(line);
  return m?.[1] !== undefined && m[2] !== undefined ? { tool: m[1], target: m[2] } : undefined;
}
