import { Command, CommanderError } from 'commander';
import { registerDoctor } from './cli/doctor.ts';
import { registerKernel } from './cli/kernel.ts';
import { registerMatrix } from './cli/matrix.ts';
import { registerRun, registerSchema } from './cli/run.ts';
import { registerConsole, registerMachine } from './cli/machine.ts';
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
registerMatrix(program);
registerSchema(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // --help and --version end here with code 0; everything else is a usage error.
  process.exitCode = err.exitCode === 0 ? 0 : OUTCOMES['usage-error'].exit;
}
