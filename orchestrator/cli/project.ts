import { relative } from 'node:path';
import { CommanderError, type Command } from 'commander';
import { defaultsLayer, findProjectFile, type Layer, loadProjectFile, mergeSettings, parseReporters, type ProjectFile, type ProjectKey, projectLayer, REPORTERS, type Resolved, type RunSettings, usageError } from '../index.ts';
import { reportError } from './run-command.ts';

/** The `run` options that handover.yaml can also set: commander's name for each, and its flag. */
const FLAGS: Record<Exclude<ProjectKey, 'scenarios'>, { attr: string; flag: string }> = {
  kernel: { attr: 'kernel', flag: '--kernel' },
  arch: { attr: 'arch', flag: '--arch' },
  config: { attr: 'config', flag: '--config' },
  profiles: { attr: 'profile', flag: '--profile' },
  accel: { attr: 'accel', flag: '--accel' },
  reporters: { attr: 'reporter', flag: '--reporter' },
  output: { attr: 'output', flag: '--output' },
  jobs: { attr: 'jobs', flag: '--jobs' },
  build_jobs: { attr: 'buildJobs', flag: '--build-jobs' },
  ccache: { attr: 'ccache', flag: '--no-ccache' },
  retries: { attr: 'retries', flag: '--retries' },
  append: { attr: 'append', flag: '--append' },
  kexec_append: { attr: 'kexecAppend', flag: '--kexec-append' },
};

export interface ProjectCliOptions {
  /** A file named with --project; false with --no-project; undefined: look from the cwd upwards. */
  project?: string | false;
}

/** The project file this run uses, if any: named, none, or the nearest one from `cwd` up. */
export async function projectFor(opts: ProjectCliOptions, cwd: string): Promise<ProjectFile | undefined> {
  if (opts.project === false) return undefined;
  if (opts.project !== undefined) return loadProjectFile(opts.project);
  const found = await findProjectFile(cwd);
  // Named relative to the cwd, as a user would type it (../handover.yaml:3:8).
  return found === undefined ? undefined : loadProjectFile(found, relative(cwd, found));
}

/** Defaults < handover.yaml < the command line; commander says which options were typed. */
export function runSettings(cmd: Command, args: readonly string[], project: ProjectFile | undefined): Resolved {
  const opts = cmd.opts<Record<string, unknown>>();
  const { kinds, bad } = parseReporters(String(opts.reporter));
  if (bad !== undefined) throw usageError(`--reporter ${bad}: expected some of ${REPORTERS.join(', ')}`);
  const given: RunSettings = {
    kernel: opts.kernel as string,
    arch: opts.arch as RunSettings['arch'],
    config: opts.config as string[],
    profiles: opts.profile as string[],
    accel: opts.accel as RunSettings['accel'],
    scenarios: [...args],
    reporters: kinds,
    output: opts.output as string,
    jobs: opts.jobs as number | undefined,
    build_jobs: opts.buildJobs as number | undefined,
    ccache: opts.ccache as boolean,
    retries: opts.retries as number,
    append: opts.append as string | undefined,
    kexec_append: opts.kexecAppend as string | undefined,
  };
  const typed: Layer = {};
  for (const [key, { attr, flag }] of Object.entries(FLAGS) as [keyof typeof FLAGS, { attr: string; flag: string }][]) {
    if (cmd.getOptionValueSource(attr) === 'cli') (typed as Record<string, unknown>)[key] = { value: given[key], origin: flag };
  }
  if (args.length > 0) typed.scenarios = { value: given.scenarios, origin: 'arguments' };
  // What was not typed holds commander's default.
  return mergeSettings(defaultsLayer(given), project === undefined ? {} : projectLayer(project), typed);
}

/** handover.yaml keys that other commands take too, by their option's attribute there (-j is make's jobs). */
const KERNEL_KEYS: Partial<Record<ProjectKey, string>> = {
  kernel: 'kernel',
  arch: 'arch',
  config: 'config',
  profiles: 'profile',
  ccache: 'ccache',
  accel: 'accel',
  append: 'append',
  build_jobs: 'jobs',
};

/**
 * For every command but `run` (which merges the file itself, with origins): the nearest
 * handover.yaml's kernel settings where the command has the option and the user did not type it,
 * so `handover kernel build`, `boot`, `series`… in a tree build the kernel `run` would.
 */
export async function applyProjectDefaults(cmd: Command, cwd: string): Promise<void> {
  // A command that takes none of them (doctor, cache, schema…) does not read the file at all.
  if (!Object.values(KERNEL_KEYS).some((attr) => cmd.options.some((o) => o.attributeName() === attr))) return;
  const project = await projectFor({}, cwd);
  if (project === undefined) return;
  const layer = projectLayer(project);
  for (const [key, attr] of Object.entries(KERNEL_KEYS) as [ProjectKey, string][]) {
    const v = layer[key];
    if (v === undefined || !cmd.options.some((o) => o.attributeName() === attr)) continue;
    if (cmd.getOptionValueSource(attr) === 'cli') continue;
    cmd.setOptionValueWithSource(attr, v.value, 'config');
  }
}

/** The program's preAction hook: a bad handover.yaml stops any command as it stops `run` (exit 2). */
export function projectHook(program: Command): void {
  program.hook('preAction', async (_program, action) => {
    if (action.name() === 'run') return;
    try {
      await applyProjectDefaults(action, process.cwd());
    } catch (err) {
      const code = reportError(err);
      throw new CommanderError(code, 'handover.project', 'bad project file');
    }
  });
}
