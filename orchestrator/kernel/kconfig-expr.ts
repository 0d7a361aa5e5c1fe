// Kconfig expressions: the AST, a parser over lexer tokens, tristate evaluation against a final
// .config, and rendering with each symbol's current value the way menuconfig shows it.
// Semantics follow scripts/kconfig/expr.c (expr_calc_value, expr_parse_string).

export type SymbolType = 'bool' | 'tristate' | 'string' | 'int' | 'hex' | 'unknown';

export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** A Kconfig symbol reference (also `y`/`m`/`n` and bare numbers, which Kconfig treats as
 * symbols too), a quoted constant, or a preprocessor call ($(cc-option,...)) we cannot run. */
export type Operand =
  | { readonly kind: 'sym'; readonly name: string }
  | { readonly kind: 'const'; readonly value: string }
  | { readonly kind: 'macro'; readonly text: string };

export type Expr =
  | Operand
  | { readonly kind: 'not'; readonly arg: Expr }
  | { readonly kind: 'and' | 'or'; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'cmp'; readonly op: CompareOp; readonly left: Operand; readonly right: Operand };

/** 0 = n, 1 = m, 2 = y. */
export type Tristate = 0 | 1 | 2;

export type Token =
  | { readonly t: 'word'; readonly text: string }
  | { readonly t: 'str'; readonly text: string }
  | { readonly t: 'macro'; readonly text: string }
  | { readonly t: 'op'; readonly text: string };

export class ExprSyntaxError extends Error {}

const CMP_OPS = new Set<string>(['=', '!=', '<', '<=', '>', '>=']);

/** Parses tokens[start..] up to the end or a top-level `if` keyword. Precedence as parser.y:
 * `||` < `&&` < `!` < comparison. */
