// The symbolizer on recorded consoles. Decoding needs the very build that printed a console: the
// tests that need one use a cached kernel (~/.cache/handover/kernels) whose banner is the
// console's, and skip, saying so, when this machine has none. The parsers run on recorded output.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KernelMetadata } from '../../orchestrator/kernel/build.ts';
import { parseAddr2line, parseSystemMap, symbolizeReports } from '../../orchestrator/kernel/symbolize.ts';
import { vmlinuxIdentity } from '../../orchestrator/kernel/vmlinux-identity.ts';
import { cacheRoot } from '../../orchestrator/paths.ts';
import { isBootBanner, printkMessage, scanConsoleLog } from '../../orchestrator/vm/crash-catalogue.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const text = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');
const bannerOf = (console: string) => {
  const line = console.split('\n').find(isBootBanner);
  return line === undefined ? undefined : printkMessage(line).trimEnd();
};

/** Cached kernels (complete entries only), each with its vmlinux's banner. */
const cached = (() => {
  const dir = join(cacheRoot(), 'kernels');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => !d.includes('.partial') && existsSync(join(dir, d, 'metadata.json')) && existsSync(join(dir, d, 'vmlinux')))
    .map((d) => ({ dir: join(dir, d), metadata: JSON.parse(readFileSync(join(dir, d, 'metadata.json'), 'utf8')) as KernelMetadata }));
})();
const anyKernel = cached[0];

