import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { agentFor, createProgress, findScenarioFiles, formatSeriesTable, loadScenarios, OUTCOMES, parseReporters, runSeries, seriesExitCode, seriesToJUnit } from '../index.ts';
import { addAccelOption, addKernelOptions, addReportOptions, coverageOption, kernelRequest, type Accel, type KernelOptions } from './options.ts';
import { runCommand } from './run-command.ts';
import { addStatusOptions, liveStatusFor, type StatusCliOptions } from './status.ts';

const REPORTERS = ['console', 'junit', 'json'] as const;

interface SeriesCliOptions extends KernelOptions, StatusCliOptions {
  scenarios: string[];
  finalOnly?: boolean;
  each?: boolean;
  testBase?: boolean;
  reporter: string;
  output: string;
  accel: Accel;
  coverage?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerSeries(program: Command): void {
  addStatusOptions(
    addAccelOption(
      addReportOptions(
        addKernelOptions(
          program
            .command('series')
            .description('apply a patch series to a base tree patch by patch: does each apply, build (new warnings) and pass the scenarios; names the first bad patch')
            .argument('<series>', 'an mbox (as b4 am writes it), a folder of git format-patch files, or a git range A..B of the --kernel checkout'),
        ),
        { reporters: ['console', 'junit', 'json'], known: REPORTERS, output: 'handover-series', outputHelp: 'where results go (series.json, junit.xml, one folder per patch)' },
      ),
    ),
  )
    .option('-s, --scenarios <list>', 'scenario files, folders or shipped names, comma-separated or repeated (default: the shipped suite)', collect, [])
    .option('--each', 'build and test after every patch (default)')
    .option('--final-only', 'apply every patch, then build and test once')
    .option('--test-base', 'also run the scenarios on the base tree (it is always built: its warnings are the baseline)')
    .addOption(coverageOption())
    .action((series: string, opts: SeriesCliOptions) =>
      runCommand(async (signal) => {
        const { kinds, bad } = parseReporters(opts.reporter, REPORTERS);
        if (bad !== undefined) {
          process.stderr.write(`handover: usage-error: --reporter ${bad}: expected some of ${REPORTERS.join(', ')}\n`);
          return OUTCOMES['usage-error'].exit;
        }
        if (opts.each === true && opts.finalOnly === true) {
          process.stderr.write('handover: usage-error: --each and --final-only: choose one\n');
          return OUTCOMES['usage-error'].exit;
        }
        // Scenario files are validated before anything is applied or built.
        const scenarios = await loadScenarios(await findScenarioFiles(opts.scenarios));
        const output = resolve(opts.output);
        const status = liveStatusFor(opts, signal);
        const result = await runSeries({
          series,
          kernel: kernelRequest(opts),
          scenarios,
          mode: opts.finalOnly === true ? 'final-only' : 'each',
          ...(opts.testBase === true ? { testBase: true } : {}),
          ...(opts.coverage === true ? { coverage: true } : {}),
          accel: opts.accel,
          output,
          agentFor,
          signal,
          progress: createProgress(),
          // Above the live status's block.
          log: (line) => status.print(`${line}\n`),
          reporters: [status],
        }).finally(() => status.stop());
        await mkdir(output, { recursive: true });
        if (kinds.includes('json')) await writeFile(join(output, 'series.json'), `${JSON.stringify(result, null, 2)}\n`);
        if (kinds.includes('junit')) await writeFile(join(output, 'junit.xml'), seriesToJUnit(result));
        const table = formatSeriesTable(result);
        if (kinds.includes('console')) process.stdout.write(`\n${table}`);
        else process.stdout.write(`${table.trimEnd().split('\n').at(-1) ?? ''}\n`);
        process.stderr.write(`results: ${output}\n`);
        return seriesExitCode(result);
      }),
    );
}
