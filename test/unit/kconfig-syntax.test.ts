// The Kconfig parser, evaluator and explainer on a small synthetic tree that packs in the syntax
// the real tree uses rarely or not at all: globs, variables, continuations, `depends on X if Y`,
// `visible if`, bad lines.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EvalEnv,
  type KconfigDb,
  type SymbolType,
  evaluate,
  explainSymbol,
  parseDotConfig,
  parseExpression,
  parseKconfig,
  renderExpr,
} from '../../orchestrator/kernel/kconfig.ts';

const FILES: Record<string, string> = {
  Kconfig: `mainmenu "Test $(ARCH) kernel"
ARCHDIR := arch/$(SRCARCH)
source "$(ARCHDIR)/Kconfig"
source "drivers/*/Kconfig"
osource "missing/Kconfig"

config MODULES
	bool "modules"
	modules

config A
	bool "A prompt"
	default y
	help
	  Help line one.
	    indented more.

	  after blank.
config B
	tristate "B"

menu "Outer"
	depends on A
	visible if VIS

if B
config C
	tristate "C" if D || \\
	    E
	depends on F && \\
	   G
	select H if I
	imply J
	depends on K if L
	---help---
	  C help
endif
endmenu

config H
	bool

choice
	prompt "Pick"
	depends on A
	default P2

config P1
	bool "p1"

config P2
	bool "p2"

endchoice

config N
	int "n"
	range 1 10
	default 5

config OLD
	bool
	transitional

config NEW
	bool "new"
	default OLD

config BAD
	bool "bad"
	frobnicate me
	depends on (A &&
	default $(shell,echo y)
	depends on $(cc-option,-mfoo)
garbage here
endif
`,
  'arch/x86/Kconfig': ['X86\n\tdef_bool y', ...['D', 'E', 'F', 'G', 'I', 'K', 'L', 'VIS'].map((n) => `${n}\n\tbool "${n}"`)].map((c) => `config ${c}\n`).join('\n'),
  'drivers/b/Kconfig': 'config DRV_B\n\ttristate "b"\n\tdepends on B\n',
  'drivers/a/Kconfig': 'config DRV_A\n\tbool "a" if A\n\tdefault y if X86 && "$(ARCH)" = "x86_64"\n',
};

let dir = '';
let db: KconfigDb;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'handover-kconfig-syntax-'));
  for (const [name, text] of Object.entries(FILES)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  db = parseKconfig(dir);
});

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const def = (name: string) => {
  const d = db.symbols.get(name)?.definitions[0];
  if (d === undefined) throw new Error(`${name} not parsed`);
  return d;
};

describe('parseKconfig syntax', () => {
  it('expands variables in source paths, globs in sorted order, skips a missing osource', () => {
    expect(db.mainmenu).toBe('Test x86_64 kernel');
    expect(db.files).toEqual(['Kconfig', 'arch/x86/Kconfig', 'drivers/a/Kconfig', 'drivers/b/Kconfig']);
    const cond = def('DRV_A').defaults[0]?.cond ?? null;
    expect(cond === null ? null : renderExpr(cond)).toBe('X86 && "x86_64" = "x86_64"');
  });

  it('reads help by indentation, keeping relative indent and blank lines', () => {
    expect(def('A').help).toBe('Help line one.\n  indented more.\n\nafter blank.');
    expect(def('B').loc.line).toBe(19);
    expect(def('C').help).toBe('C help');
  });

  it('joins continuation lines, keeps the first line number, and attaches inherited dependencies', () => {
    const c = def('C');
    expect(c.prompts.map((p) => [p.text, p.cond && renderExpr(p.cond)])).toEqual([['C', 'D || E']]);
    expect(c.depends.map((d) => [renderExpr(d.expr), d.cond && renderExpr(d.cond), d.loc.line])).toEqual([
      ['F && G', null, 30],
      ['K', 'L', 34],
    ]);
    expect(c.inherited.map((d) => `${d.from}:${renderExpr(d.expr)}:${d.title ?? ''}`)).toEqual(['menu:A:Outer', 'if:B:']);
    expect(c.visibleIf.map((d) => renderExpr(d.expr))).toEqual(['VIS']);
    expect(c.selects).toEqual([{ target: 'H', cond: { kind: 'sym', name: 'I' }, loc: { file: 'Kconfig', line: 32 } }]);
    expect(c.implies.map((s) => s.target)).toEqual(['J']);
    expect(db.symbols.get('H')?.selectedBy.map((r) => r.by)).toEqual(['C']);
    expect(db.symbols.get('J')).toBeUndefined();
  });

  it('records choices with their members, defaults and dependencies', () => {
    const choice = def('P1').choice;
    expect(choice?.prompt?.text).toBe('Pick');
    expect(choice?.members).toEqual(['P1', 'P2']);
    expect(choice?.defaults.map((d) => d.target)).toEqual(['P2']);
    expect(def('P2').inherited.map((d) => `${d.from}:${renderExpr(d.expr)}`)).toEqual(['choice:A']);
    expect(def('N').ranges.map((r) => [renderExpr(r.min), renderExpr(r.max)])).toEqual([['1', '10']]);
    expect(db.modulesSymbol).toBe('MODULES');
  });

  it('turns bad lines into warnings and keeps going', () => {
    expect(db.warnings.map((w) => [w.line, w.message.split(':')[0]])).toEqual([
      [71, 'unexpected "frobnicate" in config'],
      [72, 'expression ends early'],
      [75, 'unexpected "garbage" in config'],
      [76, 'endif without if'],
    ]);
    // An unresolvable $(shell,...) is kept as an opaque toolchain check.
    expect(def('BAD').depends.map((d) => renderExpr(d.expr))).toEqual(['$(cc-option,-mfoo)']);
    expect(def('BAD').defaults[0]?.value).toEqual({ kind: 'macro', text: '$(shell,echo y)' });
  });
});

