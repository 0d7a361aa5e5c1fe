// The generated parts of docs/: the CLI reference (from the real command tree) and the step
// reference (from the scenario schema), plus the checks every page gets: Markdown links that
// resolve and handover command lines the CLI accepts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { commandLine, type CommandLine } from './cli-lines.ts';

export const CLI_START = '<!-- cli-reference: generated from orchestrator/cli/program.ts; test/unit/docs.test.ts checks it -->';
export const CLI_END = '<!-- /cli-reference -->';
export const STEPS_START = '<!-- step-reference: generated from orchestrator/scenario/schema.ts; test/unit/docs.test.ts checks it -->';
export const STEPS_END = '<!-- /step-reference -->';

const cell = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function optionRow(o: Option): string {
  const def = o.defaultValue === undefined || o.negate ? '' : `\`${JSON.stringify(o.defaultValue)}\``;
  const choices = o.argChoices === undefined ? '' : ` (${o.argChoices.join(', ')})`;
  return `| \`${cell(o.flags)}\` | ${cell(o.description)}${choices} | ${def} |`;
}

/** Every command (subcommands under their parent's name) with its usage, description and options. */
export function cliReference(program: Command): string {
  const out: string[] = [CLI_START];
  const walk = (cmd: Command, prefix: string) => {
    for (const sub of cmd.commands) {
      const name = `${prefix}${sub.name()}`;
      const visible = sub.options.filter((o) => !o.hidden);
      out.push('', `### \`handover ${name}\``, '', cell(sub.description()), '', '```text', `handover ${name} ${sub.usage()}`, '```');
      if (visible.length > 0) out.push('', '| option | what | default |', '|---|---|---|', ...visible.map(optionRow));
      walk(sub, `${name} `);
    }
  };
  walk(program, '');
  out.push('', CLI_END);
  return out.join('\n');
}

interface JsonSchema {
  description?: string;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  type?: string | string[];
  items?: JsonSchema;
}

/** The fields a step's body takes (object bodies, and objects inside a union), or its value type. */
function fieldsOf(body: JsonSchema): string {
  const objects = [body, ...(body.anyOf ?? []), ...(body.oneOf ?? [])].filter((s) => s.properties !== undefined);
  const names = [...new Set(objects.flatMap((s) => Object.keys(s.properties ?? {})))];
  if (names.length > 0) return names.map((n) => `\`${n}\``).join(', ');
  const types = [body, ...(body.anyOf ?? [])].map((s) => (s.type === 'array' ? `${String(s.items?.type ?? 'value')} list` : s.type)).filter(Boolean);
  return types.length > 0 ? `(${[...new Set(types)].join(' or ')})` : '';
}

/** One row per step kind: what it does and its fields, from the published scenario schema. */
export function stepReference(steps: Record<string, JsonSchema>, common: readonly string[]): string {
  const rows = Object.entries(steps).map(([kind, body]) => `| \`${kind}\` | ${cell(body.description ?? '')} | ${fieldsOf(body)} |`);
  return [
    STEPS_START,
    '| step | what it does | fields |',
    '|---|---|---|',
    ...rows,
    '',
    `Every step also takes ${common.map((c) => `\`${c}\``).join(', ')}.`,
    STEPS_END,
  ].join('\n');
}

/** The generated block of a page, or undefined when its markers are missing. */
export function block(text: string, start: string, end: string): string | undefined {
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  return a < 0 || b < a ? undefined : text.slice(a, b + end.length);
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(text: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const m = fence ? null : /^#{1,6} (.+)$/.exec(line);
    if (m?.[1] !== undefined) out.add(anchorOf(m[1]));
  }
  return out;
}

/** Relative links of a Markdown file that point at no file, or at no heading of it. */
export function brokenLinks(file: string, text: string, readFile = (f: string) => readFileSync(f, 'utf8')): string[] {
  const out: string[] = [];
  const body = text.replace(/```[\s\S]*?```/g, (m) => m.replace(/[^\n]/g, ' '));
  for (const m of body.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1] ?? '';
    if (/^[a-z]+:/.test(target)) continue;
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const to = path === '' ? file : resolve(dirname(file), path);
    const line = text.slice(0, m.index).split('\n').length;
    if (path !== '' && !existsSync(to)) out.push(`${file}:${line}: ${target}: no such file`);
    else if (anchor !== undefined && to.endsWith('.md') && !anchors(path === '' ? text : readFile(to)).has(anchor)) out.push(`${file}:${line}: ${target}: no heading #${anchor}`);
  }
  return out;
}

/** Handover command lines in a Markdown text: in shell code blocks and in inline code. */
export function markdownCommandLines(text: string, where: string): CommandLine[] {
  const out: CommandLine[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const f = /^```(\w*)/.exec(line);
    if (f !== null) {
      fence = fence === undefined ? (f[1] ?? '') : undefined;
      return;
    }
    const candidates = fence === undefined ? [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '') : ['sh', 'bash', ''].includes(fence) ? [line] : [];
    for (const c of candidates) {
      // A command line starts with the command: prose that says "the handover did…" is not one.
      const m = /^\s*(?:\$ )?(?:npx |git bisect run |node bin\/handover\.js )?handover\s+([a-z][a-z-]*(?:\s.*)?)$/.exec(c.replace(/^node bin\/handover\.js /, 'handover '));
      if (m?.[1] === undefined) continue;
      // The command ends where the shell goes on: a pipe, &&, ;, a redirect or a comment (A|B is usage).
      const cmd = m[1].split(/\s(?:\||&&|;|>|2>|#)(?:\s|$)|;/)[0] ?? '';
      // Usage notation ([--x], A|B, N…) reduced to the words; stop at "--" (the guest's argv follows).
      const words = cmd.split(/\s+/).flatMap((w) => w.replace(/^[[(]+|[\])…,]+$/g, '').split('|')).filter(Boolean);
      const end = words.indexOf('--');
      out.push(commandLine(`${where}:${i + 1}`, end < 0 ? words : words.slice(0, end)));
    }
  });
  return out;
}

export const DOCS_DIR = (root: string) => join(root, 'docs');
