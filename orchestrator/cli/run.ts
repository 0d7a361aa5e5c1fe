import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Argument, Option, type Command } from 'commander';
import { type Baseline, consoleReporter, createProgress, exitCodeFor, formatSettings, loadBaseline, loadSuite, OUTCOMES, parseKernelSpec, parseShard, PROJECT_FILE, projectJsonSchema, type Reporter, REPORTERS, runSuite, scenarioJsonSchema, type Shard, shardOf, storeInHistory, summaryLine, valuesOf } from '../index.ts';
import { addAccelOption, addBaselineOptions, addKernelOptions, addReportOptions, appendOption, coverageOption, kernelRequest, nonNegativeInt, positiveInt, type KernelOptions } from './options.ts';
import { projectFor, runSettings, type ProjectCliOptions } from './project.ts';
import { runCommand } from './run-command.ts';
import { addStatusOptions, liveStatusFor, type StatusCliOptions } from './status.ts';

interface RunCliOptions extends Omit<KernelOptions, 'jobs'>, ProjectCliOptions, StatusCliOptions {
  printConfig?: boolean;
  reporter: string;
  output: string;
  accel: 'auto' | 'kvm' | 'tcg';
  kexecSyscall?: 'file' | 'legacy';
  append?: string;
  kexecAppend?: string;
  jobs?: number;
  buildJobs?: number;
  strictXfail?: boolean;
  retries: number;
  repeat: number;
  shard?: Shard;
  baseline?: string;
  history?: string;
  kexecInto?: string;
  coverage?: boolean;
}

/** `--baseline`, read before anything starts; an empty history directory is no baseline yet. */
export async function baselineFor(path: string | undefined): Promise<Baseline | undefined> {
  if (path === undefined) return undefined;
  const b = await loadBaseline(path);
  if (b === undefined) process.stderr.write(`note: --baseline ${path}: no results there yet, nothing to compare\n`);
  return b;
}

