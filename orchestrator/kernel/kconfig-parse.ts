// Kconfig tree parser, line-based like scripts/kconfig/lexer.l + parser.y but keeping only what
// an explanation needs: definitions, their (inherited) dependencies, selects, defaults, prompts,
// each with file:line. Never throws on tree content: odd lines become warnings.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Expr, type SymbolType, type Token, ExprSyntaxError, parseExprTokens } from './kconfig-expr.ts';
import { globFiles, indentOf, tokenOperand, tokenize } from './kconfig-lex.ts';
import { type Preprocessor, newPreprocessor } from './kconfig-macro.ts';
import type {
  DepClause,
  KconfigChoice,
  KconfigDb,
  KconfigDefinition,
  KconfigSymbol,
  KconfigWarning,
  Location,
  ParseOptions,
  Prompt,
  SelectProp,
} from './kconfig-types.ts';

interface Frame {
  readonly kind: 'if' | 'menu' | 'choice';
  readonly deps: DepClause[];
  readonly visible: DepClause[];
  readonly title: string | null;
  readonly loc: Location;
  readonly choice: KconfigChoice | null;
}

type Entry =
  | { readonly kind: 'config'; readonly def: KconfigDefinition }
  | { readonly kind: 'choice'; readonly choice: KconfigChoice }
  | { readonly kind: 'menu'; readonly frame: Frame }
  | { readonly kind: 'comment'; readonly deps: DepClause[] };

const TYPES = new Set<string>(['bool', 'tristate', 'string', 'int', 'hex']);

/** Kconfig's own arch mapping (top Makefile: SRCARCH). */
export function srcarchFor(arch: string): string {
  if (arch === 'x86_64' || arch === 'i386') return 'x86';
  if (arch === 'sparc32' || arch === 'sparc64') return 'sparc';
  if (arch === 'parisc64') return 'parisc';
  return arch;
}

function kernelVersion(tree: string): string {
  try {
    const head = readFileSync(join(tree, 'Makefile'), 'utf8').slice(0, 2000);
    const get = (k: string): string => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(head)?.[1] ?? '';
    return `${get('VERSION')}.${get('PATCHLEVEL')}.${get('SUBLEVEL')}${get('EXTRAVERSION')}`;
  } catch {
    return '';
  }
}

/** Parses `<tree>/Kconfig` and everything it sources, for one architecture. */
export function parseKconfig(tree: string, opts: ParseOptions = {}): KconfigDb {
  const started = performance.now();
  const arch = opts.arch ?? 'x86_64';
  const srcarch = opts.srcarch ?? srcarchFor(arch);
  const pp = newPreprocessor({
    srctree: tree,
    ARCH: arch,
    SRCARCH: srcarch,
    KERNELVERSION: kernelVersion(tree),
    ...opts.env,
  });
  const p = new Parser(tree, pp);
  p.parseFile(opts.root ?? 'Kconfig', null, false);
  if (p.frames.length > 0) {
    const f = p.frames[p.frames.length - 1];
    if (f !== undefined) p.warn(f.loc, `"${f.kind}" is never closed`);
  }
  p.link();
  return {
    tree,
    arch,
    srcarch,
    mainmenu: p.mainmenu,
    symbols: p.symbols,
    choices: p.choices,
    files: p.files,
    warnings: p.warnings,
    modulesSymbol: p.modulesSymbol,
    parseMs: performance.now() - started,
  };
}

/** Parses one Kconfig expression (`A && (B || !C)`, `X = "y"`); $(VAR) is left unresolved.
 * Throws on a syntax error. */
export function parseExpression(text: string, env: Readonly<Record<string, string>> = {}): Expr {
  const tokens = tokenize(text, { file: '<expr>', line: 1 }, newPreprocessor(env), (_l, m) => {
    throw new ExprSyntaxError(m);
  });
  const { expr, next } = parseExprTokens(tokens, 0);
  if (next !== tokens.length) throw new ExprSyntaxError(`unexpected "if" in ${text}`);
  return expr;
}

// Plain class with explicit fields: the parse state is shared by many small methods.
class Parser {
  readonly tree: string;
  readonly pp: Preprocessor;
  readonly symbols = new Map<string, KconfigSymbol>();
  readonly choices: KconfigChoice[] = [];
  readonly files: string[] = [];
  readonly warnings: KconfigWarning[] = [];
  readonly frames: Frame[] = [];
  readonly includeStack: string[] = [];
  mainmenu: string | null = null;
  modulesSymbol: string | null = null;
  entry: Entry | null = null;
  /** What enclosing blocks give each new definition; shared until the block stack changes. */
  private ctx: { inherited: DepClause[]; visibleIf: DepClause[]; menus: string[] } | null = null;

