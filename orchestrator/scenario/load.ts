import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { LineCounter } from 'yaml';
import type { z } from 'zod';
import { HandoverError } from '../errors.ts';
import { validateSteps } from './validate.ts';
import { diagnosticAt, formatDiagnostic, issueAt, keyOffset, nodeOffset, readYamlMapping, type At, type Diagnostic } from './yaml-doc.ts';
import { ScenarioHeader, STEP_KINDS, STEP_SCHEMAS, type ScenarioHeaderT, type Step, type StepKind } from './schema.ts';

export interface Scenario extends Omit<ScenarioHeaderT, 'steps' | 'name'> {
  name: string;
  file: string;
  steps: (Step & { line: number })[];
}

export { formatDiagnostic, type Diagnostic } from './yaml-doc.ts';

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
  const at = diagnosticAt(lc, file);
  try {
    return parseWith(text, file, lc, at);
  } catch (err) {
    // A bug in the loader, not in the file; still a diagnostic, so a run never starts on it.
    return { diagnostics: [at(0, `${LOADER_BUG}: ${err instanceof Error ? err.message : String(err)}`)] };
  }
}

/** The start of the diagnostic for an exception inside the loader (the property test looks for it). */
export const LOADER_BUG = 'internal error in the scenario loader';

function parseWith(text: string, file: string, lc: LineCounter, at: At): { scenario?: Scenario; diagnostics: Diagnostic[] } {
  const read = readYamlMapping(text, lc, at, 'scenario files', 'a mapping with description: and steps:');
  if (!read.ok) return { diagnostics: read.diagnostics };
  const { doc, data } = read;
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
