// Decoded crash frames in every report, beside the raw lines, from recorded results.json files of
// real runs whose kernel panicked at boot (`--append 'rdinit=/nonexistent init=/nonexistent'`):
// under the kasan profile (DWARF: file:line) and on the default kernel (no DWARF: function+offset).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { consoleReporter } from '../../orchestrator/report/console-reporter.ts';
import { decodedLines } from '../../orchestrator/report/decoded-stack.ts';
import { toHtml } from '../../orchestrator/report/html.ts';
import { toJUnit } from '../../orchestrator/report/junit.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'results');
const load = (name: string): RunResult => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as RunResult;
const kasan = load('kasan-panic-decoded.json');
const plain = load('default-panic-decoded.json');
const uaf = load('kasan-uaf-decoded.json');
const warning = load('kasan-warning-decoded.json');

function consoleText(run: RunResult): string {
  const err = new PassThrough();
  let text = '';
  err.on('data', (b: Buffer) => (text += b.toString()));
  const r = consoleReporter(err, new PassThrough());
  for (const sc of run.scenarios) r.scenarioEnd?.(sc);
  return text;
}

describe('decoded crash frames in the reports', () => {
  const sc = kasan.scenarios[0];
  const d = sc?.decodedCrashes?.[0];

  it('the recorded kasan run decoded its panic; the raw lines are the evidence', () => {
    expect(d).toMatchObject({ status: 'decoded', boot: 1 });
    expect(sc?.evidence?.some((l) => /^\[ *\d+\.\d+\] {2}mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+$/.test(l))).toBe(true);
  });

  it('prints each frame as function+offset file:line, inlined callees first, under its stack', () => {
    const lines = decodedLines(d as NonNullable<typeof d>);
    expect(lines[0]).toMatch(/^decoded frames of "Kernel panic - not syncing: VFS: Unable to mount root fs on .*" \(boot 1\): decoded with \S+\/vmlinux \(its banner is the console's\)$/);
    expect(lines).toContain('  Call Trace:');
    expect(lines.some((l) => /^ {4}mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ init\/do_mounts\.c:\d+$/.test(l))).toBe(true);
    expect(lines).toContain('    ? init_rootfs+0x40/0x40 init/do_mounts.c:520');
    // A stale return address at the very end of a function lands in its padding: said, not guessed.
    expect(lines).toContain('    ? rest_init+0x1c0/0x1c0 (addr2line found no line for this address)');
    // prepare_namespace's call site was inlined twice: both callees, innermost first, then the frame.
    const at = lines.findIndex((l) => l.startsWith('    ? mount_root+0x273/0x320 '));
    expect(lines.slice(at - 2, at + 1)).toEqual(['    create_dev init/do_mounts.h:22 [inline]', '    mount_block_root init/do_mounts.c:369 [inline]', '    ? mount_root+0x273/0x320 init/do_mounts.c:400']);
    for (const l of lines.filter((x) => x.endsWith('[inline]'))) expect(l).toMatch(/^ {4}\w+ \S+:\d+ \[inline\]$/);
  });

  it('shows them in the console, JUnit and HTML reports, after the raw report', () => {
    const text = consoleText(kasan);
    const raw = text.indexOf('mount_root_generic+0x');
    const decoded = text.search(/mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ init\/do_mounts\.c:\d+/);
    expect(raw).toBeGreaterThan(0);
    expect(decoded).toBeGreaterThan(raw);
    const junit = toJUnit(kasan);
    expect(junit).toMatch(/<failure message="kernel-crash: [^"]*">[^<]*\] {2}mount_root_generic\+0x[^<]*decoded frames of [^<]*mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ init\/do_mounts\.c:\d+/);
    const html = toHtml(kasan);
    expect(html).toContain('<h4>Decoded frames (boot 1, decoded)</h4><pre class="decoded">decoded frames of &quot;Kernel panic');
    expect(html.indexOf('<pre class="evidence">')).toBeLessThan(html.indexOf('<pre class="decoded">'));
  });

  it('decodes a real KASAN report: the bad access, then where the object was allocated and freed', () => {
    const r = uaf.scenarios[0];
    expect(r).toMatchObject({ status: 'failed', outcome: 'kernel-crash' });
    expect(r?.knownCrash).toBeUndefined();
    const k = r?.decodedCrashes?.[0];
    expect(k?.status).toBe('decoded');
    const where = (stack: RegExp, func: string) =>
      k?.frames.find((f) => stack.test(f.stack) && f.func === func)?.locations.map((l) => `${l.func} ${l.file ?? '?'}:${l.line ?? 0}${l.inlined ? ' [inline]' : ''}`);
    // drivers/misc/lkdtm/heap.c:124 `saw = base[offset];`, :104 `base = kmalloc(len, GFP_KERNEL);`, :121 `kfree(base);`
    expect(where(/^BUG: KASAN: slab-use-after-free in /, 'lkdtm_READ_AFTER_FREE')).toEqual(['lkdtm_READ_AFTER_FREE drivers/misc/lkdtm/heap.c:124']);
    expect(where(/^Allocated by task \d+$/, 'lkdtm_READ_AFTER_FREE')).toEqual(['_kmalloc_noprof include/linux/slab.h:991 [inline]', 'lkdtm_READ_AFTER_FREE drivers/misc/lkdtm/heap.c:104']);
    expect(where(/^Freed by task \d+$/, 'lkdtm_READ_AFTER_FREE')).toEqual(['lkdtm_READ_AFTER_FREE drivers/misc/lkdtm/heap.c:121']);
    expect(where(/^Freed by task \d+$/, 'kfree')?.at(-1)).toMatch(/^kfree mm\/slub\.c:\d+$/);
    expect(where(/^page last allocated via /, 'get_page_from_freelist')?.at(-1)).toMatch(/^get_page_from_freelist mm\/page_alloc\.c:\d+$/);
    const lines = decodedLines(k as NonNullable<typeof k>);
    expect(lines).toEqual(expect.arrayContaining(['  Allocated by task 61:', '  Freed by task 61:', '    lkdtm_READ_AFTER_FREE+0x250/0x2e0 drivers/misc/lkdtm/heap.c:124']));
  });

  it('decodes a real WARNING to the very file:line its title names (the WARN’s address is exact, not a return address)', () => {
    const w = warning.scenarios[0]?.decodedCrashes?.[0];
    const named = /^WARNING: (\S+):(\d+) at /.exec(w?.title ?? '');
    expect(named?.[1]).toBe('drivers/misc/lkdtm/bugs.c');
    for (const stack of [/^WARNING: /, /^RIP$/]) {
      const f = w?.frames.find((x) => stack.test(x.stack));
      expect(f, String(stack)).toMatchObject({ func: 'lkdtm_WARNING', exact: true });
      expect(f?.locations.at(-1)).toMatchObject({ func: 'lkdtm_WARNING', file: named?.[1], line: Number(named?.[2]) });
    }
  });

  it('on the default kernel, says there is no line info and shows the addresses', () => {
    const p = plain.scenarios[0]?.decodedCrashes?.[0];
    expect(p?.status).toBe('symbols-only');
    const lines = decodedLines(p as NonNullable<typeof p>);
    expect(lines[0]).toMatch(/\): no line info: the build has no DWARF \(/);
    expect(lines.some((l) => /^ {4}mount_root_generic\+0x[0-9a-f]+\/0x[0-9a-f]+ 0xffffffff8[0-9a-f]{7}$/.test(l))).toBe(true);
    expect(consoleText(plain)).toContain('no line info: the build has no DWARF');
  });

  it('a report that was not decoded says why and lists no frames', () => {
    const p = plain.scenarios[0]?.decodedCrashes?.[0];
    const lines = decodedLines({ ...(p as NonNullable<typeof p>), status: 'not-decoded', note: 'not decoded: addr2line failed (ENOENT); raw lines kept' });
    expect(lines).toEqual([expect.stringMatching(/\(boot 1\): not decoded: addr2line failed \(ENOENT\); raw lines kept$/)]);
  });
});
