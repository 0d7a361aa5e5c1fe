// docs/: each page against what it describes. The CLI reference is the real command tree, the step
// reference the scenario schema; every handover command line in README.md and docs/ uses commands
// and options the CLI has; every relative link and #anchor resolves. HANDOVER_UPDATE_TABLES=1
// rewrites the generated blocks.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProgram } from '../../orchestrator/cli/program.ts';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { STEP_KINDS, STEP_SCHEMAS } from '../../orchestrator/scenario/schema.ts';
import { problems } from '../helpers/cli-lines.ts';
import {
  block,
  brokenLinks,
  CLI_END,
  CLI_START,
  cliReference,
  markdownCommandLines,
  stepReference,
  STEPS_END,
  STEPS_START,
} from '../helpers/docs-reference.ts';

const DOCS = join(PACKAGE_ROOT, 'docs');
const pages = [join(PACKAGE_ROOT, 'README.md'), ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => join(DOCS, f))];
const read = (f: string) => readFileSync(f, 'utf8');
const rel = (f: string) => f.slice(PACKAGE_ROOT.length + 1);

const COMMON = ['name', 'timeout', 'expect_error', 'xfail', 'promise', 'requires'];
function steps() {
  return Object.fromEntries(
    STEP_KINDS.map((k) => {
      const s = z.toJSONSchema(STEP_SCHEMAS[k], { io: 'input' }) as { properties: Record<string, object> };
      return [k, s.properties[k] as object];
    }),
  );
}

/** The page's generated block is `want`; with HANDOVER_UPDATE_TABLES=1 it is rewritten instead. */
function generated(file: string, start: string, end: string, want: string) {
  const text = read(file);
  const have = block(text, start, end);
  expect(have, `${rel(file)} has the generated block ${start}`).toBeDefined();
  if (process.env.HANDOVER_UPDATE_TABLES === '1') writeFileSync(file, text.replace(have ?? '', want));
  else expect(have).toBe(want);
}

describe('docs/cli.md', () => {
  it('is the real command tree: every command, its usage and every option', () => {
    generated(join(DOCS, 'cli.md'), CLI_START, CLI_END, cliReference(createProgram()));
  });

  it('control: an option the page does not list makes the reference differ, naming it', () => {
    const program = createProgram();
    const have = cliReference(program);
    program.commands.find((c) => c.name() === 'run')?.option('--frobnicate', 'a new option');
    const want = cliReference(program);
    expect(want).not.toBe(have);
    expect(want.split('\n').filter((l) => !have.split('\n').includes(l))).toEqual(['| `--frobnicate` | a new option |  |']);
  });
});

describe('docs/scenarios.md', () => {
  it('lists every step kind of the schema with its fields', () => {
    const want = stepReference(steps(), COMMON);
    for (const k of STEP_KINDS) expect(want).toContain(`| \`${k}\` |`);
    generated(join(DOCS, 'scenarios.md'), STEPS_START, STEPS_END, want);
  });

  it('control: a step kind the schema gains is a row the page lacks', () => {
    const more = { ...steps(), reboot: { description: 'a plain reboot', type: 'object', properties: { force: {} } } };
    expect(stepReference(more, COMMON)).toContain('| `reboot` | a plain reboot | `force` |');
  });
});

describe('every page', () => {
  const cli = createProgram();

  it('names only commands and options the CLI has', () => {
    const lines = pages.flatMap((f) => markdownCommandLines(read(f), rel(f)));
    // The README's examples and the reference pages' prose together name every top-level command.
    expect(new Set(lines.map((l) => l.command.split(' ')[0]))).toEqual(new Set(cli.commands.map((c) => c.name())));
    expect(lines.flatMap((l) => problems(cli, l))).toEqual([]);
  });

  it('control: a misspelt option or an unknown command in a code block or inline code is reported at its line', () => {
    const text = 'Run it:\n\n```sh\nhandover run --jbos 2 memfd-round-trip   # two at a time\n```\n\nor `handover frob --x`.\n';
    const found = markdownCommandLines(text, 'x.md');
    expect(found.flatMap((l) => problems(cli, l))).toEqual(['x.md:4: run has no option --jbos', "x.md:7: no command 'frob'"]);
    // Usage notation and the guest's argv after -- are not options.
    const usage = markdownCommandLines('```sh\nhandover exec [--timeout S] -- ls --all\nhandover series SERIES [--each|--final-only]\n```\n', 'u.md');
    expect(usage.flatMap((l) => problems(cli, l))).toEqual([]);
    expect(usage.map((l) => l.options)).toEqual([['--timeout'], ['--each', '--final-only']]);
  });

  it('links only to files and headings that exist', () => {
    expect(pages.length).toBeGreaterThan(5);
    expect(pages.flatMap((f) => brokenLinks(f, read(f))).map((p) => p.slice(PACKAGE_ROOT.length + 1))).toEqual([]);
  });

  it('control: a link to a missing page or heading is reported with its line', () => {
    const file = join(DOCS, 'x.md');
    const text = '# X\n\n## Real one\n\nSee [a](#real-one), [b](#no-such), [c](scenarios.md#no-leaks), [d](nope.md).\n';
    expect(brokenLinks(file, text).map((p) => p.slice(PACKAGE_ROOT.length + 1))).toEqual(['docs/x.md:5: #no-such: no heading #no-such', 'docs/x.md:5: nope.md: no such file']);
  });
});



