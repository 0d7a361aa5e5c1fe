// The parsed Kconfig database: definitions with file:line for everything an explanation cites.

import type { Expr, Operand, SymbolType } from './kconfig-expr.ts';

/** File relative to the tree root, 1-based line. */
export interface Location {
  readonly file: string;
  readonly line: number;
}

/** One dependency clause: an own `depends on` or one inherited from an enclosing block. */
export interface DepClause {
  readonly expr: Expr;
  /** `depends on X if Y`: the Y (the clause is X || Y = n). */
  readonly cond: Expr | null;
  readonly loc: Location;
  readonly from: 'depends' | 'if' | 'menu' | 'choice' | 'visible';
  /** Title of the enclosing menu or choice prompt, for messages. */
  readonly title: string | null;
}

export interface Prompt {
  readonly text: string;
  readonly cond: Expr | null;
  readonly loc: Location;
}

export interface DefaultProp {
  readonly value: Expr;
  readonly cond: Expr | null;
  readonly loc: Location;
}

export interface SelectProp {
  readonly target: string;
  readonly cond: Expr | null;
  readonly loc: Location;
}

export interface RangeProp {
  readonly min: Operand;
  readonly max: Operand;
  readonly cond: Expr | null;
  readonly loc: Location;
}

/** One `config`/`menuconfig` block. A symbol may have several (e.g. per-arch definitions). */
export interface KconfigDefinition {
  readonly name: string;
  readonly kind: 'config' | 'menuconfig';
  readonly loc: Location;
  type: SymbolType;
  readonly prompts: Prompt[];
  readonly defaults: DefaultProp[];
  readonly selects: SelectProp[];
  readonly implies: SelectProp[];
  readonly ranges: RangeProp[];
  /** This block's own `depends on` lines. */
  readonly depends: DepClause[];
  /** From enclosing `if`, `menu` and `choice` blocks, outermost first. */
  readonly inherited: readonly DepClause[];
  /** Enclosing menus' `visible if`: hides prompts without touching the dependencies. */
  readonly visibleIf: readonly DepClause[];
  readonly choice: KconfigChoice | null;
  /** Titles of the enclosing menus, outermost first. */
  readonly menus: readonly string[];
  help: string | null;
  transitional: boolean;
}

export interface KconfigChoice {
  readonly id: number;
  readonly loc: Location;
  prompt: Prompt | null;
  readonly depends: DepClause[];
  readonly inherited: readonly DepClause[];
  readonly defaults: SelectProp[];
  readonly members: string[];
}

/** Who selects or implies a symbol: `by`'s definition has `select <symbol> [if cond]`. */
export interface ReverseDep {
  readonly by: string;
  readonly cond: Expr | null;
  readonly loc: Location;
  readonly definition: KconfigDefinition;
}

export interface KconfigSymbol {
  readonly name: string;
  type: SymbolType;
  readonly definitions: KconfigDefinition[];
  readonly selectedBy: ReverseDep[];
  readonly impliedBy: ReverseDep[];
}

export interface KconfigWarning {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface KconfigDb {
  readonly tree: string;
  readonly arch: string;
  readonly srcarch: string;
  readonly mainmenu: string | null;
  readonly symbols: ReadonlyMap<string, KconfigSymbol>;
  readonly choices: readonly KconfigChoice[];
  /** Every Kconfig file read, relative to the tree, in parse order. */
  readonly files: readonly string[];
  readonly warnings: readonly KconfigWarning[];
  /** The symbol with `modules` (MODULES in Linux). */
  readonly modulesSymbol: string | null;
  readonly parseMs: number;
}

export interface ParseOptions {
  /** ARCH as given to make (default x86_64). */
  readonly arch?: string;
  /** SRCARCH, i.e. the arch/ directory (default derived from arch: x86_64 -> x86). */
  readonly srcarch?: string;
  /** Extra environment for $(VAR) in Kconfig (CC, LD, ... are left unresolved otherwise). */
  readonly env?: Readonly<Record<string, string>>;
  /** Top-level file relative to the tree (default `Kconfig`). */
  readonly root?: string;
}
