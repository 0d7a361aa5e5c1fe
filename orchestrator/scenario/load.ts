import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { HandoverError } from '../errors.ts';
import { validateSteps } from './validate.ts';
import { nestingProblem, yamlShapeProblems, type ShapeProblem } from './yaml-shape.ts';
import { ScenarioHeader, STEP_KINDS, STEP_SCHEMAS, type ScenarioHeaderT, type Step, type StepKind } from './schema.ts';

export interface Scenario extends Omit<ScenarioHeaderT, 'steps' | 'name'> {
  name: string;
  file: string;
  steps: (Step & { line: number })[];
}

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: error: ${d.message}`;
}

/** Loads and validates scenario files; every problem in every file is reported at once. */
export async function loadScenarios(files: readonly string[]): Promise<Scenario[]> {
  const results = await Promise.all(
    files.map(async (file) => {
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new HandoverError('usage-error', `${file}: cannot read the scenario (${err.code ?? err.message})`);
      });
      return parseScenario(text, file);
    }),
  );
  const diagnostics = results.flatMap((r) => r.diagnostics);
  if (diagnostics.length > 0) {
    throw new HandoverError('usage-error', `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'} in scenario files; nothing was run`, {
      evidence: diagnostics.map(formatDiagnostic),
    });
  }
  const scenarios = results.map((r) => r.scenario as Scenario);
  const seen = new Map<string, string>();
  for (const s of scenarios) {
    const other = seen.get(s.name);
    if (other !== undefined) throw new HandoverError('usage-error', `${s.file}: scenario name '${s.name}' is also used by ${other}`);
    seen.set(s.name, s.file);
  }
  return scenarios;
}

/**
 * Parses one scenario: YAML syntax, what YAML may not be used, the header, each step against its
 * own kind's schema, then the checks across steps. Never throws: any input gives a scenario or
 * diagnostics.
 */
export function parseScenario(text: string, file: string): { scenario?: Scenario; diagnostics: Diagnostic[] } {
  const lc = new LineCounter();
  const at = (offset: number, message: string): Diagnostic => {
    const { line, col } = lc.linePos(offset);
    return { file, line: Math.max(1, line), col: Math.max(1, col), message };
  };
  try {
    return parseWith(text, file, lc, at);
  } catch (err) {
    // A bug in the loader, not in the file; still a diagnostic, so a run never starts on it.
    return { diagnostics: [at(0, `${LOADER_BUG}: ${err instanceof Error ? err.message : String(err)}`)] };
  }
}

/** The start of the diagnostic for an exception inside the loader (the property test looks for it). */
export const LOADER_BUG = 'internal error in the scenario loader';

function parseWith(text: string, file: string, lc: LineCounter, at: (offset: number, message: string) => Diagnostic): { scenario?: Scenario; diagnostics: Diagnostic[] } {
  // logLevel 'error': the yaml library must not print (process.emitWarning); yamlShapeProblems reports instead.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: false, logLevel: 'error' });
  // Too deep is one problem, however far the yaml library got before its stack ran out (which varies).
  const deep = nestingProblem(doc);
  const yamlErrors = [...doc.errors.filter((e) => deep === undefined || e.code !== 'RESOURCE_EXHAUSTION'), ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED')];
  const early = [
    ...yamlErrors.map((e) => ({ offset: e.pos[0], message: `${e.code}: ${e.message.split('\n')[0] ?? ''}` })),
    ...(deep === undefined ? yamlShapeProblems(doc) : [deep]),
  ];
  if (early.length > 0) return { diagnostics: sortedUnique(early).map((p) => at(p.offset, p.message)) };
  if (!isMap(doc.contents)) {
    const what = doc.contents === null ? 'an empty document' : isSeq(doc.contents) ? 'a sequence' : 'a single value';
    return { diagnostics: [at(doc.contents?.range?.[0] ?? 0, `expected a mapping with description: and steps:, not ${what}`)] };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Aliases are resolved and acyclic by now: what is left is an alias bomb (too many expansions).
    return { diagnostics: [at(firstAlias(doc), `cannot read the YAML: ${err instanceof Error ? err.message : String(err)}`)] };
  }
  const diagnostics: Diagnostic[] = [];
  const header = ScenarioHeader.safeParse(data);
  if (!header.success) diagnostics.push(...header.error.issues.map((i) => issueAt(doc, lc, file, [], i)));

  const rawSteps = isRecord(data) && Array.isArray(data.steps) ? (data.steps as unknown[]) : [];
  const steps: (Step & { line: number })[] = [];
  rawSteps.forEach((raw, i) => {
    const path: (string | number)[] = ['steps', i];
    const where = nodeOffset(doc, path);
    if (!isRecord(raw)) {
      diagnostics.push(at(where, `step ${i + 1}: expected a mapping like '- kexec: {}'`));
      return;
    }
    const kinds = Object.keys(raw).filter((k): k is StepKind => (STEP_KINDS as string[]).includes(k));
    const unknown = Object.keys(raw).filter((k) => !(STEP_KINDS as string[]).includes(k) && !['name', 'timeout', 'expect_error', 'xfail', 'requires'].includes(k));
    if (kinds.length !== 1) {
      const key = unknown[0] ?? Object.keys(raw)[1];
      const offset = key === undefined ? where : keyOffset(doc, path, key);
      diagnostics.push(
        at(
          offset,
          kinds.length === 0
            ? `unknown step '${unknown[0] ?? '(none)'}': expected one of ${STEP_KINDS.join(', ')}`
            : `a step has exactly one kind; this one has ${kinds.join(' and ')}`,
        ),
      );
      return;
    }
    const kind = kinds[0] as StepKind;
    const parsed = (STEP_SCHEMAS[kind] as z.ZodType).safeParse(raw);
    if (!parsed.success) {
      diagnostics.push(...parsed.error.issues.map((issue) => issueAt(doc, lc, file, path, issue)));
      return;
    }
    steps.push({ ...(parsed.data as object), kind, line: lc.linePos(where).line } as Step & { line: number });
  });
  if (diagnostics.length > 0) return { diagnostics };
  // Across steps only once every step parsed: a step that failed would show up again as a missing name.
  const semantic = validateSteps(steps, (i, rest, message) => at(nodeOffset(doc, ['steps', i, ...rest]), message));
  if (semantic.length > 0) return { diagnostics: semantic };
  const h = header.data as ScenarioHeaderT;
  const { steps: _raw, ...rest } = h;
  return { scenario: { ...rest, name: h.name ?? basename(file).replace(/\.ya?ml$/, ''), file, steps }, diagnostics: [] };
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

function issueAt(doc: Document, lc: LineCounter, file: string, base: (string | number)[], issue: z.core.$ZodIssue): Diagnostic {
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
function nodeOffset(doc: Document, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) return node.range[0];
  }
  return 0;
}

function keyOffset(doc: Document, path: (string | number)[], key: string): number {
  const map = doc.getIn(path, true);
  if (isMap(map)) {
    for (const pair of map.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range !== undefined && pair.key.range !== null) return pair.key.range[0];
    }
  }
  return nodeOffset(doc, path);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