  constructor(tree: string, pp: Preprocessor) {
    this.tree = tree;
    this.pp = pp;
  }

  warn(loc: Location, message: string): void {
    this.warnings.push({ file: loc.file, line: loc.line, message });
  }

  parseFile(file: string, from: Location | null, optional: boolean): void {
    let text: string;
    try {
      text = readFileSync(join(this.tree, file), 'utf8');
    } catch {
      if (!optional) this.warn(from ?? { file, line: 0 }, `cannot read ${file}`);
      return;
    }
    if (this.includeStack.includes(file)) {
      this.warn(from ?? { file, line: 0 }, `recursive source of ${file} skipped`);
      return;
    }
    this.includeStack.push(file);
    this.files.push(file);
    this.entry = null;
    const lines = text.split('\n');
    let i = 0;
    while (i < lines.length) {
      const first = i;
      let line = lines[i] ?? '';
      i++;
      while (line.endsWith('\\') && i < lines.length) {
        line = line.slice(0, -1) + (lines[i] ?? '');
        i++;
      }
      if (!/\S/.test(line)) continue;
      const loc: Location = { file, line: first + 1 };
      const isHelp = this.statement(line, loc);
      if (isHelp) i = this.helpText(lines, i);
    }
    this.includeStack.pop();
    this.entry = null;
  }

  /** Consumes help lines starting at index `i`; returns the index of the first line after. */
  helpText(lines: readonly string[], start: number): number {
    let i = start;
    let firstTs = 0;
    const out: string[] = [];
    for (; i < lines.length; i++) {
      const line = lines[i] ?? '';
      if (!/\S/.test(line)) {
        out.push('');
        continue;
      }
      const ts = indentOf(line);
      if (ts === 0 || (firstTs > 0 && ts < firstTs)) break;
      if (firstTs === 0) firstTs = ts;
      out.push(' '.repeat(ts - firstTs) + line.trim());
    }
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    const help = out.join('\n');
    const e = this.entry;
    if (e?.kind === 'config') e.def.help = help;
    return i;
  }

  /** Handles one logical line; returns true when a help block follows. */
  statement(raw: string, loc: Location): boolean {
    const assign = raw.includes('=') ? /^\s*([A-Za-z0-9_-]+)\s*(:=|\+=|=)\s*(.*)$/.exec(raw) : null;
    if (assign !== null) {
      const [, name, op, value] = assign;
      if (name !== undefined && op !== undefined && value !== undefined && !TYPES.has(name)) {
        this.pp.assign(name, op, value.trimEnd());
        return false;
      }
    }
    let tokens: Token[];
    try {
      tokens = tokenize(raw, loc, this.pp, (l, m) => this.warn(l, m));
    } catch (err) {
      this.warn(loc, err instanceof Error ? err.message : String(err));
      return false;
    }
    const head = tokens[0];
    if (head === undefined) return false; // a comment or a macro that expanded to nothing
    if (head.t !== 'word') {
      this.warn(loc, `unparseable line: ${raw.trim()}`);
      return false;
    }
    try {
      return this.keyword(head.text, tokens, loc, raw);
    } catch (err) {
      if (!(err instanceof ExprSyntaxError)) throw err;
      this.warn(loc, `${err.message}: ${raw.trim()}`);
      return false;
    }
  }

