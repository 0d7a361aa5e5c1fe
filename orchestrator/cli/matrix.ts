import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { agentFor, consoleReporter, createProgress, DEFAULT_MATRIX_KERNELS, findScenarioFiles, formatMatrix, loadScenarios, matrixToJUnit, OUTCOMES, parseKernelSpec, parseReporters, PROFILES, type Reporter, runMatrix, usageError } from '../index.ts';
import { runCommand } from './run-command.ts';
import { addStatusOptions, liveStatusFor, type StatusCliOptions } from './status.ts';

const REPORTERS = ['console', 'junit', 'json'] as const;
const DEFAULT_SCENARIO = 'memfd-round-trip';

interface MatrixCliOptions extends StatusCliOptions {
  kernels: string;
  config: string[];
  profile: string[];
  jobs?: number;
  ccache: boolean;
  reporter: string;
  output: string;
  accel: 'auto' | 'kvm' | 'tcg';
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerMatrix(program: Command): void {
  addStatusOptions(program.command('matrix'))
    .description('handover between kernels: run scenarios (default: memfd-round-trip) booting each kernel and kexecing into each other one; exit 0 when every pair passes, 1 when one fails')
    .argument('[scenario...]', 'scenario files, folders, or names of shipped scenarios')
    .option('-K, --kernels <specs>', 'comma-separated kernel specs; every ordered pair of two different ones runs', DEFAULT_MATRIX_KERNELS.join(','))
    .option('-c, --config <fragment|CONFIG_X=val>', 'a fragment file or one item, for every kernel (repeatable)', collect, [])
    .option('-p, --profile <name>', `a built-in profile for every kernel: ${Object.keys(PROFILES).join(' or ')} (repeatable)`, collect, [])
    .option('-j, --jobs <n>', 'parallel make jobs (default: CPU count)', (v: string) => Number(v))
    .option('--no-ccache', 'do not use ccache even when installed')
    .option('-r, --reporter <list>', `comma-separated: ${REPORTERS.join(', ')}`, 'console,junit,json')
    .option('-o, --output <dir>', 'where results and artifacts go', 'handover-results')
    .addOption(new Option('--accel <accel>', 'accelerator').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .action((args: string[], opts: MatrixCliOptions) =>
      runCommand(async (signal) => {
        const { kinds, bad } = parseReporters(opts.reporter, REPORTERS);
        if (bad !== undefined) throw usageError(`--reporter ${bad}: expected some of ${REPORTERS.join(', ')}`);
        const kernels = opts.kernels.split(',').map((s) => s.trim()).filter(Boolean);
        const distinct = new Set(kernels.map((k) => parseKernelSpec(k, '--kernels').text));
        if (distinct.size < 2) throw usageError(`--kernels ${opts.kernels}: expected at least two different kernel specs`);
        if (opts.jobs !== undefined && (!Number.isInteger(opts.jobs) || opts.jobs <= 0)) throw usageError('--jobs: expected a positive whole number');
        const scenarios = await loadScenarios(await findScenarioFiles(args.length === 0 ? [DEFAULT_SCENARIO] : args));
        const output = resolve(opts.output);
        const live = kinds.includes('console');
        const status = liveStatusFor(opts, signal);
        const matrix = await runMatrix({
          kernels,
          scenarios,
          kernel: {
            config: opts.config,
            profiles: opts.profile,
            ccache: opts.ccache,
            progress: createProgress(),
            ...(opts.jobs === undefined ? {} : { jobs: opts.jobs }),
          },
          accel: opts.accel,
          output,
          agentFor,
          signal,
          reportersFor: (from, to) => {
            if (live) status.print(`\n=== ${from} → ${to}\n`);
            // The live step lines only; the matrix prints its own summary.
            const r = consoleReporter(status.stream);
            const lines: Reporter[] = live ? [{ scenarioStart: (n, d) => r.scenarioStart?.(n, d), step: (n, st) => r.step?.(n, st), scenarioEnd: (res) => r.scenarioEnd?.(res) }] : [];
            return [status, ...lines];
          },
        }).finally(() => status.stop());
        await mkdir(output, { recursive: true });
        if (kinds.includes('json')) await writeFile(join(output, 'matrix.json'), `${JSON.stringify(matrix, null, 2)}\n`);
        if (kinds.includes('junit')) await writeFile(join(output, 'matrix-junit.xml'), matrixToJUnit(matrix));
        process.stdout.write(live ? `\n${formatMatrix(matrix)}` : `${matrix.summary.passed} passed, ${matrix.summary.failed + matrix.summary.error} failed\n`);
        process.stderr.write(`results: ${output}\n`);
        if (signal.aborted) return OUTCOMES.interrupted.exit;
        if (matrix.summary.failed > 0) return 1;
        const infra = matrix.cells.find((c) => c.status === 'error');
        return infra === undefined ? 0 : OUTCOMES[infra.outcome].exit;
      }),
    );
}
