import { Command, CommanderError } from 'commander';
import { registerDoctor } from './cli/doctor.ts';
import { registerKernel } from './cli/kernel.ts';
import { registerRun, registerSchema } from './cli/run.ts';
import { registerConsole, registerMachine } from './cli/machine.ts';
import { registerSeries } from './cli/series.ts';
import { registerBisect } from './cli/bisect.ts';
import { BISECT_EXIT } from './series/bisect.ts';
import { OUTCOMES } from './errors.ts';

const program = new Command('handover')
  .description('Prove Kexec HandOver and Live Update work, on a real kernel, in a real VM.')
  .showHelpAfterError()
  .exitOverride();
registerDoctor(program);
registerKernel(program);
registerMachine(program);
registerConsole(program);
registerRun(program);
registerSchema(program);
registerSeries(program);
registerBisect(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // --help and --version end here with code 0; everything else is a usage error.
  // Under git bisect run, exit 2 would call the commit bad: a bad command line stops the bisection.
  const usage = process.argv[2] === 'bisect-step' ? BISECT_EXIT.abort : OUTCOMES['usage-error'].exit;
  process.exitCode = err.exitCode === 0 ? 0 : usage;
}
