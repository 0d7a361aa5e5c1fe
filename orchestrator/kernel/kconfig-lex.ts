// Line-level lexing for the Kconfig parser: tokens (scripts/kconfig/lexer.l), help indentation,
// `$(...)` extents and the small glob older trees use in `source`.

import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Operand, Token } from './kconfig-expr.ts';
import { type Preprocessor, expandText } from './kconfig-macro.ts';
import type { Location } from './kconfig-types.ts';

/** Splits a logical line into tokens (lexer.l), expanding $(...) and dropping # comments. */
export function tokenize(line: string, loc: Location, pp: Preprocessor, warn: (loc: Location, message: string) => void): Token[] {
  const out: Token[] = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    const ch = line[i] ?? '';
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
    } else if (ch === '#') {
      break;
    } else if (ch === '"' || ch === "'") {
      let s = '';
      i++;
      while (i < n && line[i] !== ch) {
        if (line[i] === '\\' && i + 1 < n) i++;
        if (line[i] === '$' && line[i + 1] === '(') {
          const end = macroEnd(line, i);
          s += expandText(pp, line.slice(i, end), loc).text;
          i = end;
        } else {
          s += line[i] ?? '';
          i++;
        }
      }
      i++;
      out.push({ t: 'str', text: s });
    } else if (isWordChar(line.charCodeAt(i)) || ch === '$') {
      const start = i;
      let hasMacro = false;
      while (i < n) {
        const c = line.charCodeAt(i);
        if (c === DOLLAR && line[i + 1] === '(') {
          hasMacro = true;
          i = macroEnd(line, i);
        } else if (isWordChar(c) || c === DOLLAR) {
          i++;
        } else break;
      }
      const text = line.slice(start, i);
      if (!hasMacro) {
        out.push({ t: 'word', text });
        continue;
      }
      const exp = expandText(pp, text, loc);
      if (exp.unresolved) out.push({ t: 'macro', text });
      else if (exp.text.trim() !== '') out.push({ t: 'word', text: exp.text.trim() });
    } else {
      const two = line.slice(i, i + 2);
      if (['&&', '||', '!=', '<=', '>=', ':=', '+='].includes(two)) {
        out.push({ t: 'op', text: two });
        i += 2;
      } else if ('!=<>()'.includes(ch)) {
        out.push({ t: 'op', text: ch });
        i++;
      } else {
        warn(loc, `ignoring unsupported character '${ch}'`);
        i++;
      }
    }
  }
  return out;
}

const DOLLAR = 36;

/** [A-Za-z0-9_-], the lexer's word characters; by char code because this runs per character. */
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45;
}

export function tokenOperand(tok: Token | undefined): Operand | null {
  if (tok === undefined || tok.t === 'op') return null;
  if (tok.t === 'str') return { kind: 'const', value: tok.text };
  if (tok.t === 'macro') return { kind: 'macro', text: tok.text };
  return { kind: 'sym', name: tok.text };
}

/** Columns of leading whitespace, tabs to the next multiple of 8 (as the help lexer counts). */
export function indentOf(line: string): number {
  let ts = 0;
  for (const ch of line) {
    if (ch === '\t') ts = (ts & ~7) + 8;
    else if (ch === ' ') ts++;
    else break;
  }
  return ts;
}

/** Index just past the `)` matching the `$(` at `start` (parentheses nest, quotes do not matter,
 * as in scripts/kconfig/preprocess.c). */
export function macroEnd(s: string, start: number): number {
  let depth = 0;
  for (let i = start + 1; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return s.length;
}

/** Minimal glob for `source "dir/*\/Kconfig"` (older kernels): `*`, `?` and `[...]` within a
 * path segment. Sorted, like glob(3). */
export function globFiles(tree: string, pattern: string): string[] {
  let paths = [''];
  for (const seg of pattern.split('/')) {
    if (seg === '') continue;
    if (!/[*?[]/.test(seg)) {
      paths = paths.map((p) => (p === '' ? seg : `${p}/${seg}`));
      continue;
    }
    const re = new RegExp(`^${seg.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    const next: string[] = [];
    for (const p of paths) {
      let names: string[];
      try {
        names = readdirSync(join(tree, p)).sort();
      } catch {
        continue;
      }
      for (const name of names) if (re.test(name)) next.push(p === '' ? name : `${p}/${name}`);
    }
    paths = next;
  }
  return paths.map((p) => relative(tree, join(tree, p)));
}
