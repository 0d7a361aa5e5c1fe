import { resolve } from 'node:path';
import type { Command } from 'commander';
import { agentFor, BISECT_EXIT, bisectStep, bisectVerdict, consoleReporter, createProgress, findScenarioFiles, HandoverError, loadScenarios, privateTempDir } from '../index.ts';
import { addAccelOption, addKernelOptions, kernelRequest, type Accel, type KernelOptions } from './options.ts';
import { reportError } from './run-command.ts';

interface BisectCliOptions extends KernelOptions {
  output?: string;
  accel: Accel;
}

/**
 * `git bisect run handover bisect-step …`: builds the checked-out tree, runs the scenarios, and
 * exits 0 (good), 1 (bad), 125 (skip: it does not build, or the VM could not judge it), or
 * above 127 to stop the bisection (bad usage, a missing host tool, Ctrl-C).
 */
export function registerBisect(program: Command): void {
  addAccelOption(addKernelOptions(
    program
      .command('bisect-step')
      .description('for git bisect run: build the tree, run the scenarios; exit 0 good, 1 bad, 125 skip (build or infrastructure failure), 128+ abort')
      .argument('[scenario...]', 'scenario files, folders, or names of shipped scenarios (default: the shipped suite)'),
  ))
    .option('-o, --output <dir>', 'where results go (default: a new temp dir, printed; keep it out of the tree under test)')
    .action(async (args: string[], opts: BisectCliOptions, cmd: Command) => {
      const controller = new AbortController();
      const onSignal = (name: NodeJS.Signals) => controller.abort(new HandoverError('interrupted', `stopped by ${name}`));
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
      try {
        // --kernel defaults to the current directory: git bisect run starts in the work tree.
        const kernel = kernelRequest({ ...opts, kernel: cmd.getOptionValueSource('kernel') === 'default' ? '.' : opts.kernel });
        const scenarios = await loadScenarios(await findScenarioFiles(args));
        const output = opts.output === undefined ? await privateTempDir('bisect') : resolve(opts.output);
        const r = await bisectStep({
          kernel: { ...kernel, progress: createProgress() },
          scenarios,
          accel: opts.accel,
          output,
          agentFor,
          reporters: [consoleReporter(process.stderr, process.stderr)],
          signal: controller.signal,
        });
        const lines = [`bisect-step: ${r.verdict} (exit ${r.exitCode}): ${r.outcome}: ${r.message}`, ...r.evidence.slice(0, 20).map((e) => `  ${e}`), `  results: ${output}`];
        process.stderr.write(`${lines.join('\n')}\n`);
        process.exitCode = r.exitCode;
      } catch (err) {
        // Bad arguments or files: stop the bisection rather than call the commit bad.
        reportError(err);
        process.exitCode = err instanceof HandoverError ? BISECT_EXIT[bisectVerdict(err.outcome)] : BISECT_EXIT.abort;
      } finally {
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      }
    });
}