describe('the symbolizer’s parsers, on recorded output', () => {
  it('reads System.map text symbols with the distance to the next one (kallsyms’ /size)', () => {
    // Excerpts of the System.map of the default build that printed console/panic-no-init-default.log.
    const map = parseSystemMap(text('symbolize/System.map.excerpt'));
    expect(map.get('mount_root_generic')).toEqual([{ addr: 0xffffffff81a7d6f0n, gap: 0x2a0n }]);
    // Two static functions of one name and size: only the address could tell them apart.
    expect(map.get('branches_show')).toEqual([
      { addr: 0xffffffff81008230n, gap: 0x20n },
      { addr: 0xffffffff8100bbb0n, gap: 0x20n },
    ]);
    // Data symbols are not frames.
    expect([...map.keys()].filter((k) => k.startsWith('__setup_') || k === 'linux_banner')).toEqual([]);
  });

  it('reads addr2line -a -f -i output: inline chains innermost first, paths made relative to the tree', () => {
    const out = text('symbolize/addr2line.out');
    const addresses = [...out.matchAll(/^0x0*([0-9a-f]+)$/gm)].map((m) => `0x${m[1] ?? ''}`);
    const locs = parseAddr2line(out, addresses, ['/root/.cache/handover/sources/debian/linux-source-7.3_7.3.4-1~bpo13+1/linux']);
    const all = [...locs.values()].flat();
    expect(all.length).toBeGreaterThan(addresses.length - 1);
    for (const l of all) expect(l.file ?? '', JSON.stringify(l)).not.toMatch(/^\//);
    expect(all.some((l) => l.inlined)).toBe(true);
    expect(all.find((l) => l.func === 'mount_root_generic')).toMatchObject({ file: 'init/do_mounts.c', inlined: false });
  });

  it('resolves the ../ paths of a build whose O= sits inside the tree against that build dir', () => {
    // As addr2line prints it for the kasan build (recorded), and as a bare relative name.
    const out = [
      '0xffffffff828d59a0',
      'mount_root_generic',
      '/t/src/.handover-out-kasan/../init/do_mounts.c:242',
      '0xffffffff828d59b0',
      'prepare_namespace',
      '../init/do_mounts.c:500',
      '0xffffffff81000000',
      'foo',
      '/usr/src/other/x.c:7',
      '',
    ].join('\n');
    const locs = parseAddr2line(out, ['0xffffffff828d59a0', '0xffffffff828d59b0', '0xffffffff81000000'], ['/t/src/.handover-out-kasan', '/t/src'], '/t/src/.handover-out-kasan');
    expect(locs.get('0xffffffff828d59a0')).toEqual([{ func: 'mount_root_generic', file: 'init/do_mounts.c', line: 242, inlined: false }]);
    expect(locs.get('0xffffffff828d59b0')?.[0]?.file).toBe('init/do_mounts.c');
    // Absolute paths outside every prefix are kept as they are.
    expect(locs.get('0xffffffff81000000')?.[0]?.file).toBe('/usr/src/other/x.c');
  });
});

describe('the symbolizer refuses to decode with the wrong vmlinux, keeping the raw lines', () => {
  const [uaf] = scanConsoleLog(text('console/kasan-lkdtm.log'));
  const lines = uaf?.excerpt ?? [];
  const banner = bannerOf(text('console/kasan-lkdtm.log'));

  it('says so when the vmlinux is missing', async () => {
    const [d] = await symbolizeReports([{ lines, banner }], { vmlinux: '/nonexistent/vmlinux', systemMap: join(FIXTURES, 'symbolize', 'System.map.excerpt') });
    expect(d?.status).toBe('not-decoded');
    expect(d?.note).toMatch(/^not decoded: cannot read vmlinux \/nonexistent\/vmlinux \(ENOENT.*raw lines kept$/);
    expect(d?.frames.length).toBeGreaterThan(40);
    expect(d?.frames.every((f) => f.locations.length === 0 && lines[f.line] === f.raw)).toBe(true);
  });

  it.skipIf(anyKernel === undefined)('says so when the vmlinux is another build (needs a cached kernel; skipped without one)', async () => {
    const k = anyKernel as NonNullable<typeof anyKernel>;
    const [d] = await symbolizeReports([{ lines, banner }], { vmlinux: join(k.dir, 'vmlinux'), systemMap: join(k.dir, 'System.map') });
    expect(d?.status).toBe('not-decoded');
    expect(d?.note).toContain(`is another build (it prints 'Linux version ${k.metadata.release} `);
    expect(d?.note).toContain(`the console's kernel printed '${banner ?? ''}'`);
    expect(d?.frames.every((f) => f.locations.length === 0)).toBe(true);
  });

  it.skipIf(anyKernel === undefined)('says so when the console has no banner to check the build by (needs a cached kernel; skipped without one)', async () => {
    const k = anyKernel as NonNullable<typeof anyKernel>;
    const [d] = await symbolizeReports([{ lines, banner: undefined }], { vmlinux: join(k.dir, 'vmlinux'), systemMap: join(k.dir, 'System.map') });
    expect(d?.note).toMatch(/^not decoded: the console has no 'Linux version' banner for this boot/);
  });
});

/** The cached kernel that printed a recorded console, if this machine still has that very build. */
async function buildOf(banner: string | undefined): Promise<(typeof cached)[number] | undefined> {
  for (const k of cached) {
    const map = readFileSync(join(k.dir, 'System.map'), 'utf8');
    const at = /^([0-9a-f]+) [dDrR] linux_banner$/m.exec(map)?.[1];
    const id = await vmlinuxIdentity(join(k.dir, 'vmlinux'), at === undefined ? undefined : BigInt(`0x${at}`)).catch(() => undefined);
    if (id?.banner !== undefined && id.banner === banner) return k;
  }
  return undefined;
}
const recorded = text('console/panic-no-init-kasan.log');
const recordedBanner = bannerOf(recorded);
const own = await buildOf(recordedBanner);
const plainConsole = text('console/panic-no-init-default.log');
const plainBanner = bannerOf(plainConsole);
const plainOwn = await buildOf(plainBanner);
const optsOf = (k: (typeof cached)[number]) => ({
  vmlinux: join(k.dir, 'vmlinux'),
  systemMap: join(k.dir, 'System.map'),
  stripPrefixes: [k.metadata.source.dir, k.metadata.make.outputDir],
});

describe('the symbolizer on a recorded console of the default kernel (no DWARF)', () => {
  const [panic] = scanConsoleLog(plainConsole);
  const lines = (panic?.excerpt ?? []).map((l) => l.replace(/\r$/, ''));

  it.skipIf(plainOwn === undefined)('checks each frame against System.map and gives its address, saying there is no line info (needs the cached build that printed that console; skipped without it)', async () => {
    const k = plainOwn as NonNullable<typeof plainOwn>;
    const [d] = await symbolizeReports([{ lines, banner: plainBanner }], optsOf(k));
    expect(d?.status).toBe('symbols-only');
    expect(d?.note).toMatch(/^no line info: the build has no DWARF \(.*vmlinux has no \.debug_line\); function\+offset checked against its System\.map$/);
    expect(d?.frames.map((f) => f.func)).toContain('mount_root_generic');
    const map = parseSystemMap(readFileSync(join(k.dir, 'System.map'), 'utf8'));
    for (const f of d?.frames ?? []) {
      const sym = map.get(f.func)?.find((s) => s.gap === BigInt(f.size));
      expect(f.address, f.raw).toBe(`0x${((sym?.addr ?? 0n) + BigInt(f.offset)).toString(16)}`);
      expect(f.locations).toEqual([{ func: f.func, inlined: false }]);
    }
  });

  it.skipIf(plainOwn === undefined)('refuses a frame whose printed size is not its symbol’s (a mutated line; needs the cached build that printed the console)', async () => {
    const k = plainOwn as NonNullable<typeof plainOwn>;
    const mutated = lines.map((l) => l.replace(/mount_root_generic\+0x([0-9a-f]+)\/0x2a0$/, 'mount_root_generic+0x$1/0x2b0'));
    expect(mutated).not.toEqual(lines);
    const [d] = await symbolizeReports([{ lines: mutated, banner: plainBanner }], optsOf(k));
    const f = d?.frames.find((x) => x.func === 'mount_root_generic');
    expect(f).toMatchObject({ locations: [], note: "System.map's mount_root_generic is 0x2a0 long, the report's 0x2b0: not this symbol" });
    expect(f?.address).toBeUndefined();
    const twice = [...lines.slice(0, -1), '[    2.705600]  branches_show+0x5/0x20'];
    const [t] = await symbolizeReports([{ lines: twice, banner: plainBanner }], optsOf(k));
    expect(t?.frames.at(-1)).toMatchObject({ func: 'branches_show', locations: [], note: '2 symbols named branches_show of size 0x20: ambiguous' });
  });
});

describe('the symbolizer on a recorded console of a cached build', () => {
  const banner = recordedBanner;
  const [panic] = scanConsoleLog(recorded);

  it.skipIf(own === undefined)('decodes the panic’s frames to function, file and line (needs the cached build that printed that console; skipped without it)', async () => {
    const k = own as NonNullable<typeof own>;
    const [d] = await symbolizeReports([{ lines: panic?.excerpt ?? [], banner }], optsOf(k));
    expect(d?.status).toBe('decoded');
    expect(d?.frames.find((f) => f.func === 'mount_root_generic')?.locations.at(-1)).toMatchObject({ func: 'mount_root_generic', file: 'init/do_mounts.c' });
  });

  it.skipIf(own === undefined)('keeps the raw lines and says why when addr2line is missing or out of time (needs the cached build that printed that console; skipped without it)', async () => {
    const k = own as NonNullable<typeof own>;
    const opts = optsOf(k);
    const report = { lines: panic?.excerpt ?? [], banner };
    const [gone] = await symbolizeReports([report], { ...opts, addr2line: '/nonexistent/addr2line' });
    expect(gone).toMatchObject({ status: 'not-decoded' });
    expect(gone?.note).toMatch(/^not decoded: \/nonexistent\/addr2line failed \(.*ENOENT.*\); raw lines kept$/);
    // An addr2line that never answers is killed at the deadline.
    const dir = await mkdtemp(join(tmpdir(), 'handover-symbolize-'));
    const stuck = join(dir, 'addr2line');
    await writeFile(stuck, '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 });
    const t0 = Date.now();
    const [late] = await symbolizeReports([report], { ...opts, addr2line: stuck, deadlineMs: 3000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(late?.status).toBe('not-decoded');
    expect(late?.note).toMatch(/addr2line did not finish within \d+ s \(killed\); raw lines kept$/);
    expect(late?.frames.every((f) => f.locations.length === 0 && f.raw !== '')).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });
});

const uafConsole = text('console/kasan-read-after-free.log');
const uafBanner = bannerOf(uafConsole);
const uafOwn = await buildOf(uafBanner);

describe('the symbolizer on a recorded KASAN report of a cached build', () => {
  it.skipIf(uafOwn === undefined)('decodes the access, the alloc and the free stacks, one addr2line for all (needs the cached kasan+LKDTM build that printed that console; skipped without it)', async () => {
    const k = uafOwn as NonNullable<typeof uafOwn>;
    const [report] = scanConsoleLog(uafConsole);
    const t0 = Date.now();
    const [d] = await symbolizeReports([{ lines: report?.excerpt ?? [], banner: uafBanner }], optsOf(k));
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(d?.status).toBe('decoded');
    const own = (stack: RegExp) => d?.frames.find((f) => stack.test(f.stack) && f.func === 'lkdtm_READ_AFTER_FREE')?.locations.at(-1);
    expect(own(/^BUG: KASAN/)).toMatchObject({ file: 'drivers/misc/lkdtm/heap.c', line: 124 });
    expect(own(/^Allocated by/)).toMatchObject({ file: 'drivers/misc/lkdtm/heap.c', line: 104 });
    expect(own(/^Freed by/)).toMatchObject({ file: 'drivers/misc/lkdtm/heap.c', line: 121 });
  });
});

