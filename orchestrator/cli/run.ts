import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { OUTCOMES } from '../errors.ts';
import { consoleReporter, type Reporter } from '../report/console-reporter.ts';
import { createProgress } from '../report/progress.ts';
import { toJUnit } from '../report/junit.ts';
import { toKtap } from '../report/ktap.ts';
import type { RunResult } from '../report/results.ts';
import { parseKernelSpec } from '../kernel/spec.ts';
import { agentFor } from '../scenario/agent-binding.ts';
import { findScenarioFiles } from '../scenario/discover.ts';
import { loadScenarios } from '../scenario/load.ts';
import { runScenarios } from '../scenario/runner.ts';
import { scenarioJsonSchema } from '../scenario/schema.ts';
import { addKernelOptions, kernelRequest, type KernelOptions } from './options.ts';
import { runCommand } from './run-command.ts';

const REPORTERS = ['console', 'junit', 'json', 'ktap'] as const;

interface RunCliOptions extends KernelOptions {
  reporter: string;
  output: string;
  accel: 'auto' | 'kvm' | 'tcg';
  kexecSyscall?: 'file' | 'legacy';
  append?: string;
  kexecAppend?: string;
  kexecInto?: string;
}

/** Files for the machine reporters, written when the run ends. */
function fileReporter(dir: string, kinds: readonly string[]): Reporter {
  return {
    async runEnd(run: RunResult) {
      await mkdir(dir, { recursive: true });
      if (kinds.includes('json')) await writeFile(join(dir, 'results.json'), `${JSON.stringify(run, null, 2)}\n`);
      if (kinds.includes('junit')) await writeFile(join(dir, 'junit.xml'), toJUnit(run));
      if (kinds.includes('ktap')) await writeFile(join(dir, 'results.ktap'), toKtap(run));
    },
  };
}

export function registerRun(program: Command): void {
  addKernelOptions(program.command('run').description('run scenarios (default: the shipped suite) and report; exit 0 when all pass, 1 on failures'))
    .argument('[scenario...]', 'scenario files, folders, or names of shipped scenarios')
    .option('-r, --reporter <list>', `comma-separated: ${REPORTERS.join(', ')}`, 'console,junit,json,ktap')
    .option('-o, --output <dir>', 'where results and artifacts go', 'handover-results')
    .addOption(new Option('--accel <accel>', 'accelerator').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .addOption(new Option('--kexec-syscall <syscall>', 'force every kexec load through this syscall (legacy bypasses KHO: a negative control)').choices(['file', 'legacy']))
    .option('-a, --append <args>', 'extra kernel command line for every boot (e.g. kho=off, a negative control)')
    .option('--kexec-append <args>', "extra command line for the kexec'd kernels only (kho=off there drops the handover: a negative control)")
    .option('--kexec-into <spec>', 'kexec into another kernel (built with the same profiles and config); wins over a scenario’s kexec_into')
    .action((args: string[], opts: RunCliOptions) =>
      runCommand(async (signal) => {
        const kinds = opts.reporter.split(',').map((s) => s.trim()).filter(Boolean);
        const bad = kinds.find((k) => !(REPORTERS as readonly string[]).includes(k));
        if (bad !== undefined) {
          process.stderr.write(`handover: usage-error: --reporter ${bad}: expected some of ${REPORTERS.join(', ')}\n`);
          return OUTCOMES['usage-error'].exit;
        }
        // Everything is validated before anything starts.
        if (opts.kexecInto !== undefined) parseKernelSpec(opts.kexecInto, '--kexec-into');
        const scenarios = await loadScenarios(await findScenarioFiles(args));
        const output = resolve(opts.output);
        const reporters: Reporter[] = [fileReporter(output, kinds)];
        if (kinds.includes('console')) reporters.unshift(consoleReporter());
        const run = await runScenarios({
          scenarios,
          // A cold kernel build takes minutes: show it like `kernel build` does.
          kernel: { ...kernelRequest(opts), progress: createProgress() },
          accel: opts.accel,
          output,
          reporters,
          agentFor,
          signal,
          ...(opts.kexecInto === undefined ? {} : { kexecInto: opts.kexecInto }),
          overrides: {
            ...(opts.kexecSyscall === undefined ? {} : { kexecSyscall: opts.kexecSyscall }),
            ...(opts.append === undefined ? {} : { append: opts.append }),
            ...(opts.kexecAppend === undefined ? {} : { kexecAppend: opts.kexecAppend }),
          },
        });
        const s = run.summary;
        // A plain closing line that CI systems read (the console reporter already printed it).
        if (!kinds.includes('console')) process.stdout.write(`${s.passed} passed, ${s.failed + s.error} failed${s.skipped > 0 ? `, ${s.skipped} skipped` : ''}\n`);
        process.stderr.write(`results: ${output}\n`);
        if (signal.aborted) return OUTCOMES.interrupted.exit;
        if (s.failed > 0) return 1;
        const infra = run.scenarios.find((r) => r.status === 'error');
        return infra === undefined ? 0 : OUTCOMES[infra.outcome ?? 'vm-failed'].exit;
      }),
    );
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of scenario files (scenarios/scenario.schema.json)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
    });
}
