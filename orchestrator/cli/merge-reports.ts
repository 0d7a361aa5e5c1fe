import { resolve } from 'node:path';
import type { Command } from 'commander';
import { compareRuns, exitCodeFor, consoleReporter, mergeRuns, OUTCOMES, parseReporters, readMergeInputs, REPORTERS, storeInHistory, summaryLine, writeReports } from '../index.ts';
import { addBaselineOptions, addReportOptions } from './options.ts';
import { baselineFor } from './run.ts';
import { runCommand } from './run-command.ts';

interface MergeCliOptions {
  output: string;
  reporter: string;
  baseline?: string;
  history?: string;
}

export function registerMergeReports(program: Command): void {
  addBaselineOptions(addReportOptions(
    program
      .command('merge-reports')
      .description('join the results of shards (handover run --shard i/n) into one report; exit code as run would give')
      .argument('<results...>', "each shard's --output folder or its results.json"),
    { reporters: REPORTERS, known: REPORTERS, output: 'handover-results', outputHelp: 'where the merged reports go' },
  ))
    .action((inputs: string[], opts: MergeCliOptions) =>
      runCommand(async () => {
        const { kinds, bad } = parseReporters(opts.reporter);
        if (bad !== undefined) {
          process.stderr.write(`handover: usage-error: --reporter ${bad}: expected some of ${REPORTERS.join(', ')}\n`);
          return OUTCOMES['usage-error'].exit;
        }
        // Everything is read and checked before anything is written.
        const run = mergeRuns(await readMergeInputs(inputs));
        const baseline = await baselineFor(opts.baseline);
        if (baseline !== undefined) run.comparison = compareRuns(baseline, run);
        const output = resolve(opts.output);
        if (kinds.includes('console')) {
          const r = consoleReporter(process.stderr, process.stdout, { buffered: true });
          process.stderr.write(`merged ${inputs.length} result${inputs.length === 1 ? '' : 's'}: ${(run.mergedFrom ?? []).map((m) => (m.shard === undefined ? m.source : `shard ${m.shard}`)).join(', ')}\n`);
          await r.runEnd?.(run);
        } else {
          process.stdout.write(`${summaryLine(run)}\n`);
        }
        await writeReports(output, run, kinds);
        process.stderr.write(`results: ${output}\n`);
        if (opts.history !== undefined) process.stderr.write(`history: ${await storeInHistory(opts.history, run)}\n`);
        return exitCodeFor(run);
      }),
    );
}
