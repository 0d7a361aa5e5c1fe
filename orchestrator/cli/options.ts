import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_KERNEL_SPEC, type KernelBuildRequest, PROFILES } from '../index.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export interface KernelOptions {
  kernel: string;
  config: string[];
  profile: string[];
  jobs?: number | undefined;
  ccache: boolean;
}

/**
 * The options that choose and configure a kernel: the same on every command that needs one.
 * `makeJobsFlag` renames `-j, --jobs` (make's parallelism) where --jobs means something else:
 * `run` says `--build-jobs` and keeps --jobs for VMs.
 */
export function addKernelOptions(cmd: Command, opts: { makeJobsFlag?: string } = {}): Command {
  return cmd
    .option('-k, --kernel <spec>', 'debian:linux-source-X.Y[@suite], git:<repo>#<ref>, or a path', DEFAULT_KERNEL_SPEC)
    .option('-c, --config <fragment|CONFIG_X=val>', 'a fragment file or one item, after the built-in ones (repeatable)', collect, [])
    .option('-p, --profile <name>', `a built-in profile: ${Object.keys(PROFILES).join(' or ')} (repeatable)`, collect, [])
    .option(opts.makeJobsFlag ?? '-j, --jobs <n>', 'parallel make jobs (default: CPU count)', positiveInt)
    .option('--no-ccache', 'do not use ccache even when installed');
}

export function kernelRequest(o: KernelOptions): KernelBuildRequest {
  return { kernel: o.kernel, config: o.config, profiles: o.profile, ccache: o.ccache, ...(o.jobs === undefined ? {} : { jobs: o.jobs }) };
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
    .option('-a, --append <args>', 'extra kernel command line arguments')
    .addOption(new Option('--accel <accel>', 'accelerator: auto probes KVM and falls back to TCG').choices(['auto', 'kvm', 'tcg']).default('auto'))
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
