import { CommanderError } from 'commander';
import { createProgram } from './cli/program.ts';
import { OUTCOMES } from './errors.ts';

const program = createProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // --help and --version end here with code 0; everything else is a usage error.
  process.exitCode = err.exitCode === 0 ? 0 : OUTCOMES['usage-error'].exit;
}
