// "Why did Kconfig not give me CONFIG_X=v?" Re-derives the answer from the final .config the way
// scripts/kconfig/symbol.c computes a value: dependencies (dir_dep) cap it, prompts decide whether
// a fragment can set it at all, selects (rev_dep) raise it, defaults fill in when invisible.

import {
  type EvalEnv,
  type Expr,
  type SymbolType,
  type Tristate,
  conditionalDep,
  conjuncts,
  containsMacro,
  evaluate,
  renderExpr,
  tristateName,
} from './kconfig-expr.ts';
import type { DepClause, KconfigChoice, KconfigDb, KconfigDefinition, KconfigSymbol, Location, Prompt, ReverseDep } from './kconfig-types.ts';

export type ExplainStatus = 'ok' | 'unknown' | 'dropped' | 'changed' | 'forced';

/** A dependency clause with its value in the final config and the conjuncts that fail it. */
export interface ClauseState {
  readonly clause: DepClause;
  readonly value: Tristate;
  /** The clause as `FOO [=y] && BAR [=n]`, plus `if ...` for a conditional dependency. */
  readonly rendered: string;
  /** Top-level conjuncts below what the request needs, rendered. */
  readonly failing: readonly string[];
}

export interface SelectorState {
  readonly by: string;
  readonly loc: Location;
  /** min(selector value, select condition, selector's dependencies). */
  readonly active: Tristate;
  /** `FOO [=y]` or `FOO [=y] if BAR [=n]`. */
  readonly rendered: string;
}

export interface DefaultState {
  readonly loc: Location;
  readonly value: string;
  readonly rendered: string;
}

export type ExplainReason =
  | { readonly kind: 'unknown-symbol'; readonly suggestions: readonly string[] }
  | { readonly kind: 'unmet-depends'; readonly definitions: readonly { readonly loc: Location; readonly clauses: readonly ClauseState[] }[]; readonly hints: readonly string[] }
  | { readonly kind: 'limited-to-m'; readonly clauses: readonly ClauseState[] }
  | { readonly kind: 'no-prompt'; readonly selectors: readonly SelectorState[]; readonly defaults: readonly DefaultState[] }
  | { readonly kind: 'prompt-hidden'; readonly prompts: readonly { readonly prompt: Prompt; readonly rendered: string }[]; readonly visibleIf: readonly ClauseState[] }
  | { readonly kind: 'selected'; readonly selectors: readonly SelectorState[] }
  | { readonly kind: 'default'; readonly default: DefaultState; readonly promptless: boolean }
  | { readonly kind: 'choice'; readonly loc: Location; readonly title: string | null; readonly chosen: string | null; readonly member: boolean }
  | { readonly kind: 'modules-disabled'; readonly modules: string }
  | { readonly kind: 'not-tristate' }
  | { readonly kind: 'transitional'; readonly successors: readonly string[] }
  | { readonly kind: 'invalid-value'; readonly type: SymbolType }
  | { readonly kind: 'out-of-range'; readonly min: string; readonly max: string; readonly rendered: string; readonly loc: Location }
  | { readonly kind: 'toolchain-check'; readonly clauses: readonly ClauseState[] }
  | { readonly kind: 'unexplained' };

export interface Explanation {
  /** Without the CONFIG_ prefix. */
  readonly symbol: string;
  readonly requested: string;
  /** The value in the final .config (strings unquoted); null when the symbol is not in it. */
  readonly final: string | null;
  readonly status: ExplainStatus;
  readonly reasons: readonly ExplainReason[];
  /** Human-readable: a headline, then indented detail lines. Empty when status is 'ok'. */
  readonly lines: readonly string[];
}

export interface ExplainOptions {
  /** Where the request came from (`fragment:line`), put into the headline. */
  readonly origin?: string;
}

const TRI: Readonly<Record<string, Tristate>> = { n: 0, m: 1, y: 2 };
const MAX_LISTED = 6;

const at = (loc: Location): string => `${loc.file}:${loc.line}`;