describe('evaluate', () => {
  const types: Record<string, SymbolType> = { A: 'bool', B: 'tristate', C: 'tristate', NR: 'int', H: 'hex', S: 'string', MODULES: 'bool' };
  const values = new Map(Object.entries({ A: 'y', B: 'm', C: 'n', NR: '64', H: '0x20', S: 'foo', MODULES: 'n' }));
  const env: EvalEnv = { values, typeOf: (n) => types[n] };
  const ev = (text: string, e: EvalEnv = env) => evaluate(parseExpression(text), e);

  it('implements tristate logic', () => {
    expect([ev('A && B'), ev('A || C'), ev('!B'), ev('!A'), ev('B || C'), ev('(A || C) && !C')]).toEqual([1, 2, 1, 0, 1, 2]);
    expect([ev('UNDEFINED'), ev('!UNDEFINED'), ev('y'), ev('n'), ev('m')]).toEqual([0, 2, 2, 0, 1]);
  });

  it('compares numbers numerically by type, strings as strings', () => {
    expect([ev('NR > 8'), ev('NR > 100'), ev('NR = 64'), ev('NR <= 64'), ev('NR < 064')]).toEqual([2, 0, 2, 2, 0]);
    expect([ev('H >= 0x10'), ev('H = 0x020'), ev('H < 0x1f')]).toEqual([2, 2, 0]);
    expect([ev('S = "foo"'), ev('S != "foo"'), ev('"x86_64" = "x86"'), ev('B = m'), ev('A != y')]).toEqual([2, 0, 0, 2, 0]);
  });

  it('rewrites a bare m to m && MODULES only where asked, never inside a comparison', () => {
    const deps: EvalEnv = { ...env, rewriteM: true };
    expect([ev('m', deps), ev('B = m', deps), ev('m', env)]).toEqual([0, 2, 1]);
  });

  it('renders expressions with current values', () => {
    expect(renderExpr(parseExpression('A && (B || !C) && NR > 8'), env)).toBe('A [=y] && (B [=m] || !C [=n]) && NR [=64] > 8');
    expect(renderExpr(parseExpression('!(A = y) || X'), env)).toBe('!(A [=y] = y) || X [=n]');
    expect(() => parseExpression('A && (B')).toThrow(/missing "\)"/);
  });
});

describe('parseDotConfig', () => {
  it('reads set, unset and quoted values', () => {
    const cfg = parseDotConfig('# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S="a \\"q\\" \\\\ b"\nCONFIG_N=0x10\nCONFIG_A=m\n');
    expect([...cfg]).toEqual([
      ['A', 'm'],
      ['B', 'n'],
      ['S', 'a "q" \\ b'],
      ['N', '0x10'],
    ]);
  });
});

