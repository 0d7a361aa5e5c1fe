import type { Arch } from '../host/arch.ts';
import type { ReporterKind } from '../report/write-reports.ts';
import type { ProjectFile } from './load.ts';
import { PROJECT_KEYS, type ProjectKey } from './schema.ts';

// What `handover run` runs with, each value with where it came from: a default, the project
// file, or the command line, later layers winning (a list given on the command line replaces
// the file's list, it does not add to it: the printed config then says all there is).

export interface RunSettings {
  kernel: string;
  arch: Arch;
  config: string[];
  profiles: string[];
  accel: 'auto' | 'kvm' | 'tcg';
  /** Empty: the shipped suite. */
  scenarios: string[];
  reporters: ReporterKind[];
  output: string;
  /** Undefined: the CPU count. */
  jobs: number | undefined;
  build_jobs: number | undefined;
  ccache: boolean;
  retries: number;
  append: string | undefined;
  kexec_append: string | undefined;
}

/** 'default', 'handover.yaml:7', '--jobs', or 'arguments' (scenario names on the command line). */
export type Origin = string;

export type Layer = { [K in ProjectKey]?: { value: RunSettings[K]; origin: Origin } };
export type Resolved = { [K in ProjectKey]: { value: RunSettings[K]; origin: Origin } };

export function defaultsLayer(defaults: RunSettings): Resolved {
  const out: Layer = {};
  for (const key of PROJECT_KEYS) set(out, key, defaults[key], 'default');
  return out as Resolved;
}

export function projectLayer(project: ProjectFile): Layer {
  const out: Layer = {};
  for (const key of PROJECT_KEYS) {
    const value = project.settings[key];
    if (value !== undefined) set(out, key, value as RunSettings[typeof key], `${project.file}:${project.lines[key] ?? 1}`);
  }
  return out;
}

/** Each key from the last layer that has it. */
export function mergeSettings(base: Resolved, ...layers: Layer[]): Resolved {
  const out: Layer = { ...base };
  for (const layer of layers) Object.assign(out, layer);
  return out as Resolved;
}

export function valuesOf(r: Resolved): RunSettings {
  const out: Partial<Record<ProjectKey, unknown>> = {};
  for (const key of PROJECT_KEYS) out[key] = r[key].value;
  return out as RunSettings;
}

/** What an unset key means. */
const UNSET: Partial<Record<ProjectKey, string>> = { scenarios: 'the shipped suite', jobs: 'the CPU count', build_jobs: 'the CPU count' };

/** The merged settings as a handover.yaml would say them, each line with its origin. */
export function formatSettings(r: Resolved): string {
  const width = Math.max(...PROJECT_KEYS.map((k) => k.length));
  return PROJECT_KEYS.map((key) => {
    const { value, origin } = r[key];
    // Flow-style JSON is YAML: the output can be pasted into a handover.yaml. Unset keys stay comments.
    const unset = value === undefined || (key === 'scenarios' && (value as string[]).length === 0);
    const text = unset ? `# ${key}: (unset${key in UNSET ? `: ${UNSET[key]}` : ''})` : `${key}: ${JSON.stringify(value)}`;
    return `${text.padEnd(width + 42)}  # ${origin}`;
  })
    .join('\n')
    .concat('\n');
}

function set<K extends ProjectKey>(layer: Layer, key: K, value: RunSettings[K], origin: Origin): void {
  (layer as Record<K, { value: RunSettings[K]; origin: Origin }>)[key] = { value, origin };
}
