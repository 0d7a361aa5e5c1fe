import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LineCounter } from 'yaml';
import { HandoverError } from '../errors.ts';
import { diagnosticAt, formatDiagnostic, issueAt, keyOffset, readYamlMapping, type Diagnostic } from '../scenario/yaml-doc.ts';
import { PROJECT_KEYS, ProjectFileSchema, type ProjectKey, type ProjectSettings } from './schema.ts';

export const PROJECT_FILE = 'handover.yaml';

export interface ProjectFile {
  /** The file as it is named in messages and origins (relative to the cwd when below it). */
  file: string;
  /** Its values, with relative paths already made absolute against the file's directory. */
  settings: ProjectSettings;
  /** The line of each key that is set. */
  lines: Partial<Record<ProjectKey, number>>;
}

/** The nearest handover.yaml in `start` or a directory above it, as kunit.py finds .kunitconfig; undefined at the root. */
export async function findProjectFile(start: string): Promise<string | undefined> {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, PROJECT_FILE);
    if ((await stat(candidate).catch(() => undefined))?.isFile() === true) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Reads and validates one project file; every problem in it at once, as a usage error (exit 2). */
export async function loadProjectFile(file: string, name = file): Promise<ProjectFile> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new HandoverError('usage-error', `${name}: cannot read the project file (${err.code ?? err.message})`);
  });
  const { project, diagnostics } = parseProjectFile(text, file, name);
  if (project === undefined) {
    throw new HandoverError('usage-error', `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'} in ${name}; nothing was run`, {
      evidence: diagnostics.map(formatDiagnostic),
    });
  }
  return project;
}

/**
 * Never throws: any text gives the project or diagnostics. Relative paths in it start at `file`'s
 * directory; `name` is how messages and origins call it.
 */
export function parseProjectFile(text: string, file: string, name = file): { project?: ProjectFile; diagnostics: Diagnostic[] } {
  const lc = new LineCounter();
  const at = diagnosticAt(lc, name);
  // An empty file is a project with nothing set (a marker, like an empty .kunitconfig).
  if (text.split('\n').every((l) => l.trim() === '' || l.trimStart().startsWith('#'))) return { project: { file: name, settings: {}, lines: {} }, diagnostics: [] };
  const read = readYamlMapping(text, lc, at, PROJECT_FILE, `a mapping of ${PROJECT_KEYS.join(', ')}`);
  if (!read.ok) return { diagnostics: read.diagnostics };
  const parsed = ProjectFileSchema.safeParse(read.data);
  if (!parsed.success) return { diagnostics: parsed.error.issues.map((i) => issueAt(read.doc, lc, name, [], i)) };
  const lines: Partial<Record<ProjectKey, number>> = {};
  for (const key of Object.keys(parsed.data) as ProjectKey[]) lines[key] = lc.linePos(keyOffset(read.doc, [], key)).line;
  return { project: { file: name, settings: resolvePaths(parsed.data, resolve(dirname(file))), lines }, diagnostics: [] };
}

/** Paths in the file mean the same wherever handover runs from: relative ones start at the file's directory. */
function resolvePaths(s: ProjectSettings, dir: string): ProjectSettings {
  const out: ProjectSettings = { ...s };
  if (s.kernel !== undefined) out.kernel = resolveKernelSpec(s.kernel, dir);
  if (s.config !== undefined) out.config = s.config.map((c) => (c.startsWith('CONFIG_') || c.startsWith('# CONFIG_') ? c : resolve(dir, c)));
  if (s.scenarios !== undefined) out.scenarios = s.scenarios.map((p) => resolve(dir, p));
  if (s.output !== undefined) out.output = resolve(dir, s.output);
  return out;
}

/** path:, ./, ../, . and .. specs, and git: repositories named by a relative path; ~ and URLs stay as written. */
function resolveKernelSpec(spec: string, dir: string): string {
  const rel = /^\.\.?(\/|$)/;
  const s = spec.trim();
  if (s.startsWith('path:')) return s.slice(5).startsWith('~') ? s : `path:${resolve(dir, s.slice(5))}`;
  if (rel.test(s)) return `path:${resolve(dir, s)}`;
  if (s.startsWith('git:') && rel.test(s.slice(4))) {
    const body = s.slice(4);
    const hash = body.lastIndexOf('#');
    return hash < 0 ? `git:${resolve(dir, body)}` : `git:${resolve(dir, body.slice(0, hash))}${body.slice(hash)}`;
  }
  return s;
}
