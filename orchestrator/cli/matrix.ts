import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { agentFor, consoleReporter, createProgress, DEFAULT_MATRIX_KERNELS, findScenarioFiles, formatMatrix, loadScenarios, matrixToJUnit, OUTCOMES, parseKernelSpec, parseReporters, type Reporter, runMatrix, usageError } from '../index.ts';
import { addAccelOption, addBuildOptions, addReportOptions, type Accel, type BuildOptions } from './options.ts';
import { runCommand } from './run-command.ts';
import { addStatusOptions, liveStatusFor, type StatusCliOptions } from './status.ts';

const REPORTERS = ['console', 'junit', 'json'] as const;
const DEFAULT_SCENARIO = 'memfd-round-trip';

interface MatrixCliOptions extends StatusCliOptions, BuildOptions {
  kernels: string;
  reporter: string;
  output: string;
  accel: Accel;
}

export function registerMatrix(program: Command): void {
  addStatusOptions(
    addAccelOption(addReportOptions(addBuildOptions(program.command('matrix')), { reporters: ['console', 'junit', 'json'], known: REPORTERS, output: 'handover-results', outputHelp: 'where results and artifacts go' })),
  )
    .description('handover between kernels: run scenarios (default: memfd-round-trip) booting each kernel and kexecing into each other one; exit 0 when every pair passes, 1 when one fails')
    .argument('[scenario...]', 'scenario files, folders, or names of shipped scenarios')
    .option('-K, --kernels <specs>', 'comma-separated kernel specs; every ordered pair of two different ones runs', DEFAULT_MATRIX_KERNELS.join(','))
    .action((args: string[], opts: MatrixCliOptions) =>
      runCommand(async (signal) => {
        const { kinds, bad } = parseReporters(opts.reporter, REPORTERS);
        if (bad !== undefined) throw usageError(`--reporter ${bad}: expected some of ${REPORTERS.join(', ')}`);
        const kernels = opts.kernels.split(',').map((s) => s.trim()).filter(Boolean);
        const distinct = new Set(kernels.map((k) => parseKernelSpec(k, '--kernels').text));
        if (distinct.size < 2) throw usageError(`--kernels ${opts.kernels}: expected at least two different kernel specs`);
        const scenarios = await loadScenarios(await findScenarioFiles(args.length === 0 ? [DEFAULT_SCENARIO] : args));
        const output = resolve(opts.output);
        const live = kinds.includes('console');
        const status = liveStatusFor(opts, signal);
        const matrix = await runMatrix({
          kernels,
          scenarios,
          kernel: {
            arch: opts.arch,
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
