// The Kconfig parser and explainer against the real kernel tree, and against a .config that
// `make allnoconfig` really produced from a fragment that cannot be satisfied.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KconfigDb, explainSymbol, parseKconfig, readDotConfig, renderExpr } from '../../orchestrator/kernel/kconfig.ts';
import { kernelTreeForTests } from '../helpers/tree.ts';

const run = promisify(execFile);

// The negative case plus two more real outcomes from the same allnoconfig run: a symbol forced on
// by a select, and a choice member losing to another member.
const FRAGMENT = ['CONFIG_KEXEC_HANDOVER=n', 'CONFIG_LIVEUPDATE=y', 'CONFIG_ZONE_DMA32=n', 'CONFIG_KERNEL_XZ=y', ''].join('\n');

let tree = '';
let db: KconfigDb;
let outDir = '';
let finalConfig = new Map<string, string>();

/** 1-based line of the first line matching `re` at or after the line matching `after`. */
async function lineOf(file: string, re: RegExp, after?: RegExp): Promise<number> {
  const lines = (await readFile(join(tree, file), 'utf8')).split('\n');
  const start = after === undefined ? 0 : lines.findIndex((l) => after.test(l));
  const idx = lines.findIndex((l, i) => i >= start && re.test(l));
  if (start < 0 || idx < 0) throw new Error(`${String(re)} not found in ${file}`);
  return idx + 1;
}

beforeAll(async () => {
  tree = await kernelTreeForTests();
  const started = performance.now();
  db = parseKconfig(tree);
  console.log(
    `kconfig: parsed ${db.files.length} files, ${db.symbols.size} symbols in ${db.parseMs.toFixed(0)} ms ` +
      `(wall ${(performance.now() - started).toFixed(0)} ms)`,
  );
  outDir = await mkdtemp(join(tmpdir(), 'handover-kconfig-'));
  const frag = join(outDir, 'fragment.config');
  await writeFile(frag, FRAGMENT);
  // allnoconfig: every symbol a fragment does not mention goes to n, so the result is small and fast.
  await run('make', ['-s', '-C', tree, `O=${outDir}`, 'ARCH=x86_64', `KCONFIG_ALLCONFIG=${frag}`, 'allnoconfig'], {
    maxBuffer: 16 << 20,
  });
  finalConfig = await readDotConfig(join(outDir, '.config'));
}, 180_000);

afterAll(async () => {
  if (outDir !== '') await rm(outDir, { recursive: true, force: true });
});

describe('parseKconfig on the real tree', () => {
  it('reads the whole x86 tree without warnings', () => {
    expect(db.files[0]).toBe('Kconfig');
    expect(db.files).toContain('arch/x86/Kconfig');
    expect(db.files).toContain('kernel/liveupdate/Kconfig');
    expect(db.files).not.toContain('arch/arm64/Kconfig'); // only SRCARCH's arch Kconfig
    expect(db.modulesSymbol).toBe('MODULES');
    expect(db.mainmenu).toMatch(/^Linux\/x86_64 \d+\.\d+/);
    expect(db.warnings).toEqual([]);
    expect(db.symbols.size).toBeGreaterThan(10_000);
  });

  it('finds KEXEC_HANDOVER with its file, line, dependencies and selects', async () => {
    const file = 'kernel/liveupdate/Kconfig';
    const sym = db.symbols.get('KEXEC_HANDOVER');
    expect(sym?.type).toBe('bool');
    expect(sym?.definitions).toHaveLength(1);
    const def = sym?.definitions[0];
    expect(def?.loc).toEqual({ file, line: await lineOf(file, /^config KEXEC_HANDOVER$/) });
    expect(def?.prompts.map((p) => p.text)).toEqual(['kexec handover']);
    expect(def?.depends.map((d) => renderExpr(d.expr))).toEqual(['ARCH_SUPPORTS_KEXEC_HANDOVER && ARCH_SUPPORTS_KEXEC_FILE']);
    expect(def?.depends[0]?.loc).toEqual({ file, line: await lineOf(file, /^\tdepends on ARCH_SUPPORTS_KEXEC_HANDOVER/) });
    expect(def?.selects.map((s) => s.target)).toEqual(['MEMBLOCK_KHO_SCRATCH', 'KEXEC_FILE', 'LIBFDT', 'CMA']);
    expect(def?.selects[0]?.loc.line).toBe(await lineOf(file, /^\tselect MEMBLOCK_KHO_SCRATCH$/));
    expect(def?.menus).toEqual(['General setup', 'Live Update and Kexec HandOver']);
    expect(def?.help).toMatch(/^Allow kexec to hand over state across kernels/);
    expect(def?.help).toMatch(/both source and target kernels need to have this option enabled\.$/);
  });

  it('records that LIVEUPDATE depends on KEXEC_HANDOVER, and who selects MEMBLOCK_KHO_SCRATCH', async () => {
    const file = 'kernel/liveupdate/Kconfig';
    const live = db.symbols.get('LIVEUPDATE')?.definitions[0];
    expect(live?.depends.map((d) => renderExpr(d.expr))).toEqual(['KEXEC_HANDOVER']);
    expect(live?.depends[0]?.loc).toEqual({ file, line: await lineOf(file, /^\tdepends on KEXEC_HANDOVER$/, /^config LIVEUPDATE$/) });
    const scratch = db.symbols.get('MEMBLOCK_KHO_SCRATCH');
    expect(scratch?.definitions[0]?.loc.file).toBe('mm/Kconfig');
    expect(scratch?.definitions[0]?.prompts).toEqual([]);
    expect(scratch?.selectedBy.map((r) => r.by)).toContain('KEXEC_HANDOVER');
  });

  it('attaches inherited dependencies from enclosing if blocks and menus', () => {
    // drivers/net/Kconfig wraps every network driver in `if NETDEVICES`.
    const e1000 = db.symbols.get('E1000')?.definitions[0];
    expect(e1000?.inherited.map((c) => `${c.from} ${renderExpr(c.expr)}`)).toEqual(['if NETDEVICES', 'if ETHERNET', 'if NET_VENDOR_INTEL']);
    expect(e1000?.inherited[0]?.loc.file).toBe('drivers/net/Kconfig');
    const gzip = db.symbols.get('KERNEL_GZIP')?.definitions[0];
    expect(gzip?.choice?.members).toContain('KERNEL_XZ');
  });
});

