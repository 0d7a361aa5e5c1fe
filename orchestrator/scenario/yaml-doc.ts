import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { nestingProblem, yamlShapeProblems, type ShapeProblem } from './yaml-shape.ts';

// The front end every handover YAML file goes through (scenarios, handover.yaml): YAML syntax,
// what YAML may not be used, a top-level mapping, then zod issues turned into file:line:col.

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: error: ${d.message}`;
}

export type At = (offset: number, message: string) => Diagnostic;

export function diagnosticAt(lc: LineCounter, file: string): At {
  return (offset, message) => {
    const { line, col } = lc.linePos(offset);
    return { file, line: Math.max(1, line), col: Math.max(1, col), message };
  };
}

export type YamlRead = { ok: true; doc: Document; data: unknown } | { ok: false; diagnostics: Diagnostic[] };

/**
 * Parses `text` into a mapping's data, or the diagnostics that stop it. `kind` names the file in
 * messages ("scenario files"); `expected` says what the top level must be.
 */
export function readYamlMapping(text: string, lc: LineCounter, at: At, kind: string, expected: string): YamlRead {
  // logLevel 'error': the yaml library must not print (process.emitWarning); yamlShapeProblems reports instead.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: false, logLevel: 'error' });
  // Too deep is one problem, however far the yaml library got before its stack ran out (which varies).
  const deep = nestingProblem(doc);
  const yamlErrors = [...doc.errors.filter((e) => deep === undefined || e.code !== 'RESOURCE_EXHAUSTION'), ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED')];
  const early = [
    ...yamlErrors.map((e) => ({ offset: e.pos[0], message: `${e.code}: ${e.message.split('\n')[0] ?? ''}` })),
    ...(deep === undefined ? yamlShapeProblems(doc, kind) : [deep]),
  ];
  if (early.length > 0) return { ok: false, diagnostics: sortedUnique(early).map((p) => at(p.offset, p.message)) };
  if (!isMap(doc.contents)) {
    const what = doc.contents === null ? 'an empty document' : isSeq(doc.contents) ? 'a sequence' : 'a single value';
    return { ok: false, diagnostics: [at(doc.contents?.range?.[0] ?? 0, `expected ${expected}, not ${what}`)] };
  }
  try {
    return { ok: true, doc, data: doc.toJS({ maxAliasCount: 100 }) };
  } catch (err) {
    // Aliases are resolved and acyclic by now: what is left is an alias bomb (too many expansions).
    return { ok: false, diagnostics: [at(firstAlias(doc), `cannot read the YAML: ${err instanceof Error ? err.message : String(err)}`)] };
  }
}

function firstAlias(doc: Document): number {
  let offset = 0;
  visit(doc, { Alias: (_key, alias) => ((offset = alias.range?.[0] ?? 0), visit.BREAK) });
  return offset;
}

/** In file order, one per place: a YAML error and a shape problem at the same node are one problem. */
function sortedUnique(problems: ShapeProblem[]): ShapeProblem[] {
  const seen = new Set<number>();
  return [...problems].sort((a, b) => a.offset - b.offset).filter((p) => !seen.has(p.offset) && seen.add(p.offset));
}

export function issueAt(doc: Document, lc: LineCounter, file: string, base: (string | number)[], issue: z.core.$ZodIssue): Diagnostic {
  // For a union, report the branch that came closest (fewest problems): it names the real field.
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const best = [...issue.errors].sort((a, b) => a.length - b.length)[0];
    const first = best?.[0];
    if (first !== undefined) return issueAt(doc, lc, file, [...base, ...(issue.path as (string | number)[])], first);
  }
  const path = [...base, ...(issue.path as (string | number)[])];
  let offset = nodeOffset(doc, path);
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    offset = keyOffset(doc, path, key);
    message = `unknown field '${key}'${issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(', ')})` : ''}`;
  } else if (issue.code === 'invalid_type' && doc.getIn(path, true) === undefined) {
    message = `missing (expected ${issue.expected})`;
  }
  const field = path.filter((p) => typeof p === 'string').at(-1);
  const { line, col } = lc.linePos(offset);
  return { file, line, col, message: field !== undefined && issue.code !== 'unrecognized_keys' ? `${String(field)}: ${message}` : message };
}

/** The offset of the node at `path`, or of its nearest ancestor that exists (a missing key has no node). */
export function nodeOffset(doc: Document, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) return node.range[0];
  }
  return 0;
}

export function keyOffset(doc: Document, path: (string | number)[], key: string): number {
  const map = doc.getIn(path, true);
  if (isMap(map)) {
    for (const pair of map.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range !== undefined && pair.key.range !== null) return pair.key.range[0];
    }
  }
  return nodeOffset(doc, path);
}