/** Explains why `name` (with or without CONFIG_) did not end up as `requested` in `finalValues`. */
export function explainSymbol(
  db: KconfigDb,
  name: string,
  requested: string,
  finalValues: ReadonlyMap<string, string>,
  opts: ExplainOptions = {},
): Explanation {
  const symbol = name.replace(/^CONFIG_/, '');
  const req = unquote(requested.trim());
  const fin = finalValues.get(symbol) ?? null;
  const sym = db.symbols.get(symbol);
  const ex = new Explainer(db, finalValues);
  const origin = opts.origin === undefined ? '' : ` (${opts.origin})`;
  const reqShown = `CONFIG_${symbol}=${requested.trim()}${origin}`;
  if (sym === undefined || sym.definitions.length === 0) {
    const suggestions = suggestNames(db, symbol);
    const dym = suggestions.length === 0 ? '' : ` (did you mean ${orList(suggestions.map((s) => `CONFIG_${s}`))}?)`;
    const head = opts.origin === undefined ? `CONFIG_${symbol}` : reqShown;
    return {
      symbol,
      requested: req,
      final: fin,
      status: 'unknown',
      reasons: [{ kind: 'unknown-symbol', suggestions }],
      lines: [`${head} does not exist in this tree's Kconfig for ARCH=${db.arch}${dym}`],
    };
  }
  const { status, reasons } = sym.type === 'bool' || sym.type === 'tristate' ? ex.tristate(sym, req, fin) : ex.value(sym, req, fin);
  if (status === 'ok') return { symbol, requested: req, final: fin, status, reasons, lines: [] };
  const verb = status === 'dropped' ? 'was dropped' : status === 'forced' ? 'was overridden' : 'was changed';
  const tri = sym.type === 'bool' || sym.type === 'tristate';
  const finShown = fin === null ? (tri ? 'is not set' : 'not in .config') : fin === 'n' && tri ? 'is not set' : sym.type === 'string' ? JSON.stringify(fin) : fin;
  const details = reasons.flatMap((r) => ex.describe(sym, r));
  const [first, ...rest] = details.length > 0 ? details : ['no reason found'];
  return {
    symbol,
    requested: req,
    final: fin,
    status,
    reasons,
    lines: [`${reqShown} ${verb} (final: ${finShown}): ${first}`, ...rest.map((l) => `  ${l}`)],
  };
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  return v;
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1] ?? ''}`;
}

interface Outcome {
  readonly status: ExplainStatus;
  readonly reasons: ExplainReason[];
}

// Holds the evaluation environment so each step can evaluate and render against the final config.
class Explainer {
  readonly db: KconfigDb;
  readonly env: EvalEnv;

  constructor(db: KconfigDb, values: ReadonlyMap<string, string>) {
    this.db = db;
    this.env = {
      values,
      typeOf: (n) => {
        const s = db.symbols.get(n);
        return s === undefined || s.definitions.length === 0 ? undefined : s.type;
      },
      rewriteM: true,
    };
  }

  value3(name: string): Tristate {
    return evaluate({ kind: 'sym', name }, this.env);
  }

  clauseState(clause: DepClause, need: Tristate): ClauseState {
    const expr = conditionalDep(clause.expr, clause.cond);
    const value = evaluate(expr, this.env);
    const failing = value >= need ? [] : conjuncts(clause.expr).filter((c) => evaluate(c, this.env) < need);
    let rendered = renderExpr(clause.expr, this.env);
    if (clause.cond !== null) rendered += ` if ${renderExpr(clause.cond, this.env)}`;
    return { clause, value, rendered, failing: failing.map((c) => renderExpr(c, this.env)) };
  }

  /** All clauses of a definition (inherited first), each with its value. */
  clauses(def: KconfigDefinition, need: Tristate): ClauseState[] {
    return [...def.inherited, ...def.depends].map((c) => this.clauseState(c, need));
  }

  depValue(def: KconfigDefinition): Tristate {
    let v: Tristate = 2;
    for (const c of [...def.inherited, ...def.depends]) v = Math.min(v, evaluate(conditionalDep(c.expr, c.cond), this.env)) as Tristate;
    return v;
  }

  /** How visible the definition's best prompt is: 0 hidden, 1 only as m, 2 fully. */
  promptValue(def: KconfigDefinition): Tristate {
    let best: Tristate = 0;
    for (const p of def.prompts) best = Math.max(best, evaluate(p.cond, this.env)) as Tristate;
    for (const v of def.visibleIf) best = Math.min(best, evaluate(v.expr, this.env)) as Tristate;
    return Math.min(best, this.depValue(def)) as Tristate;
  }

  selectors(list: readonly ReverseDep[]): SelectorState[] {
    return list
      .map((r) => {
        const active = Math.min(this.value3(r.by), evaluate(r.cond, this.env), this.depValue(r.definition)) as Tristate;
        let rendered = renderExpr({ kind: 'sym', name: r.by }, this.env);
        if (r.cond !== null) rendered += ` if ${renderExpr(r.cond, this.env)}`;
        return { by: r.by, loc: r.loc, active, rendered };
      })
      .sort((a, b) => b.active - a.active);
  }

  defaults(sym: KconfigSymbol): DefaultState[] {
    return sym.definitions.flatMap((def) =>
      def.defaults.map((d) => {
        const live = Math.min(evaluate(d.cond, this.env), this.depValue(def)) as Tristate;
        // A default's value is not a dependency: a literal m stays m (no MODULES rewrite).
        const value = live === 0 ? 'n' : d.value.kind === 'const' ? d.value.value : tristateName(Math.min(live, evaluate(d.value, { ...this.env, rewriteM: false })) as Tristate);
        // `y if X [=y]` for a literal default; `y: FOO [=y] && BAR [=m]` for a computed one.
        const literal = d.value.kind === 'const' || (d.value.kind === 'sym' && /^[ymn]$/.test(d.value.name));
        let rendered = literal ? renderExpr(d.value) : `${JSON.stringify(value).replace(/^"([ymn])"$/, '$1')}: ${renderExpr(d.value, this.env)}`;
        if (d.cond !== null) rendered += ` if ${renderExpr(d.cond, this.env)}`;
        return { loc: d.loc, value, rendered };
      }),
    );
  }

  tristate(sym: KconfigSymbol, reqRaw: string, fin: string | null): Outcome {
    const req = TRI[reqRaw === 'is not set' ? 'n' : reqRaw];
    const finT = TRI[fin ?? 'n'] ?? 0;
    if (req === undefined) return { status: 'changed', reasons: [{ kind: 'invalid-value', type: sym.type }] };
    if (req === finT) return { status: 'ok', reasons: [] };
    const reasons: ExplainReason[] = [];
    if (sym.definitions.some((d) => d.transitional)) {
      const successors = [...this.db.symbols.values()]
        .filter((s) => s.definitions.some((d) => d.defaults.some((p) => p.value.kind === 'sym' && p.value.name === sym.name)))
        .map((s) => s.name);
      return { status: finT < req ? 'dropped' : 'changed', reasons: [{ kind: 'transitional', successors }] };
    }
    if (req === 1 && sym.type === 'bool') reasons.push({ kind: 'not-tristate' });
    if (req > finT) {
      reasons.push(...this.whyLower(sym, req));
      return { status: finT === 0 ? 'dropped' : 'changed', reasons };
    }
    reasons.push(...this.whyHigher(sym, req, finT));
    return { status: req === 0 ? 'forced' : 'changed', reasons };
  }

  /** Requested more than it got: unmet dependencies, no or hidden prompt, choice, toolchain. */
  whyLower(sym: KconfigSymbol, req: Tristate): ExplainReason[] {
    if (req === 1 && sym.type === 'bool') return []; // not-tristate says it all: Kconfig ignored the m
    // A bool with an m dependency still becomes y; a tristate needs y dependencies for y.
    return this.blockers(sym, req === 2 && sym.type === 'tristate' ? 2 : 1);
  }

  /** What keeps a fragment from setting the symbol to at least `need`. */
  blockers(sym: KconfigSymbol, need: Tristate): ExplainReason[] {
    const defs = sym.definitions;
    const dir = Math.max(...defs.map((d) => this.depValue(d))) as Tristate;
    if (dir < need) {
      if (dir === 1) {
        return [{ kind: 'limited-to-m', clauses: defs.flatMap((d) => this.clauses(d, 2).filter((c) => c.value < 2)) }];
      }
      const definitions = defs.map((d) => ({ loc: d.loc, clauses: this.clauses(d, need).filter((c) => c.value < need) }));
      return [{ kind: 'unmet-depends', definitions, hints: this.hints(definitions.flatMap((d) => d.clauses), need) }];
    }
    if (defs.every((d) => d.prompts.length === 0)) {
      return [{ kind: 'no-prompt', selectors: this.selectors(sym.selectedBy), defaults: this.defaults(sym) }];
    }
    const vis = Math.max(...defs.map((d) => this.promptValue(d))) as Tristate;
    if (vis < need) {
      const live = defs.filter((d) => this.depValue(d) >= need);
      const prompts = live.flatMap((d) =>
        d.prompts
          .filter((p) => evaluate(p.cond, this.env) < need)
          .map((prompt) => ({ prompt, rendered: prompt.cond === null ? '' : renderExpr(prompt.cond, this.env) })),
      );
      const visibleIf = live.flatMap((d) => d.visibleIf.map((v) => this.clauseState(v, need)).filter((c) => c.value < need));
      if (vis === 1) return [{ kind: 'limited-to-m', clauses: visibleIf }];
      return [{ kind: 'prompt-hidden', prompts, visibleIf }];
    }
    const choice = defs.find((d) => d.choice !== null)?.choice ?? null;
    if (choice !== null) return [this.choiceReason(choice, true)];
    const toolchain = defs.flatMap((d) => this.clauses(d, need)).filter((c) => containsMacro(c.clause.expr));
    if (toolchain.length > 0) return [{ kind: 'toolchain-check', clauses: toolchain }];
    return [{ kind: 'unexplained' }];
  }

  /** Got more than requested: select, default of a promptless symbol, choice, modules off. */
  whyHigher(sym: KconfigSymbol, req: Tristate, finT: Tristate): ExplainReason[] {
    const reasons: ExplainReason[] = [];
    if (req === 1 && finT === 2 && sym.type === 'tristate' && this.db.modulesSymbol !== null && this.value3(this.db.modulesSymbol) === 0) {
      return [{ kind: 'modules-disabled', modules: this.db.modulesSymbol }];
    }
    const sel = this.selectors(sym.selectedBy).filter((s) => s.active > req);
    if (sel.length > 0) return [{ kind: 'selected', selectors: sel }];
    const choice = sym.definitions.find((d) => d.choice !== null)?.choice ?? null;
    if (choice !== null) return [this.choiceReason(choice, false)];
    const visible = Math.max(...sym.definitions.map((d) => this.promptValue(d)));
    if (visible === 0 && sym.definitions.some((d) => d.prompts.length > 0)) {
      const hidden = this.blockers(sym, 1)[0];
      if (hidden?.kind === 'prompt-hidden' || hidden?.kind === 'unmet-depends') reasons.push(hidden);
    }
    if (visible === 0 || req === 1) {
      const implied = this.selectors(sym.impliedBy).filter((s) => s.active > req);
      const def = this.defaults(sym).find((d) => d.value !== 'n');
      const promptless = sym.definitions.every((d) => d.prompts.length === 0);
      if (def !== undefined) reasons.push({ kind: 'default', default: def, promptless });
      if (implied.length > 0) reasons.push({ kind: 'selected', selectors: implied });
    }
    if (reasons.length === 0) reasons.push({ kind: 'unexplained' });
    return reasons;
  }

  choiceReason(choice: KconfigChoice, member: boolean): ExplainReason {
    const chosen = choice.members.find((m) => this.value3(m) === 2) ?? null;
    return { kind: 'choice', loc: choice.loc, title: choice.prompt?.text ?? null, chosen, member };
  }

  /** For each failing plain symbol: undefined on this arch, or not user-settable. */
  hints(clauses: readonly ClauseState[], need: Tristate): string[] {
    const names = new Set<string>();
    for (const c of clauses) {
      for (const conj of conjuncts(c.clause.expr)) {
        if (conj.kind === 'sym' && evaluate(conj, this.env) < need) names.add(conj.name);
      }
    }
    const out: string[] = [];
    for (const n of names) {
      const s = this.db.symbols.get(n);
      if (s === undefined || s.definitions.length === 0) {
        out.push(`${n} is not defined for ARCH=${this.db.arch}`);
      } else if (s.definitions.every((d) => d.prompts.length === 0)) {
        const sel = this.selectors(s.selectedBy);
        const by = sel.length === 0 ? 'nothing selects it' : `selected by ${listSelectors(sel)}`;
        out.push(`${n} has no prompt, it is only set by select or default (${by})`);
      }
    }
    return out;
  }

  value(sym: KconfigSymbol, req: string, fin: string | null): Outcome {
    const type = sym.type;
    if (fin !== null && sameValue(type, req, fin)) return { status: 'ok', reasons: [] };
    const status: ExplainStatus = fin === null ? 'dropped' : 'changed';
    if (!validValue(type, req)) return { status, reasons: [{ kind: 'invalid-value', type }] };
    const defs = sym.definitions;
    if (Math.max(...defs.map((d) => this.depValue(d))) === 0) return { status, reasons: this.blockers(sym, 1) };
    for (const def of defs) {
      for (const r of def.ranges) {
        if (evaluate(r.cond, this.env) === 0) continue;
        const min = this.operandValue(r.min);
        const max = this.operandValue(r.max);
        const v = toBig(type, req);
        const lo = toBig(type, min);
        const hi = toBig(type, max);
        if (v !== undefined && lo !== undefined && hi !== undefined && (v < lo || v > hi)) {
          const rendered = `${renderExpr(r.min, this.env)} ${renderExpr(r.max, this.env)}`;
          return { status, reasons: [{ kind: 'out-of-range', min, max, rendered, loc: r.loc }] };
        }
        break; // Kconfig uses the first active range only
      }
    }
    const visible = Math.max(...defs.map((d) => this.promptValue(d)));
    if (visible === 0) {
      const reasons = this.blockers(sym, 1);
      const def = this.defaults(sym)[0];
      if (def !== undefined && reasons[0]?.kind !== 'no-prompt') reasons.push({ kind: 'default', default: def, promptless: false });
      return { status, reasons };
    }
    return { status, reasons: [{ kind: 'unexplained' }] };
  }

  operandValue(op: Expr): string {
    if (op.kind === 'const') return op.value;
    if (op.kind === 'sym') {
      const s = this.db.symbols.get(op.name);
      if (s === undefined || s.definitions.length === 0) return op.name;
      return this.env.values.get(op.name) ?? '';
    }
    return '';
  }

  describe(sym: KconfigSymbol, r: ExplainReason): string[] {
    switch (r.kind) {
      case 'unknown-symbol':
        return [];
      case 'unmet-depends': {
        const out: string[] = [];
        if (r.definitions.length > 1) out.push(`none of its ${r.definitions.length} definitions has its dependencies met`);
        for (const d of r.definitions) {
          if (r.definitions.length > 1) out.push(`definition at ${at(d.loc)}:`);
          for (const c of d.clauses) {
            out.push(describeClause(c));
            if (c.failing.length > 0 && conjuncts(c.clause.expr).length > 1) out.push(`unmet: ${c.failing.join(', ')}`);
          }
        }
        return [...out, ...r.hints];
      }
      case 'limited-to-m':
        return r.clauses.length === 0
          ? ['it can only be m: its dependencies evaluate to m']
          : r.clauses.map((c, i) => {
              const which = c.failing.length > 0 && conjuncts(c.clause.expr).length > 1 ? ` (m: ${c.failing.join(', ')})` : '';
              return `${i === 0 ? 'it can only be m: ' : ''}${describeClause(c)}${which}`;
            });
      case 'no-prompt': {
        const selectors = r.selectors.length === 0 ? 'nothing selects it' : `selected by ${listSelectors(r.selectors)}`;
        const out = [`it has no prompt, so a fragment cannot set it; only select or default can: ${selectors}`];
        for (const d of r.defaults) out.push(`default ${d.rendered} (${at(d.loc)})`);
        return out;
      }
      case 'prompt-hidden': {
        const out: string[] = [];
        for (const p of r.prompts) if (p.prompt.cond !== null) out.push(`its prompt is hidden: "${p.prompt.text}" if ${p.rendered} (${at(p.prompt.loc)})`);
        for (const v of r.visibleIf) out.push(`its prompt is hidden: menu "${v.clause.title ?? ''}" visible if ${v.rendered} (${at(v.clause.loc)})`);
        return out.length > 0 ? out : ['its prompt is not visible'];
      }
      case 'selected':
        return [`selected by ${listSelectors(r.selectors)}`];
      case 'default':
        return [`${r.promptless ? 'it has no prompt, so a fragment cannot change it; ' : ''}it takes its default ${r.default.rendered} (${at(r.default.loc)})`];
      case 'choice': {
        const title = r.title === null ? 'choice' : `choice "${r.title}"`;
        if (r.member) return [`it is a member of ${title} (${at(r.loc)}) and ${r.chosen === null ? 'no member' : `CONFIG_${r.chosen}`} was chosen; request only one member of a choice`];
        return [`it is the chosen member of ${title} (${at(r.loc)}); a choice always has one member set, request another member =y instead`];
      }
      case 'modules-disabled':
        return [`CONFIG_${r.modules} is not set, so tristates are bool and m becomes y`];
      case 'not-tristate':
        return [`it is bool, so m is not a valid value`];
      case 'transitional': {
        const to = r.successors.length === 0 ? '' : `; request ${orList(r.successors.map((s) => `CONFIG_${s}`))} instead`;
        return [`it is transitional: it only carries an old value over and is never written to .config${to}`];
      }
      case 'invalid-value':
        return [`the requested value is not a valid ${r.type} value`];
      case 'out-of-range':
        return [`the requested value is outside range ${r.rendered}, i.e. ${r.min}..${r.max} (${at(r.loc)})`];
      case 'toolchain-check':
        return [
          'its symbol dependencies are met, so a toolchain check Kconfig ran probably failed:',
          ...r.clauses.map((c) => `  ${describeClause(c)}`),
        ];
      case 'unexplained':
        return [
          `its dependencies and prompt are satisfied in the final config (${sym.definitions.map((d) => at(d.loc)).join(', ')}); ` +
            'a later fragment line may have overridden it, or a dependency changed while Kconfig resolved the config',
        ];
    }
  }
}

function describeClause(c: ClauseState): string {
  const where = `(${at(c.clause.loc)})`;
  switch (c.clause.from) {
    case 'if':
      return `inside "if ${c.rendered}" ${where}`;
    case 'menu':
      return `inside menu "${c.clause.title ?? ''}", which depends on ${c.rendered} ${where}`;
    case 'choice':
      return `inside choice "${c.clause.title ?? ''}", which depends on ${c.rendered} ${where}`;
    default:
      return `depends on ${c.rendered} ${where}`;
  }
}

function listSelectors(sel: readonly SelectorState[]): string {
  const shown = sel.slice(0, MAX_LISTED).map((s) => `${s.rendered} (${at(s.loc)})`);
  const more = sel.length > MAX_LISTED ? ` and ${sel.length - MAX_LISTED} more` : '';
  return shown.join(', ') + more;
}

function toBig(type: SymbolType, v: string): bigint | undefined {
  try {
    if (type === 'hex') return BigInt(/^0[xX]/.test(v) ? v : `0x${v}`);
    if (/^[+-]?\d+$/.test(v)) return BigInt(v);
  } catch {
    return undefined;
  }
  return undefined;
}

function validValue(type: SymbolType, v: string): boolean {
  if (type === 'int') return /^-?\d+$/.test(v);
  if (type === 'hex') return /^(0[xX])?[0-9a-fA-F]+$/.test(v);
  return true;
}

function sameValue(type: SymbolType, a: string, b: string): boolean {
  if (type === 'int' || type === 'hex') {
    const x = toBig(type, a);
    const y = toBig(type, b);
    if (x !== undefined && y !== undefined) return x === y;
  }
  return a === b;
}

/** Close symbol names for a typo: edit distance within about a quarter of the length, plus
 * names that contain the request or the other way round. Best three. */
export function suggestNames(db: KconfigDb, name: string, max = 3): string[] {
  const limit = Math.max(2, Math.floor(name.length / 4));
  const scored: { name: string; score: number }[] = [];
  for (const [candidate, s] of db.symbols) {
    if (s.definitions.length === 0) continue;
    let score: number | undefined;
    if (Math.abs(candidate.length - name.length) <= limit) {
      const d = editDistance(name, candidate, limit);
      if (d <= limit) score = d;
    }
    if (score === undefined && name.length >= 6 && (candidate.includes(name) || name.includes(candidate)) && candidate.length >= 6) {
      score = limit + 1 + Math.abs(candidate.length - name.length) / 100;
    }
    if (score !== undefined) scored.push({ name: candidate, score });
  }
  return scored
    .sort((a, b) => a.score - b.score || a.name.localeCompare(b.name))
    .slice(0, max)
    .map((s) => s.name);
}

/** Levenshtein distance, giving up (returning limit + 1) once every row exceeds the limit. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
