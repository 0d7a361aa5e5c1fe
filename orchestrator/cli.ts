import { CommanderError } from 'commander';
import { createProgram } from './cli/program.ts';
import { BISECT_EXIT, OUTCOMES } from './index.ts';

const program = createProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // --help and --version end here with code 0; everything else is a usage error.
  // Under git bisect run, exit 2 would call the commit bad: a bad command line stops the bisection.
  const usage = process.argv[2] === 'bisect-step' ? BISECT_EXIT.abort : OUTCOMES['usage-error'].exit;
  process.exitCode = err.exitCode === 0 ? 0 : usage;
}
