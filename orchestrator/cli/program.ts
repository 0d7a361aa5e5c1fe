import { Command } from 'commander';
import { registerBisect } from './bisect.ts';
import { registerCache } from './cache.ts';
import { registerDoctor } from './doctor.ts';
import { registerFuzz } from './fuzz.ts';
import { registerKernel } from './kernel.ts';
import { registerConsole, registerMachine } from './machine.ts';
import { registerMatrix } from './matrix.ts';
import { registerMergeReports } from './merge-reports.ts';
import { registerRun, registerSchema } from './run.ts';
import { projectHook } from './project.ts';
import { registerSeries } from './series.ts';

/** The whole command tree; cli.ts parses argv with it, tests read its options. */
export function createProgram(): Command {
  // Set before the subcommands exist: commander copies these settings into each one as it is made,
  // so a bad option anywhere throws (and exits 2) instead of exiting 1 on its own.
  const program = new Command('handover')
    .description('Prove Kexec HandOver and Live Update work, on a real kernel, in a real VM.')
    .showHelpAfterError()
    .exitOverride();
  registerDoctor(program);
  registerKernel(program);
  registerMachine(program);
  registerConsole(program);
  registerRun(program);
  registerFuzz(program);
  registerMatrix(program);
  registerMergeReports(program);
  registerSeries(program);
  registerBisect(program);
  registerSchema(program);
  registerCache(program);
  projectHook(program);
  return program;
}