export function parseExprTokens(tokens: readonly Token[], start: number): { expr: Expr; next: number } {
  let pos = start;
  const peek = (): Token | undefined => tokens[pos];
  const isOp = (text: string): boolean => {
    const tok = peek();
    return tok?.t === 'op' && tok.text === text;
  };
  const operand = (): Operand => {
    const tok = peek();
    if (tok === undefined) throw new ExprSyntaxError('expression ends early');
    if (tok.t === 'op') throw new ExprSyntaxError(`unexpected "${tok.text}"`);
    if (tok.t === 'word' && tok.text === 'if') throw new ExprSyntaxError('unexpected "if"');
    pos++;
    if (tok.t === 'str') return { kind: 'const', value: tok.text };
    if (tok.t === 'macro') return { kind: 'macro', text: tok.text };
    return { kind: 'sym', name: tok.text };
  };
  const primary = (): Expr => {
    if (isOp('!')) {
      pos++;
      return { kind: 'not', arg: primary() };
    }
    if (isOp('(')) {
      pos++;
      const inner = orExpr();
      if (!isOp(')')) throw new ExprSyntaxError('missing ")"');
      pos++;
      return inner;
    }
    const left = operand();
    const tok = peek();
    if (tok?.t === 'op' && CMP_OPS.has(tok.text)) {
      pos++;
      return { kind: 'cmp', op: tok.text as CompareOp, left, right: operand() };
    }
    return left;
  };
  const andExpr = (): Expr => {
    let left = primary();
    while (isOp('&&')) {
      pos++;
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const orExpr = (): Expr => {
    let left = andExpr();
    while (isOp('||')) {
      pos++;
      left = { kind: 'or', left, right: andExpr() };
    }
    return left;
  };
  const expr = orExpr();
  const rest = peek();
  if (rest !== undefined && !(rest.t === 'word' && rest.text === 'if')) {
    throw new ExprSyntaxError(`unexpected "${rest.text}" after expression`);
  }
  return { expr, next: pos };
}

export const andOf = (left: Expr | null, right: Expr | null): Expr | null =>
  left === null ? right : right === null ? left : { kind: 'and', left, right };

/** `depends on X if Y` means X || Y = n (scripts/kconfig/menu.c, menu_add_dep). */
export function conditionalDep(dep: Expr, cond: Expr | null): Expr {
  if (cond === null) return dep;
  // A comparison takes operands only; for a compound Y, !Y differs from Y = n only when Y is m.
  const off: Expr =
    cond.kind === 'sym' || cond.kind === 'const' || cond.kind === 'macro'
      ? { kind: 'cmp', op: '=', left: cond, right: { kind: 'sym', name: 'n' } }
      : { kind: 'not', arg: cond };
  return { kind: 'or', left: dep, right: off };
}

/** What an evaluation sees: final values (CONFIG_ prefix stripped, strings unquoted) and,
 * when known, symbol types (for int/hex comparisons and for undefined symbols). */
export interface EvalEnv {
  readonly values: ReadonlyMap<string, string>;
  /** Undefined when the symbol is not defined in Kconfig. Without it, a symbol counts as
   * defined when it has a value. */
  readonly typeOf?: (name: string) => SymbolType | undefined;
  /** Treat a literal `m` as `m && MODULES`, as Kconfig does inside dependencies. */
  readonly rewriteM?: boolean;
  /** Value assumed for preprocessor calls we cannot run (default y: toolchain checks passed). */
  readonly macroValue?: Tristate;
}

const TRI: Readonly<Record<string, Tristate>> = { n: 0, m: 1, y: 2 };

function symType(env: EvalEnv, name: string): SymbolType | undefined {
  if (name === 'y' || name === 'm' || name === 'n') return 'tristate';
  if (env.typeOf !== undefined) return env.typeOf(name);
  return env.values.has(name) ? 'unknown' : undefined;
}

/** The tristate a bare symbol evaluates to. Only bool/tristate symbols are ever m/y. */
export function symbolTristate(env: EvalEnv, name: string): Tristate {
  if (name === 'y') return 2;
  if (name === 'n') return 0;
  if (name === 'm') return env.rewriteM === true ? (Math.min(1, symbolTristate(env, 'MODULES')) as Tristate) : 1;
  const type = symType(env, name);
  if (type === 'bool' || type === 'tristate' || (type === 'unknown' && env.typeOf === undefined)) {
    return TRI[env.values.get(name) ?? 'n'] ?? 0;
  }
  return 0;
}

/** The string Kconfig compares for an operand (sym_get_string_value). */
export function operandString(env: EvalEnv, op: Operand): { str: string; type: SymbolType } {
  if (op.kind === 'const') return { str: op.value, type: 'unknown' };
  if (op.kind === 'macro') return { str: op.text, type: 'unknown' };
  // `m` in a comparison stays m: Kconfig rewrites only a bare `m` to `m && MODULES`.
  if (op.name === 'y' || op.name === 'm' || op.name === 'n') return { str: op.name, type: 'tristate' };
  const type = symType(env, op.name);
  if (type === undefined) return { str: op.name, type: 'unknown' }; // undefined symbols are their name
  if (type === 'bool' || type === 'tristate') return { str: 'nmy'[symbolTristate(env, op.name)] ?? 'n', type };
  const v = env.values.get(op.name);
  if (v !== undefined) return { str: v, type };
  return { str: type === 'int' ? '0' : type === 'hex' ? '0x0' : '', type };
}

function parseNumber(str: string, type: SymbolType): bigint | undefined {
  if (type === 'bool' || type === 'tristate') return BigInt(TRI[str] ?? -1);
  let re: RegExp;
  if (type === 'int') re = /^[+-]?\d+$/;
  else if (type === 'hex') re = /^(0[xX])?[0-9a-fA-F]+$/;
  else re = /^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/;
  if (!re.test(str)) return undefined;
  try {
    if (type === 'hex') return BigInt(str.startsWith('0x') || str.startsWith('0X') ? str : `0x${str}`);
    const neg = str.startsWith('-');
    const body = str.replace(/^[+-]/, '');
    const n = /^0[0-7]+$/.test(body) && type !== 'int' ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
    return neg ? -n : n;
  } catch {
    return undefined;
  }
}

function compare(env: EvalEnv, op: CompareOp, left: Operand, right: Operand): Tristate {
  const l = operandString(env, left);
  const r = operandString(env, right);
  let res: number;
  const ln = l.type === 'string' && r.type === 'string' ? undefined : parseNumber(l.str, l.type);
  const rn = ln === undefined ? undefined : parseNumber(r.str, r.type);
  if (ln === undefined || rn === undefined) res = l.str < r.str ? -1 : l.str > r.str ? 1 : 0;
  else res = ln < rn ? -1 : ln > rn ? 1 : 0;
  const ok = { '=': res === 0, '!=': res !== 0, '<': res < 0, '<=': res <= 0, '>': res > 0, '>=': res >= 0 }[op];
  return ok ? 2 : 0;
}

/** Kconfig tristate logic: && = min, || = max, ! = 2 - x. */
export function evaluate(expr: Expr | null, env: EvalEnv): Tristate {
  if (expr === null) return 2;
  switch (expr.kind) {
    case 'sym':
      return symbolTristate(env, expr.name);
    case 'const':
      return TRI[expr.value] ?? 0;
    case 'macro':
      return env.macroValue ?? 2;
    case 'not':
      return (2 - evaluate(expr.arg, env)) as Tristate;
    case 'and':
      return Math.min(evaluate(expr.left, env), evaluate(expr.right, env)) as Tristate;
    case 'or':
      return Math.max(evaluate(expr.left, env), evaluate(expr.right, env)) as Tristate;
    case 'cmp':
      return compare(env, expr.op, expr.left, expr.right);
  }
}

export const tristateName = (t: Tristate): 'n' | 'm' | 'y' => (t === 0 ? 'n' : t === 1 ? 'm' : 'y');

const PREC: Readonly<Record<Expr['kind'], number>> = { or: 1, and: 2, not: 3, cmp: 4, sym: 5, const: 5, macro: 5 };

const LITERAL = /^([ymn]|-?\d+|0[xX][0-9a-fA-F]+)$/;

function renderOperand(op: Operand, env: EvalEnv | undefined): string {
  if (op.kind === 'const') return JSON.stringify(op.value);
  if (op.kind === 'macro') return env === undefined ? op.text : `${op.text} [=?]`;
  if (env === undefined || LITERAL.test(op.name)) return op.name;
  const type = symType(env, op.name);
  if (type === undefined && env.typeOf !== undefined && /^\d/.test(op.name)) return op.name;
  const { str } = operandString(env, op);
  return `${op.name} [=${type === undefined ? 'n' : str}]`;
}

/** Renders an expression; with an env, each symbol is followed by its value (`FOO [=n]`). */
export function renderExpr(expr: Expr, env?: EvalEnv, parentPrec = 0): string {
  const prec = PREC[expr.kind];
  let out: string;
  switch (expr.kind) {
    case 'sym':
    case 'const':
    case 'macro':
      return renderOperand(expr, env);
    case 'not':
      // Parenthesise a negated comparison too: `!(A = B)` reads better than `!A = B`.
      out = `!${renderExpr(expr.arg, env, PREC.cmp + 1)}`;
      break;
    case 'and':
    case 'or':
      out = `${renderExpr(expr.left, env, prec)} ${expr.kind === 'and' ? '&&' : '||'} ${renderExpr(expr.right, env, prec)}`;
      break;
    case 'cmp':
      out = `${renderOperand(expr.left, env)} ${expr.op} ${renderOperand(expr.right, env)}`;
      break;
  }
  return prec < parentPrec ? `(${out})` : out;
}

/** Top-level conjuncts of an expression (A && (B && C) -> [A, B, C]). */
export function conjuncts(expr: Expr): Expr[] {
  return expr.kind === 'and' ? [...conjuncts(expr.left), ...conjuncts(expr.right)] : [expr];
}

/** Every symbol name an expression refers to (literals excluded). */
export function symbolsIn(expr: Expr, out: Set<string> = new Set()): Set<string> {
  switch (expr.kind) {
    case 'sym':
      if (!LITERAL.test(expr.name)) out.add(expr.name);
      break;
    case 'not':
      symbolsIn(expr.arg, out);
      break;
    case 'and':
    case 'or':
      symbolsIn(expr.left, out);
      symbolsIn(expr.right, out);
      break;
    case 'cmp':
      symbolsIn(expr.left, out);
      symbolsIn(expr.right, out);
      break;
    default:
      break;
  }
  return out;
}

export function containsMacro(expr: Expr): boolean {
  switch (expr.kind) {
    case 'macro':
      return true;
    case 'not':
      return containsMacro(expr.arg);
    case 'and':
    case 'or':
      return containsMacro(expr.left) || containsMacro(expr.right);
    case 'cmp':
      return expr.left.kind === 'macro' || expr.right.kind === 'macro';
    default:
      return false;
  }
}
