import { InvalidArgumentError, Option, type Command } from 'commander';
import { ARCHES, DEFAULT_KERNEL_SPEC, hostArch, type Arch, type KernelBuildRequest, PROFILES } from '../index.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export interface KernelOptions extends BuildOptions {
  kernel: string;
}

/** How a kernel is configured and built, without choosing it: `run`'s kernel and every kernel of `matrix`. */
export interface BuildOptions {
  arch: Arch;
  config: string[];
  profile: string[];
  jobs?: number | undefined;
  ccache: boolean;
}

/**
 * Config fragments, profiles, make's parallelism and ccache. `makeJobsFlag` renames `-j, --jobs`
 * where --jobs means something else: `run` says `--build-jobs` and keeps --jobs for VMs.
 */
export function addBuildOptions(cmd: Command, opts: { makeJobsFlag?: string } = {}): Command {
  return cmd
    .addOption(archOption())
    .option('-c, --config <fragment|CONFIG_X=val>', 'a fragment file or one item, after the built-in ones (repeatable)', collect, [])
    .option('-p, --profile <name>', `a built-in profile: ${Object.keys(PROFILES).join(' or ')} (repeatable)`, collect, [])
    .option(opts.makeJobsFlag ?? '-j, --jobs <n>', 'parallel make jobs (default: CPU count)', positiveInt)
    .option('--no-ccache', 'do not use ccache even when installed');
}

/** The options that choose and configure a kernel: the same on every command that needs one. */
export function addKernelOptions(cmd: Command, opts: { makeJobsFlag?: string } = {}): Command {
  return addBuildOptions(cmd.option('-k, --kernel <spec>', 'debian:linux-source-X.Y[@suite], git:<repo>#<ref>, or a path', DEFAULT_KERNEL_SPEC), opts);
}

/** `--arch`: the guest architecture of every kernel a command builds or boots (a cross build when not the host's). */
export function archOption(): Option {
  return new Option('--arch <arch>', 'guest architecture: the kernel is built for it (cross-compiled when not the host’s) and booted under its QEMU')
    .choices([...ARCHES])
    .default(hostArch());
}

export type Accel = 'auto' | 'kvm' | 'tcg';

/** `--accel`: the same choices everywhere a guest boots. */
export function addAccelOption(cmd: Command): Command {
  return cmd.addOption(accelOption());
}

/** `--coverage`: run, series and fuzz build the coverage profile's kernel and report what the scenarios reached. */
export function coverageOption(): Option {
  return new Option('--coverage', 'build the kernel with gcov for the live-update code (kernel/liveupdate/, mm/memfd_luo.c) and report what the scenarios executed (lcov, Cobertura, HTML, a console table; series: each patch\'s changed lines no scenario executed; fuzz: coverage-guided, programs that reach new lines or branches are kept and mutated)');
}

/** `-a, --append`: on run it reaches every boot of every scenario. */
export function appendOption(): Option {
  return new Option('-a, --append <args>', 'extra kernel command line for every boot (e.g. kho=off, a negative control)');
}

/** `--baseline` and `--history`: run and merge-reports compare and keep results the same way. */
export function addBaselineOptions(cmd: Command): Command {
  return cmd
    .option('--baseline <file|dir>', 'compare the results with a previous results.json, or the newest one in a history directory')
    .option('--history <dir>', 'also store the results.json there, named by its start time');
}

function accelOption(): Option {
  return new Option('--accel <accel>', 'accelerator: auto probes KVM and falls back to TCG').choices(['auto', 'kvm', 'tcg']).default('auto');
}

/** `-r, --reporter` and `-o, --output`, with the command's own defaults. */
export function addReportOptions(cmd: Command, defaults: { reporters: readonly string[]; known: readonly string[]; output?: string; outputHelp: string }): Command {
  const withReporter = cmd.option('-r, --reporter <list>', `comma-separated: ${defaults.known.join(', ')}`, defaults.reporters.join(','));
  return defaults.output === undefined ? withReporter.option('-o, --output <dir>', defaults.outputHelp) : withReporter.option('-o, --output <dir>', defaults.outputHelp, defaults.output);
}

export function kernelRequest(o: KernelOptions): KernelBuildRequest {
  return { kernel: o.kernel, arch: o.arch, config: o.config, profiles: o.profile, ccache: o.ccache, ...(o.jobs === undefined ? {} : { jobs: o.jobs }) };
}

export interface MachineCliOptions {
  append?: string;
  accel: 'auto' | 'kvm' | 'tcg';
  memory: number;
  cpus: number;
}

/** How to boot: kernel command line, accelerator, size. */
export function addMachineOptions(cmd: Command): Command {
  return cmd
    .addOption(appendOption())
    .addOption(accelOption())
    .option('-m, --memory <MiB>', 'guest memory in MiB', positiveInt, 1024)
    .option('--cpus <n>', 'guest CPUs', positiveInt, 2);
}

/** A whole number ≥ 0 (e.g. --retries 0). */
export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

/** Commander reports an InvalidArgumentError with the option's name; we exit 2 for it. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}
