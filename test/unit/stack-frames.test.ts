// Frames of real crash reports (recorded consoles of the 7.3.4 kernels, see test/fixtures/console).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanConsoleLog } from '../../orchestrator/vm/crash-catalogue.ts';
import { parseStackFrames } from '../../orchestrator/vm/stack-frames.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'console');
const crashesIn = (name: string) => scanConsoleLog(readFileSync(join(FIXTURES, name), 'utf8'));

describe('stack frames of recorded crash reports', () => {
  it('reads a KASAN use-after-free: the title, the call trace, the alloc and free stacks and page_owner’s', () => {
    const [uaf] = crashesIn('kasan-lkdtm.log');
    const frames = parseStackFrames(uaf?.excerpt ?? []);
    const stacks = [...new Set(frames.map((f) => f.stack))];
    expect(stacks).toEqual([
      'BUG: KASAN: slab-use-after-free in lkdtm_READ_AFTER_FREE+0x250/0x2e0',
      'Call Trace',
      'Allocated by task 59',
      'Freed by task 59',
      expect.stringMatching(/^page last allocated via order 2/),
      'page last free pid 1 tgid 1 ts 34043921641 stack trace',
    ]);
    // The title frame is a return address (KASAN's caller), decoded one byte back.
    expect(frames[0]).toMatchObject({ func: 'lkdtm_READ_AFTER_FREE', offset: 0x250, size: 0x2e0, exact: false, unreliable: false });
    expect(frames.find((f) => f.func === '_raw_spin_lock_irq')).toMatchObject({ unreliable: true, stack: 'Call Trace' });
    expect(frames.filter((f) => f.stack === 'Freed by task 59').map((f) => f.func)).toContain('kfree');
    // User space's `RIP: 0033:0x47b7a0` is no kernel frame.
    expect(frames.some((f) => f.stack === 'RIP')).toBe(false);
    // Every frame keeps its console line verbatim.
    for (const f of frames) expect(uaf?.excerpt[f.line]).toBe(f.raw);
    expect(frames.find((f) => f.func === 'kfree')?.raw).toBe('[   35.427995]  kfree+0xba/0x2e0');
  });

  it('reads an interrupt taken in kernel mode: the RIP frame is the exact instruction', () => {
    const [race] = crashesIn('kasan-la57-wild-memory-access.log');
    const frames = parseStackFrames(race?.excerpt ?? []);
    const rip = frames.find((f) => f.stack === 'RIP');
    expect(rip).toMatchObject({ func: '__cpuid_reset_table.constprop.0', offset: 0x216, size: 0x2f0, exact: true });
    expect(frames.map((f) => f.func)).toEqual(expect.arrayContaining(['handle_edge_irq', 'identify_cpu', 'start_kernel', 'common_startup_64']));
  });

  it('reads a panic’s call trace', () => {
    const [panic] = crashesIn('panic-no-rootfs.log');
    expect(parseStackFrames(panic?.excerpt ?? []).map((f) => `${f.unreliable ? '? ' : ''}${f.func}`)).toEqual([
      'vpanic',
      'panic',
      'mount_root_generic',
      '? rest_init',
      'prepare_namespace',
      '? rest_init',
      'kernel_init',
      'ret_from_fork',
      '? rest_init',
      'ret_from_fork_asm',
    ]);
  });

  it('reads both WARNING title formats: the WARN’s own instruction is exact', () => {
    for (const name of ['kernel-format/warning-cpu-pid.log', 'kernel-format/warning-new-format.log']) {
      const [warn] = crashesIn(name);
      const frames = parseStackFrames(warn?.excerpt ?? []);
      expect(frames[0], name).toMatchObject({ func: 'luo_file_set_destroy', offset: 0x5e, size: 0x70, exact: true });
      expect(frames.find((f) => f.func === 'luo_session_release'), name).toMatchObject({ exact: false, stack: 'Call Trace' });
    }
  });

  it('reads old kernels’ `[<address>] func+off/size` frames and names module frames', () => {
    const frames = parseStackFrames([
      '[  107.327411]  [<ffffffff8110424c>] call_usermodehelper_freeinfo+0x2c/0x30',
      '[  107.327412]  ? foo_probe+0x1a/0x40 [foo_drv]',
      '[  107.327413] Code: 48 8b 43 08 <0f> 0b',
    ]);
    expect(frames).toEqual([
      expect.objectContaining({ line: 0, func: 'call_usermodehelper_freeinfo', offset: 0x2c, size: 0x30 }),
      expect.objectContaining({ line: 1, func: 'foo_probe', module: 'foo_drv', unreliable: true }),
    ]);
  });
});