describe('explainSymbol on the synthetic tree', () => {
  const cfg = (o: Record<string, string>) => new Map(Object.entries(o));

  it('says when a tristate can only be m', () => {
    const ex = explainSymbol(db, 'DRV_B', 'y', cfg({ MODULES: 'y', A: 'y', B: 'm', DRV_B: 'm' }));
    expect(ex.status).toBe('changed');
    expect(ex.reasons[0]?.kind).toBe('limited-to-m');
    expect(ex.lines[0]).toBe('CONFIG_DRV_B=y was changed (final: m): it can only be m: depends on B [=m] (drivers/b/Kconfig:3)');
  });

  it('says when m became y because modules are off', () => {
    const ex = explainSymbol(db, 'DRV_B', 'm', cfg({ MODULES: 'n', B: 'y', DRV_B: 'y' }));
    expect(ex.reasons).toEqual([{ kind: 'modules-disabled', modules: 'MODULES' }]);
  });

  it('points at a hidden prompt and at a menu that is not visible', () => {
    const ex = explainSymbol(db, 'C', 'y', cfg({ A: 'y', B: 'y', F: 'y', G: 'y', K: 'y', D: 'y', VIS: 'n' }));
    expect(ex.reasons[0]?.kind).toBe('prompt-hidden');
    expect(ex.lines[0]).toContain('menu "Outer" visible if VIS [=n] (Kconfig:24)');
    const drvA = explainSymbol(db, 'DRV_A', 'n', cfg({ A: 'n', X86: 'y', DRV_A: 'y' }));
    expect(drvA.status).toBe('forced');
    expect(drvA.lines).toEqual([
      'CONFIG_DRV_A=n was overridden (final: y): its prompt is hidden: "a" if A [=n] (drivers/a/Kconfig:2)',
      '  it takes its default y if X86 [=y] && "x86_64" = "x86_64" (drivers/a/Kconfig:3)',
    ]);
  });

  it('shows a conditional dependency with its condition and inherited blocks', () => {
    const ex = explainSymbol(db, 'C', 'y', cfg({ A: 'y', B: 'y', F: 'y', G: 'y', K: 'n', L: 'y', D: 'y', VIS: 'y' }));
    expect(ex.lines).toEqual(['CONFIG_C=y was dropped (final: is not set): depends on K [=n] if L [=y] (Kconfig:34)']);
    const outer = explainSymbol(db, 'C', 'y', cfg({ A: 'n', B: 'n', F: 'y', G: 'y' }));
    expect(outer.lines).toEqual([
      'CONFIG_C=y was dropped (final: is not set): inside menu "Outer", which depends on A [=n] (Kconfig:23)',
      '  inside "if B [=n]" (Kconfig:26)',
    ]);
  });

  it('explains int values out of range or malformed, and transitional symbols', () => {
    const range = explainSymbol(db, 'N', '20', cfg({ N: '5' }));
    expect(range.lines).toEqual(['CONFIG_N=20 was changed (final: 5): the requested value is outside range 1 10, i.e. 1..10 (Kconfig:58)']);
    expect(explainSymbol(db, 'N', 'ten', cfg({ N: '5' })).reasons).toEqual([{ kind: 'invalid-value', type: 'int' }]);
    expect(explainSymbol(db, 'N', '5', cfg({ N: '5' })).status).toBe('ok');
    const old = explainSymbol(db, 'OLD', 'y', cfg({ NEW: 'y' }));
    expect(old.reasons).toEqual([{ kind: 'transitional', successors: ['NEW'] }]);
    expect(old.lines[0]).toContain('request CONFIG_NEW instead');
  });

  it('blames a toolchain check when only a $(...) dependency is left', () => {
    const ex = explainSymbol(db, 'BAD', 'y', cfg({ A: 'y' }));
    expect(ex.reasons[0]?.kind).toBe('toolchain-check');
    expect(ex.lines[1]).toBe('    depends on $(cc-option,-mfoo) [=?] (Kconfig:74)');
  });

  it('says a bool cannot be m', () => {
    const ex = explainSymbol(db, 'A', 'm', cfg({ A: 'n' }));
    expect(ex.reasons.map((r) => r.kind)).toEqual(['not-tristate']);
  });
});
