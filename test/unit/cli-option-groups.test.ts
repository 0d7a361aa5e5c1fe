// Options declared once (orchestrator/cli/options.ts): an option that several commands take is the
// same option on each (flags, help, choices), not a copy that drifts. Only the defaults of
// --reporter and --output are the command's own.
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../../orchestrator/cli/program.ts';

// Their help names what the command writes (its own reporters, its own output).
const OWN_DEFAULTS = new Set(['--reporter', '--output']);
// The same name, another meaning: kernel build's JSON is a build, doctor's the checks.
const OWN_MEANING = new Set(['--json']);
// Commands whose --jobs counts VMs (each names make's jobs --build-jobs); elsewhere -j is make's.
const VM_JOBS = new Set(['run', 'fuzz']);

function commands(cmd: Command, prefix = ''): [string, Command][] {
  return cmd.commands.flatMap((c) => [[`${prefix}${c.name()}`, c] as [string, Command], ...commands(c, `${prefix}${c.name()} `)]);
}

/** Options whose long name several commands share but whose declaration differs, with where. */
function drift(program: Command): string[] {
  const seen = new Map<string, { where: string; shape: string }>();
  const out: string[] = [];
  for (const [name, cmd] of commands(program)) {
    for (const o of cmd.options as Option[]) {
      if (o.long === undefined || OWN_MEANING.has(o.long)) continue;
      const shape = JSON.stringify([o.flags, OWN_DEFAULTS.has(o.long) ? null : o.description, o.argChoices, OWN_DEFAULTS.has(o.long) ? null : o.defaultValue]);
      const first = seen.get(o.long);
      if (first === undefined) seen.set(o.long, { where: name, shape });
      else if (first.shape !== shape && !(o.long === '--jobs' && (VM_JOBS.has(name) || VM_JOBS.has(first.where)))) out.push(`${o.long}: ${first.where} ${first.shape} vs ${name} ${shape}`);
    }
  }
  return out;
}

describe('command options composed from shared groups', () => {
  it('every option several commands take is declared the same way on each', () => {
    const program = createProgram();
    expect(drift(program)).toEqual([]);
    // The groups reach the commands that need them.
    const has = (cmd: string, flag: string) => commands(program).find(([n]) => n === cmd)?.[1].options.some((o) => o.long === flag) === true;
    for (const c of ['run', 'matrix', 'series', 'bisect-step', 'boot', 'exec', 'shell', 'console']) expect(has(c, '--accel'), c).toBe(true);
    for (const c of ['run', 'matrix', 'series', 'merge-reports']) expect(has(c, '--reporter'), c).toBe(true);
    for (const c of ['run', 'matrix', 'series', 'bisect-step', 'kernel build']) expect(has(c, '--config'), c).toBe(true);
  });

  it('control: an option re-declared with its own help on one command is named', () => {
    const program = createProgram();
    program.commands.find((c) => c.name() === 'series')?.option('--history <dir>', 'keep series results here');
    expect(drift(program)).toEqual([expect.stringMatching(/^--history: run .* vs series .*keep series results here/)]);
  });
});