describe('the allnoconfig result', () => {
  it('really dropped LIVEUPDATE and kept KEXEC_HANDOVER off', () => {
    expect(finalConfig.get('KEXEC_HANDOVER')).toBe('n');
    expect(finalConfig.get('LIVEUPDATE') ?? 'n').toBe('n');
    expect(finalConfig.get('ZONE_DMA32')).toBe('y');
    expect(finalConfig.get('KERNEL_XZ')).toBe('y');
  });
});

describe('explainSymbol', () => {
  it('names the unmet dependency with its value and file:line for LIVEUPDATE=y', async () => {
    const line = await lineOf('kernel/liveupdate/Kconfig', /^\tdepends on KEXEC_HANDOVER$/, /^config LIVEUPDATE$/);
    const ex = explainSymbol(db, 'CONFIG_LIVEUPDATE', 'y', finalConfig);
    console.log(ex.lines.join('\n'));
    expect(ex.status).toBe('dropped');
    expect(ex.reasons[0]?.kind).toBe('unmet-depends');
    expect(ex.lines).toEqual([`CONFIG_LIVEUPDATE=y was dropped (final: is not set): depends on KEXEC_HANDOVER [=n] (kernel/liveupdate/Kconfig:${line})`]);
    const withOrigin = explainSymbol(db, 'LIVEUPDATE', 'y', finalConfig, { origin: 'luo.config:2' });
    expect(withOrigin.lines[0]).toMatch(/^CONFIG_LIVEUPDATE=y \(luo\.config:2\) was dropped/);
  });

  it('reports an unknown symbol as such, with a close name', () => {
    const ex = explainSymbol(db, 'CONFIG_KEXEC_HANDOFF', 'y', finalConfig);
    console.log(ex.lines.join('\n'));
    expect(ex.status).toBe('unknown');
    expect(ex.reasons).toEqual([{ kind: 'unknown-symbol', suggestions: expect.arrayContaining(['KEXEC_HANDOVER']) as unknown }]);
    expect(ex.lines[0]).toMatch(/^CONFIG_KEXEC_HANDOFF does not exist in this tree's Kconfig .*\(did you mean .*CONFIG_KEXEC_HANDOVER/);
    // A symbol of another architecture does not exist for x86 either.
    expect(explainSymbol(db, 'ARM64_VA_BITS_48', 'y', finalConfig).status).toBe('unknown');
  });

  it('says a selected-only symbol has no prompt and names its selector', async () => {
    const line = await lineOf('kernel/liveupdate/Kconfig', /^\tselect MEMBLOCK_KHO_SCRATCH$/);
    const ex = explainSymbol(db, 'MEMBLOCK_KHO_SCRATCH', 'y', finalConfig);
    expect(ex.status).toBe('dropped');
    const reason = ex.reasons[0];
    expect(reason?.kind).toBe('no-prompt');
    if (reason?.kind !== 'no-prompt') return;
    expect(reason.selectors.map((s) => [s.by, s.active])).toEqual([['KEXEC_HANDOVER', 0]]);
    expect(ex.lines[0]).toContain('has no prompt');
    expect(ex.lines[0]).toContain(`selected by KEXEC_HANDOVER [=n] (kernel/liveupdate/Kconfig:${line})`);
  });

  it('lists the active selector of a symbol forced on', () => {
    const ex = explainSymbol(db, 'ZONE_DMA32', 'n', finalConfig);
    expect(ex.status).toBe('forced');
    expect(ex.reasons[0]?.kind).toBe('selected');
    expect(ex.lines[0]).toMatch(/^CONFIG_ZONE_DMA32=n was overridden \(final: y\): selected by X86_64 \[=y\] \(arch\/x86\/Kconfig:\d+\)$/);
  });

  it('explains a choice member that lost to another member', () => {
    const ex = explainSymbol(db, 'KERNEL_GZIP', 'y', finalConfig);
    expect(ex.status).toBe('dropped');
    expect(ex.reasons[0]).toMatchObject({ kind: 'choice', chosen: 'KERNEL_XZ', member: true });
    expect(ex.lines[0]).toContain('CONFIG_KERNEL_XZ was chosen');
  });

  it('marks the failing conjunct of a compound dependency', () => {
    const ex = explainSymbol(db, 'X86_X2APIC', 'y', finalConfig);
    expect(ex.status).toBe('dropped');
    expect(ex.lines[0]).toMatch(/depends on X86_LOCAL_APIC \[=y\] && X86_64 \[=y\] && \(IRQ_REMAP \[=n\] \|\| HYPERVISOR_GUEST \[=n\]\)/);
    expect(ex.lines[1]).toBe('  unmet: IRQ_REMAP [=n] || HYPERVISOR_GUEST [=n]');
  });

  it('says nothing when the request was met', () => {
    const ex = explainSymbol(db, 'KEXEC_HANDOVER', 'n', finalConfig);
    expect(ex.status).toBe('ok');
    expect(ex.lines).toEqual([]);
  });
});
