import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import {
  agentFor,
  createProgress,
  formatFuzz,
  FUZZ_REPORTERS,
  fuzzExitCode,
  OUTCOMES,
  parseDuration,
  parseReporters,
  runFuzz,
  usageError,
  writeFuzzReports,
  type Outcome,
} from '../index.ts';
import { addAccelOption, addKernelOptions, addReportOptions, appendOption, coverageOption, kernelRequest, positiveInt, type Accel, type KernelOptions } from './options.ts';
import { runCommand } from './run-command.ts';
import { addStatusOptions, liveStatusFor, type StatusCliOptions } from './status.ts';

interface FuzzCliOptions extends Omit<KernelOptions, 'jobs'>, StatusCliOptions {
  seed?: number;
  duration?: string;
  programs?: number;
  perBatch: number;
  jobs: number;
  buildJobs?: number;
  shrink: boolean;
  shrinkBudget: string;
  reporter: string;
  output: string;
  accel: Accel;
  append?: string;
  kexecAppend?: string;
  coverage?: boolean;
  coverageAgainst?: string;
}

const seedArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected a whole number from 0 to 4294967295');
  return n;
};

export function registerFuzz(program: Command): void {
  addStatusOptions(
    addAccelOption(
      addReportOptions(
        addKernelOptions(program.command('fuzz'), {
          makeJobsFlag: '--build-jobs <n>',
        }),
        {
          reporters: ['console', 'json', 'junit'],
          known: FUZZ_REPORTERS,
          output: 'handover-fuzz',
          outputHelp: 'where fuzz.json, fuzz-junit.xml, the programs and the findings (finding-N.yaml) go',
        },
      ),
    ),
  )
    .description(
      'generate live-update programs, check every step against the model of the contract, shrink a divergence to a scenario file; exit 0 when nothing is found, 1 on a finding',
    )
    .option('--seed <n>', 'the PRNG seed: the same seed (and --per-batch) generates the same programs (default: random, printed)', seedArg)
    .option('--duration <time>', 'time budget for starting new programs: 90s, 10m, 1h (default 10m unless --programs is given)')
    .option('--programs <n>', 'stop after this many programs', positiveInt)
    .option('--per-batch <n>', 'programs side by side in one VM, sharing its kexecs', positiveInt, 4)
    .option('-j, --jobs <n>', 'VMs at once', positiveInt, 1)
    .option('--no-shrink', 'report findings without shrinking them')
    .option('--shrink-budget <time>', 'time to shrink each finding', '10m')
    .addOption(appendOption())
    .option('--kexec-append <args>', "extra command line for the kexec'd kernels only (kho=off there drops the handover: a negative control)")
    .addOption(coverageOption())
    .option('--coverage-against <tracefile>', "with --coverage: list the lines the programs reached that this lcov tracefile (e.g. the suite's coverage.info from run --coverage) did not")
    .action((opts: FuzzCliOptions) =>
      runCommand(async (signal) => {
        const { kinds, bad } = parseReporters(opts.reporter, FUZZ_REPORTERS);
        if (bad !== undefined) throw usageError(`--reporter ${bad}: expected some of ${FUZZ_REPORTERS.join(', ')}`);
        const durationMs =
          opts.duration === undefined ? (opts.programs === undefined ? parseDuration('10m', '--duration') : undefined) : parseDuration(opts.duration, '--duration');
        const shrinkBudgetMs = parseDuration(opts.shrinkBudget, '--shrink-budget');
        const seed = opts.seed ?? Math.floor(Math.random() * 0x100000000);
        const output = resolve(opts.output);
        const status = liveStatusFor(opts, signal);
        process.stderr.write(`fuzz: seed ${seed} (replay with --seed ${seed}${opts.perBatch === 4 ? '' : ` --per-batch ${opts.perBatch}`})\n`);
        const result = await runFuzz({
          seed,
          ...(durationMs === undefined ? {} : { durationMs }),
          ...(opts.programs === undefined ? {} : { programs: opts.programs }),
          perBatch: opts.perBatch,
          jobs: opts.jobs,
          shrink: opts.shrink,
          shrinkBudgetMs,
          kernel: {
            ...kernelRequest({
              kernel: opts.kernel,
              arch: opts.arch,
              config: opts.config,
              profile: opts.profile,
              ccache: opts.ccache,
              ...(opts.buildJobs === undefined ? {} : { jobs: opts.buildJobs }),
            }),
            progress: createProgress(),
          },
          ...(opts.accel === undefined ? {} : { accel: opts.accel }),
          ...(opts.append === undefined ? {} : { append: opts.append }),
          ...(opts.kexecAppend === undefined ? {} : { kexecAppend: opts.kexecAppend }),
          ...(opts.coverage === true ? { coverage: true } : {}),
          ...(opts.coverageAgainst === undefined ? {} : { coverageAgainst: resolve(opts.coverageAgainst) }),
          agentFor,
          signal,
          output,
          reporters: [status],
          onProgress: (p) =>
            status.print(
              `fuzz: ${(p.elapsedMs / 1000).toFixed(0)} s: ${p.programs} programs, ${p.kexecs} kexecs, ${p.findings} finding${p.findings === 1 ? '' : 's'}, coverage ${p.covered}/${p.coverable}${p.kernelLines === undefined ? '' : `, kernel lines ${p.kernelLines.hit}/${p.kernelLines.found}`}${p.phase === 'shrinking' ? ' (shrinking)' : ''}\n`,
            ),
        }).finally(() => status.stop());
        await writeFuzzReports(result, output, kinds);
        if (kinds.includes('console')) process.stdout.write(formatFuzz(result));
        process.stderr.write(`results: ${output}\n`);
        if (signal.aborted) return OUTCOMES.interrupted.exit;
        return fuzzExitCode(result, (o: Outcome) => OUTCOMES[o].exit);
      }),
    );
}