  keyword(kw: string, tokens: Token[], loc: Location, raw: string): boolean {
    const e = this.entry;
    switch (kw) {
      case 'config':
      case 'menuconfig':
        this.beginConfig(kw, tokens, loc);
        return false;
      case 'choice': {
        const choice: KconfigChoice = {
          id: this.choices.length,
          loc,
          prompt: null,
          depends: [],
          inherited: this.inheritedDeps(),
          defaults: [],
          members: [],
        };
        this.choices.push(choice);
        const frame: Frame = { kind: 'choice', deps: choice.depends, visible: [], title: null, loc, choice };
        this.frames.push(frame);
        this.ctx = null;
        this.entry = { kind: 'choice', choice };
        return false;
      }
      case 'menu': {
        const title = this.stringAt(tokens, 1, loc) ?? '';
        const frame: Frame = { kind: 'menu', deps: [], visible: [], title, loc, choice: null };
        this.frames.push(frame);
        this.ctx = null;
        this.entry = { kind: 'menu', frame };
        return false;
      }
      case 'if': {
        const { expr } = parseExprTokens(tokens, 1);
        this.ctx = null;
        this.frames.push({
          kind: 'if',
          deps: [{ expr, cond: null, loc, from: 'if', title: null }],
          visible: [],
          title: null,
          loc,
          choice: null,
        });
        this.entry = null;
        return false;
      }
      case 'endif':
      case 'endmenu':
      case 'endchoice': {
        const want = kw.slice(3);
        const top = this.frames.pop();
        this.ctx = null;
        if (top === undefined) this.warn(loc, `${kw} without ${want}`);
        else if (top.kind !== want) this.warn(loc, `${kw} closes "${top.kind}" from ${top.loc.file}:${top.loc.line}`);
        this.entry = null;
        return false;
      }
      case 'comment':
        this.entry = { kind: 'comment', deps: [] };
        return false;
      case 'mainmenu':
        this.mainmenu = this.stringAt(tokens, 1, loc);
        return false;
      case 'source':
      case 'osource':
      case 'rsource':
      case 'orsource':
        this.source(kw, tokens, loc);
        return false;
    }
    if (e === null) {
      this.warn(loc, `"${kw}" outside of any entry: ${raw.trim()}`);
      return false;
    }
    return this.attribute(e, kw, tokens, loc, raw);
  }

  attribute(e: Entry, kw: string, tokens: Token[], loc: Location, raw: string): boolean {
    const def = e.kind === 'config' ? e.def : null;
    switch (kw) {
      case 'help':
      case '---help---':
        return true;
      case 'depends': {
        if (tokens[1]?.t !== 'word' || tokens[1].text !== 'on') throw new ExprSyntaxError('expected "depends on"');
        const { expr, next } = parseExprTokens(tokens, 2);
        const clause: DepClause = { expr, cond: this.ifCond(tokens, next), loc, from: 'depends', title: null };
        if (e.kind === 'config') e.def.depends.push(clause);
        else if (e.kind === 'comment') e.deps.push(clause);
        else {
          // A menu's or choice's own dependencies are inherited by what follows.
          if (e.kind === 'choice') e.choice.depends.push({ ...clause, from: 'choice', title: e.choice.prompt?.text ?? null });
          else e.frame.deps.push({ ...clause, from: 'menu', title: e.frame.title });
          this.ctx = null;
        }
        return false;
      }
      case 'visible': {
        if (e.kind !== 'menu' || tokens[1]?.t !== 'word' || tokens[1].text !== 'if') break;
        const { expr } = parseExprTokens(tokens, 2);
        e.frame.visible.push({ expr, cond: null, loc, from: 'visible', title: e.frame.title });
        this.ctx = null;
        return false;
      }
      case 'bool':
      case 'tristate':
      case 'string':
      case 'int':
      case 'hex':
      case 'prompt': {
        if (kw !== 'prompt') this.setType(e, kw, loc);
        const tok = tokens[1];
        if (tok === undefined) return false;
        if (tok.t !== 'str') throw new ExprSyntaxError('expected a quoted prompt');
        const prompt: Prompt = { text: tok.text, cond: this.ifCond(tokens, 2), loc };
        if (def !== null) def.prompts.push(prompt);
        else if (e.kind === 'choice') e.choice.prompt = prompt;
        else break;
        return false;
      }
      case 'default':
      case 'def_bool':
      case 'def_tristate': {
        if (kw !== 'default') this.setType(e, kw === 'def_bool' ? 'bool' : 'tristate', loc);
        const { expr, next } = parseExprTokens(tokens, 1);
        const cond = this.ifCond(tokens, next);
        if (def !== null) def.defaults.push({ value: expr, cond, loc });
        else if (e.kind === 'choice' && expr.kind === 'sym') e.choice.defaults.push({ target: expr.name, cond, loc });
        else break;
        return false;
      }
      case 'select':
      case 'imply': {
        const target = tokens[1];
        if (def === null || target?.t !== 'word') break;
        const prop: SelectProp = { target: target.text, cond: this.ifCond(tokens, 2), loc };
        (kw === 'select' ? def.selects : def.implies).push(prop);
        return false;
      }
      case 'range': {
        const min = tokenOperand(tokens[1]);
        const max = tokenOperand(tokens[2]);
        if (def === null || min === null || max === null) break;
        def.ranges.push({ min, max, cond: this.ifCond(tokens, 3), loc });
        return false;
      }
      case 'modules':
        if (def !== null) this.modulesSymbol = def.name;
        return false;
      case 'transitional':
        if (def !== null) def.transitional = true;
        return false;
      case 'option':
        // Pre-6.x syntax: `option modules`, `option env=...`, `option defconfig_list`.
        if (def !== null && tokens[1]?.t === 'word' && tokens[1].text === 'modules') this.modulesSymbol = def.name;
        return false;
      case 'optional':
        return false;
    }
    this.warn(loc, `unexpected "${kw}" in ${e.kind}: ${raw.trim()}`);
    return false;
  }

