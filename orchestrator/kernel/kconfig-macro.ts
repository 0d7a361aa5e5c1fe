// The Kconfig preprocessor (scripts/kconfig/preprocess.c), minus anything that runs a program:
// $(VAR) from Kconfig assignments and the environment, user functions with $(1).., and the
// side-effect builtins. $(shell,...) and what depends on it (cc-option, success, ...) stay
// unresolved: the caller keeps the raw text and treats it as an unknown toolchain check.

export interface Preprocessor {
  readonly env: Readonly<Record<string, string>>;
  readonly vars: Map<string, { readonly recursive: boolean; readonly value: string; readonly unresolved: boolean }>;
  assign(name: string, op: string, value: string): void;
}

export interface Expansion {
  readonly text: string;
  /** Something in it needed a program to run or an unknown variable. */
  readonly unresolved: boolean;
}

interface Where {
  readonly file: string;
  readonly line: number;
}

const MAX_DEPTH = 40;

export function newPreprocessor(env: Readonly<Record<string, string>>): Preprocessor {
  const vars: Preprocessor['vars'] = new Map();
  const pp: Preprocessor = {
    env,
    vars,
    assign(name, op, value) {
      const old = vars.get(name);
      if (op === ':=') {
        const exp = expand(pp, value, [], { file: '', line: 0 }, 0);
        vars.set(name, { recursive: false, value: exp.text, unresolved: exp.unresolved });
      } else if (op === '+=' && old !== undefined) {
        const add = old.recursive ? { text: value, unresolved: false } : expand(pp, value, [], { file: '', line: 0 }, 0);
        vars.set(name, { recursive: old.recursive, value: `${old.value} ${add.text}`, unresolved: old.unresolved || add.unresolved });
      } else {
        vars.set(name, { recursive: true, value, unresolved: false });
      }
    },
  };
  return pp;
}

export function expandText(pp: Preprocessor, text: string, where: Where): Expansion {
  return expand(pp, text, [], where, 0);
}

function expand(pp: Preprocessor, text: string, params: readonly string[], where: Where, depth: number): Expansion {
  if (!text.includes('$')) return { text, unresolved: false };
  let out = '';
  let unresolved = false;
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('$(', i);
    if (at < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, at);
    const end = matchParen(text, at + 1);
    const call = depth >= MAX_DEPTH ? null : expandCall(pp, text.slice(at + 2, end - 1), params, where, depth + 1);
    if (call === null || call.unresolved) {
      unresolved = true;
      out += text.slice(at, end);
    } else {
      out += call.text;
    }
    i = end;
  }
  return { text: out, unresolved };
}

/** Index past the `)` matching the `(` at `open`. */
function matchParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return s.length;
}

function splitArgs(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts;
}

const UNRESOLVED: Expansion = { text: '', unresolved: true };

function expandCall(pp: Preprocessor, inner: string, params: readonly string[], where: Where, depth: number): Expansion {
  const rawParts = splitArgs(inner);
  const name = expand(pp, rawParts[0] ?? '', params, where, depth);
  if (name.unresolved) return UNRESOLVED;
  const fn = name.text;
  // Builtins evaluated for their side effects only expand to nothing.
  if (fn === 'info' || fn === 'warning-if' || fn === 'error-if') return { text: '', unresolved: false };
  if (fn === 'filename') return { text: where.file, unresolved: false };
  if (fn === 'lineno') return { text: String(where.line), unresolved: false };
  if (fn === 'shell') return UNRESOLVED;
  const args: string[] = [];
  for (const raw of rawParts.slice(1)) {
    const a = expand(pp, raw, params, where, depth);
    if (a.unresolved) return UNRESOLVED;
    args.push(a.text);
  }
  if (args.length === 0 && /^\d+$/.test(fn)) return { text: params[Number(fn) - 1] ?? '', unresolved: false };
  const v = pp.vars.get(fn);
  if (v !== undefined) {
    if (v.unresolved) return UNRESOLVED;
    return v.recursive ? expand(pp, v.value, args, where, depth) : { text: v.value, unresolved: false };
  }
  if (args.length === 0 && Object.hasOwn(pp.env, fn)) return { text: pp.env[fn] ?? '', unresolved: false };
  return UNRESOLVED;
}
