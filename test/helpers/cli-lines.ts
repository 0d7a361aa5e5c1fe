// Handover command lines found in texts (CI files, Markdown code blocks), checked against the real
// command tree: every command and option named must exist.
import type { Command, Option } from 'commander';

export interface CommandLine {
  where: string;
  command: string;
  options: string[];
  reporters: string[];
}

/**
 * Every handover invocation in a CI text: `node "$HANDOVER_BIN" CMD …` or `node …bin/handover.js
 * CMD …`, and run-shard.sh's `args=(run)` … `args+=(…)` arrays.
 */
export function commandLines(text: string, where: string): CommandLine[] {
  const out: CommandLine[] = [];
  const lineOf = (i: number) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(/\bnode\s+(?:"\$\{?HANDOVER_BIN\}?"|\S*bin\/handover\.js)\s+([^\n]*)/g)) {
    const tokens = (m[1] ?? '').split(/\s+/).filter(Boolean);
    if ((tokens[0] ?? '').startsWith('"${args')) continue;
    out.push(commandLine(`${where}:${lineOf(m.index)}`, tokens));
  }
  const start = /\bargs=\((\w[\w-]*)\)/.exec(text);
  if (start !== null) {
    const tokens = [...text.matchAll(/\bargs\+=\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(/\s+/).filter(Boolean));
    out.push(parseTokens(`${where}:${lineOf(start.index)}`, start[1] ?? '', tokens));
  }
  return out;
}

/** One invocation's words after `handover`: the command (with its subcommand) and its options. */
export function commandLine(where: string, tokens: string[]): CommandLine {
  const sub = tokens[1];
  const command = (tokens[0] === 'kernel' || tokens[0] === 'cache') && sub !== undefined && !sub.startsWith('-') ? `${tokens[0]} ${sub}` : (tokens[0] ?? '');
  return parseTokens(where, command, tokens);
}

function parseTokens(where: string, command: string, tokens: string[]): CommandLine {
  const options: string[] = [];
  const reporters: string[] = [];
  for (const [i, t] of tokens.entries()) {
    if (!/^--?[A-Za-z]/.test(t)) continue;
    const name = t.split('=')[0] as string;
    options.push(name);
    if (name === '-r' || name === '--reporter') reporters.push(...(tokens[i + 1] ?? '').split(','));
  }
  return { where, command, options, reporters };
}

/** What is wrong with a command line against the real CLI; [] when nothing. */
export function problems(cli: Command, line: CommandLine): string[] {
  const words = line.command.split(' ');
  let cmd: Command | undefined = cli;
  for (const w of words) cmd = cmd?.commands.find((c) => c.name() === w);
  if (cmd === undefined) return [`${line.where}: no command '${line.command}'`];
  const known = (o: string) => cmd.options.some((opt: Option) => opt.long === o || opt.short === o || opt.long === o.replace(/^--no-/, '--'));
  const out = line.options.filter((o) => !known(o)).map((o) => `${line.where}: ${line.command} has no option ${o}`);
  const reporter = cmd.options.find((o) => o.long === '--reporter');
  for (const r of line.reporters) {
    if (reporter === undefined || !reporter.description.includes(r)) out.push(`${line.where}: no reporter '${r}'`);
  }
  return out;
}