export function registerRun(program: Command): void {
  addStatusOptions(
    addAccelOption(
      addReportOptions(addBaselineOptions(addKernelOptions(program.command('run').description('run scenarios (default: the shipped suite) and report; exit 0 when all pass, 1 on failures'), { makeJobsFlag: '--build-jobs <n>' })), {
        reporters: REPORTERS,
        known: REPORTERS,
        output: 'handover-results',
        outputHelp: 'where results and artifacts go',
      }),
    ),
  )
    .argument('[scenario...]', 'scenario files, folders, or names of shipped scenarios')
    .addOption(new Option('--kexec-syscall <syscall>', 'force every kexec load through this syscall (legacy bypasses KHO: a negative control)').choices(['file', 'legacy']))
    .addOption(appendOption())
    .option('--kexec-append <args>', "extra command line for the kexec'd kernels only (kho=off there drops the handover: a negative control)")
    .option('-j, --jobs <n>', 'VMs at once (default: the CPU count; lowered to what CPUs and free memory allow)', positiveInt)
    .option(
      '--retries <n>',
      'extra attempts for a scenario ending in an infrastructure error (boot-timeout, ssh-failed, vm-failed, kexec-timeout) or a kernel-hang (retried to confirm it); a known boot-time race (KNOWN_CRASHES) gets at least 3; other failures are never retried',
      nonNegativeInt,
      1,
    )
    .option('--strict-xfail', 'an XPASS (a known kernel bug that did not show) fails its scenario')
    .option('--repeat <n>', 'run every scenario n times, each in a fresh VM: passed only when every repeat passed; repeats that disagree are flaky, a failure', positiveInt, 1)
    .option('--shard <i/n>', 'run only shard i of n (a split by scenario name; join the shards with merge-reports)', parseShard)
    .addOption(coverageOption())
    .option('--kexec-into <spec>', 'kexec into another kernel (built with the same profiles and config); wins over a scenario’s kexec_into')
    .option('--project <file>', 'use this project file instead of the nearest handover.yaml from the current directory up')
    .option('--no-project', 'use no project file')
    .option('--print-config', 'print the settings this run would use and where each comes from (default, handover.yaml:LINE, --option), then exit')
    .action((args: string[], opts: RunCliOptions, cmd: Command) =>
      runCommand(async (signal) => {
        // Everything is validated before anything starts.
        const project = await projectFor(opts, process.cwd());
        const settings = runSettings(cmd, args, project);
        if (opts.printConfig === true) {
          process.stdout.write(`# project file: ${project === undefined ? `none (no ${PROJECT_FILE} from ${process.cwd()} up)` : project.file}\n${formatSettings(settings)}`);
          return OUTCOMES.passed.exit;
        }
        const s = valuesOf(settings);
        const kinds = s.reporters;
        if (opts.kexecInto !== undefined) parseKernelSpec(opts.kexecInto, '--kexec-into');
        const all = await loadSuite(s.scenarios);
        const baseline = await baselineFor(opts.baseline);
        const scenarios = opts.shard === undefined ? all : shardOf(all, opts.shard);
        if (opts.shard !== undefined && scenarios.length === 0) {
          process.stderr.write(`shard ${opts.shard.index}/${opts.shard.total}: no scenarios in this shard (${all.length} in all): writing empty reports\n`);
        }
        const output = resolve(s.output);
        const jobs = s.jobs ?? availableParallelism();
        // The live status comes first: its runEnd lifts the block before the summary is printed;
        // the console's lines go through it, above the block.
        const status = liveStatusFor(opts, signal);
        const reporters: Reporter[] = [status];
        if (kinds.includes('console')) reporters.push(consoleReporter(status.stream, process.stdout, { buffered: Math.min(jobs, scenarios.length * opts.repeat) > 1 }));
        const run = await runSuite({
          scenarios: all,
          wholeSuite: s.scenarios.length === 0,
          // --jobs is the VM count here: make's parallelism is --build-jobs (default: the CPU count).
          kernel: kernelRequest({ kernel: s.kernel, arch: s.arch, config: s.config, profile: s.profiles, ccache: s.ccache, jobs: s.build_jobs }),
          // A cold kernel build takes minutes: show it like `kernel build` does.
          progress: createProgress(),
          accel: s.accel,
          output,
          reports: kinds.filter((k) => k !== 'console'),
          reporters,
          signal,
          jobs,
          retries: s.retries,
          strictXfail: opts.strictXfail === true,
          repeat: opts.repeat,
          ...(opts.shard === undefined ? {} : { shard: opts.shard }),
          ...(baseline === undefined ? {} : { baseline }),
          ...(opts.kexecInto === undefined ? {} : { kexecInto: opts.kexecInto }),
          ...(opts.coverage === true ? { coverage: true } : {}),
          overrides: {
            ...(opts.kexecSyscall === undefined ? {} : { kexecSyscall: opts.kexecSyscall }),
            ...(s.append === undefined ? {} : { append: s.append }),
            ...(s.kexec_append === undefined ? {} : { kexecAppend: s.kexec_append }),
          },
        }).finally(() => status.stop());
        // A plain closing line that CI systems read (the console reporter already printed it).
        if (!kinds.includes('console')) process.stdout.write(`${summaryLine(run)}\n`);
        process.stderr.write(`results: ${output}\n`);
        if (run.coverage !== undefined) {
          for (const f of run.coverage.reports ?? []) process.stderr.write(`coverage: ${f}\n`);
          if (run.coverage.reportNote !== undefined) process.stderr.write(`note: ${run.coverage.reportNote}\n`);
        }
        if (opts.history !== undefined && !signal.aborted) process.stderr.write(`history: ${await storeInHistory(opts.history, run)}\n`);
        if (signal.aborted) return OUTCOMES.interrupted.exit;
        return exitCodeFor(run);
      }),
    );
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of scenario files (scenarios/scenario.schema.json) or of handover.yaml (handover.schema.json)')
    .addArgument(new Argument('[kind]', 'scenario (the default) or project (handover.yaml)').choices(['scenario', 'project']).default('scenario'))
    .action((kind: 'scenario' | 'project') => {
      process.stdout.write(`${JSON.stringify(kind === 'project' ? projectJsonSchema() : scenarioJsonSchema(), null, 2)}\n`);
    });
}
