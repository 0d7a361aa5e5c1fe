// A KTAP / kselftest TAP reader, after the kernel's kunit_parser.py: version lines, plans,
// "ok"/"not ok" results with SKIP/XFAIL/TODO/TIMEOUT/ERROR directives, subtests nested by
// indentation, "# " diagnostics; any other line (console noise) is ignored.

export interface KtapCase {
  number: number;
  name: string;
  ok: boolean;
  directive?: 'SKIP' | 'XFAIL' | 'TODO' | 'TIMEOUT' | 'ERROR';
  reason?: string;
  /** Diagnostic lines ("# ...") printed before the result, at the same level. */
  diagnostics: string[];
  subtests: KtapCase[];
}

export interface KtapDocument {
  plan?: number;
  cases: KtapCase[];
  /** From a kselftest "# Totals: pass:N fail:N ..." line, when present. */
  totals?: Record<string, number>;
}

const RESULT = /^(ok|not ok)\s+(\d+)\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(SKIP|XFAIL|TODO|TIMEOUT|ERROR)\b\s*(.*))?$/i;
const PRINTK = /^\[\s*\d+\.\d+\]\s?/;

export function parseKtap(text: string): KtapDocument {
  const root: KtapDocument = { cases: [] };
  // One frame per nesting level: the cases it collected and the diagnostics waiting for a result.
  const stack: { indent: number; cases: KtapCase[]; pending: string[] }[] = [{ indent: 0, cases: root.cases, pending: [] }];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').replace(PRINTK, '');
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (body === '') continue;
    const totals = /^#\s*Totals:\s*(.*)$/.exec(body);
    if (totals?.[1] !== undefined) {
      root.totals = Object.fromEntries([...totals[1].matchAll(/(\w+):(\d+)/g)].map((m) => [m[1] ?? '', Number(m[2])]));
      continue;
    }
    if (/^(KTAP|TAP) version \d+/.test(body)) {
      const top = stack.at(-1);
      if (top !== undefined && indent > top.indent) stack.push({ indent, cases: [], pending: [] });
      continue;
    }
    const plan = /^1\.\.(\d+)/.exec(body);
    if (plan?.[1] !== undefined) {
      if (indent === 0) root.plan = Number(plan[1]);
      continue;
    }
    const result = RESULT.exec(body);
    if (result !== null) {
      // A result at a shallower indent closes the subtests opened above it.
      let sub: KtapCase[] = [];
      while (stack.length > 1 && (stack.at(-1)?.indent ?? 0) > indent) sub = stack.pop()?.cases ?? [];
      const frame = stack.at(-1);
      if (frame === undefined) continue;
      const c: KtapCase = {
        number: Number(result[2]),
        name: (result[3] ?? '').trim(),
        ok: result[1]?.toLowerCase() === 'ok',
        diagnostics: frame.pending,
        subtests: sub,
      };
      const directive = result[4]?.toUpperCase() as KtapCase['directive'];
      if (directive !== undefined) c.directive = directive;
      if (result[5] !== undefined && result[5] !== '') c.reason = result[5].trim();
      frame.cases.push(c);
      frame.pending = [];
      continue;
    }
    // A diagnostic belongs to its own level: one after a subtest's lines precedes the subtest's result.
    if (body.startsWith('#')) stack.findLast((f) => f.indent <= indent)?.pending.push(body.replace(/^#\s?/, ''));
  }
  return root;
}

/** Every leaf case, with its path of names. */
export function flattenKtap(cases: readonly KtapCase[], prefix = ''): (KtapCase & { path: string })[] {
  return cases.flatMap((c) => {
    const path = prefix === '' ? c.name : `${prefix}.${c.name}`;
    return c.subtests.length > 0 ? flattenKtap(c.subtests, path) : [{ ...c, path }];
  });
}