  beginConfig(kind: 'config' | 'menuconfig', tokens: Token[], loc: Location): void {
    const nameTok = tokens[1];
    if (nameTok?.t !== 'word') {
      this.warn(loc, `${kind} without a symbol name`);
      this.entry = null;
      return;
    }
    const top = this.frames[this.frames.length - 1];
    const choice = top?.kind === 'choice' ? top.choice : null;
    const def: KconfigDefinition = {
      name: nameTok.text,
      kind,
      loc,
      type: 'unknown',
      prompts: [],
      defaults: [],
      selects: [],
      implies: [],
      ranges: [],
      depends: [],
      ...this.context(),
      choice,
      help: null,
      transitional: false,
    };
    let sym = this.symbols.get(def.name);
    if (sym === undefined) {
      sym = { name: def.name, type: 'unknown', definitions: [], selectedBy: [], impliedBy: [] };
      this.symbols.set(def.name, sym);
    }
    sym.definitions.push(def);
    if (choice !== null && !choice.members.includes(def.name)) choice.members.push(def.name);
    this.entry = { kind: 'config', def };
  }

  context(): { inherited: DepClause[]; visibleIf: DepClause[]; menus: string[] } {
    this.ctx ??= {
      inherited: this.inheritedDeps(),
      visibleIf: this.frames.flatMap((f) => f.visible),
      menus: this.frames.flatMap((f) => (f.kind === 'menu' && f.title !== null ? [f.title] : [])),
    };
    return this.ctx;
  }

  inheritedDeps(): DepClause[] {
    return this.frames.flatMap((f) =>
      f.kind === 'choice' ? f.deps.map((d) => ({ ...d, from: 'choice' as const, title: f.choice?.prompt?.text ?? null })) : f.deps,
    );
  }

  setType(e: Entry, type: SymbolType, loc: Location): void {
    if (e.kind !== 'config') return; // `bool` on a choice is the only type it can have
    const def = e.def;
    if (def.type !== 'unknown' && def.type !== type) this.warn(loc, `${def.name} redefined from ${def.type} to ${type}`);
    def.type = type;
  }

  ifCond(tokens: Token[], at: number): Expr | null {
    const tok = tokens[at];
    if (tok === undefined) return null;
    if (tok.t !== 'word' || tok.text !== 'if') throw new ExprSyntaxError(`unexpected "${tok.text}"`);
    const { expr, next } = parseExprTokens(tokens, at + 1);
    if (next < tokens.length) throw new ExprSyntaxError('unexpected "if" in condition');
    return expr;
  }

  stringAt(tokens: Token[], at: number, loc: Location): string | null {
    const tok = tokens[at];
    if (tok?.t === 'str') return tok.text;
    this.warn(loc, 'expected a quoted string');
    return null;
  }

  source(kw: string, tokens: Token[], loc: Location): void {
    const path = this.stringAt(tokens, 1, loc);
    if (path === null) return;
    if (path.includes('$(')) {
      this.warn(loc, `cannot resolve ${path} (unknown variable); not sourced`);
      return;
    }
    const optional = kw.startsWith('o');
    const rel = kw === 'rsource' || kw === 'orsource' ? join(dirname(loc.file), path) : path;
    const files = /[*?[]/.test(rel) ? globFiles(this.tree, rel) : [rel];
    if (files.length === 0 && !optional) this.warn(loc, `${path} matches no file`);
    for (const f of files) this.parseFile(f, loc, optional);
    this.entry = null;
  }

  /** Builds the reverse select/imply lists and settles each symbol's type. */
  link(): void {
    for (const sym of this.symbols.values()) {
      for (const def of sym.definitions) {
        if (sym.type === 'unknown') sym.type = def.type;
        for (const s of def.selects) this.reverse(s, def, 'selectedBy');
        for (const s of def.implies) this.reverse(s, def, 'impliedBy');
      }
    }
  }

  reverse(prop: SelectProp, def: KconfigDefinition, list: 'selectedBy' | 'impliedBy'): void {
    const target = this.symbols.get(prop.target);
    if (target === undefined) return; // selecting an undefined symbol is a no-op in Kconfig too
    target[list].push({ by: def.name, cond: prop.cond, loc: prop.loc, definition: def });
  }
}
