// Kconfig as a contract: parse the tree, read the final .config, and explain every requested
// symbol Kconfig dropped or changed (unmet `depends on` with current values, selects, prompts,
// choices, ranges), in the spirit of syzkaller's syz-kconf.

import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseKconfig } from './kconfig-parse.ts';
import type { KconfigDb, ParseOptions } from './kconfig-types.ts';

export {
  type CompareOp,
  ExprSyntaxError,
  type EvalEnv,
  type Expr,
  type Operand,
  type SymbolType,
  type Tristate,
  conjuncts,
  evaluate,
  renderExpr,
  symbolsIn,
  tristateName,
} from './kconfig-expr.ts';
export { parseExpression, parseKconfig, srcarchFor } from './kconfig-parse.ts';
export type {
  DefaultProp,
  DepClause,
  KconfigChoice,
  KconfigDb,
  KconfigDefinition,
  KconfigSymbol,
  KconfigWarning,
  Location,
  ParseOptions,
  Prompt,
  RangeProp,
  ReverseDep,
  SelectProp,
} from './kconfig-types.ts';
export {
  type ClauseState,
  type DefaultState,
  type ExplainOptions,
  type ExplainReason,
  type ExplainStatus,
  type Explanation,
  type SelectorState,
  editDistance,
  explainSymbol,
  suggestNames,
} from './kconfig-explain.ts';

/** Parses a .config (or a fragment): `CONFIG_X=v` and `# CONFIG_X is not set` (= n). Keys lose
 * the CONFIG_ prefix, strings are unquoted; later lines win, as in Kconfig. */
export function parseDotConfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (set?.[1] !== undefined && set[2] !== undefined) {
      const raw = set[2];
      values.set(set[1], raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
      continue;
    }
    const unset = /^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$/.exec(line.trim());
    if (unset?.[1] !== undefined) values.set(unset[1], 'n');
  }
  return values;
}

export async function readDotConfig(path: string): Promise<Map<string, string>> {
  return parseDotConfig(await readFile(path, 'utf8'));
}

const cache = new Map<string, KconfigDb>();

/** parseKconfig, memoised per tree and options. The top Makefile's mtime is part of the key so a
 * tree re-extracted at the same path is parsed again. */
export function loadKconfig(tree: string, opts: ParseOptions = {}): KconfigDb {
  let stamp = 0;
  try {
    stamp = statSync(join(tree, 'Makefile')).mtimeMs;
  } catch {
    // no Makefile: parseKconfig will report what is missing
  }
  const key = JSON.stringify([tree, stamp, opts.arch ?? 'x86_64', opts.srcarch ?? null, opts.env ?? null, opts.root ?? null]);
  let db = cache.get(key);
  if (db === undefined) {
    db = parseKconfig(tree, opts);
    cache.set(key, db);
  }
  return db;
}
