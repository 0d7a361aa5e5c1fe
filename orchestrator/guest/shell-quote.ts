// POSIX sh quoting for commands sent over SSH. sshd hands the command string to the user's shell
// (busybox ash in the guest), so every argv element is quoted unless it is plainly safe.

/** Characters that never need quoting in any position. `=` is left out: `A=b cmd` is an assignment. */
const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;

/** Words the shell parses as syntax when unquoted in command position. */
const RESERVED = new Set([
  'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'case', 'esac', 'while', 'until', 'for', 'in',
  'function', 'select', 'time', 'coproc',
]);

/** Quote one argument so the shell passes it through as exactly one word, byte for byte. */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument cannot contain a NUL byte');
  if (SAFE.test(arg) && !RESERVED.has(arg)) return arg;
  // Inside single quotes nothing is special; a ' is written as '\'' (close, escaped ', reopen).
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** A shell command line that runs argv exactly, with no expansion or word splitting. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty argv');
  return argv.map(quoteArg).join(' ');
}
