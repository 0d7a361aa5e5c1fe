import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isBootBanner,
  knownCrashOf,
  matchCrashTitle,
  printkMessage,
  scanConsoleLog,
  type CrashKind,
} from '../../orchestrator/vm/crash-catalogue.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'console');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

describe('crash catalogue on real consoles of the 7.3 KHO/LUO kernel', () => {
  it('finds nothing in a clean boot and poweroff', () => {
    const text = fixture('clean-poweroff.log');
    expect(text).toContain('reboot: Power down');
    expect(scanConsoleLog(text)).toEqual([]);
  });

  it('finds nothing in user-mode segfault, invalid-opcode and general-protection lines', () => {
    const text = fixture('userspace-faults.log');
    // The fixture does hold the look-alike lines this test is about.
    expect(text).toMatch(/traps: fault\[\d+\] general protection fault ip:/);
    expect(text).toMatch(/traps: fault\[\d+\] trap invalid opcode ip:/);
    expect(text).toMatch(/fault\[\d+\]: segfault at 0 /);
    expect(scanConsoleLog(text)).toEqual([]);
  });

  it('reports the panic of a kernel with no root fs, with its call trace and lead-up', () => {
    const crashes = scanConsoleLog(fixture('panic-no-rootfs.log'));
    expect(crashes).toHaveLength(1);
    const [c] = crashes;
    expect(c?.kind).toBe('panic');
    expect(c?.title).toBe('Kernel panic - not syncing: VFS: Unable to mount root fs on "" or unknown-block(0,0)');
    expect(c?.boot).toBe(1);
    const excerpt = c?.excerpt.join('\n') ?? '';
    expect(excerpt).toContain('No filesystem could mount root'); // context before the title
    expect(excerpt).toContain('Call Trace:');
    expect(excerpt).toContain('mount_root_generic');
    expect(excerpt).toContain('Kernel Offset: disabled');
    expect(excerpt).not.toContain('\r');
  });

  it('reports the panic after rdinit=/nonexistent, keeping the line that explains it', () => {
    const [c, ...rest] = scanConsoleLog(fixture('panic-rdinit-nonexistent.log'));
    expect(rest).toEqual([]);
    expect(c?.kind).toBe('panic');
    expect(c?.title).toMatch(/^Kernel panic - not syncing: VFS: Unable to mount root fs/);
    expect(c?.excerpt.join('\n')).toContain('check access for rdinit=/nonexistent failed');
  });

  it('reports "Attempted to kill init" when PID 1 exits', () => {
    const crashes = scanConsoleLog(fixture('panic-init-exit.log'));
    expect(crashes.map((c) => c.title)).toEqual(['Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000']);
    expect(crashes[0]?.excerpt.join('\n')).toContain('do_exit+');
  });

  it('counts two boots across a real kexec and finds no crash', () => {
    const text = fixture('kexec-two-boots.log');
    expect(text.split('\n').filter(isBootBanner)).toHaveLength(2);
    expect(scanConsoleLog(text)).toEqual([]);
  });
});

describe('crash catalogue on hand-written kernel-format excerpts', () => {
  it('reports a WARNING with its cut-here line and full trace, closed by the footer', () => {
    const crashes = scanConsoleLog(fixture('kernel-format/warning-cpu-pid.log'));
    expect(crashes).toHaveLength(1);
    const [c] = crashes;
    expect(c?.kind).toBe('warning');
    expect(c?.title).toBe('WARNING: CPU: 0 PID: 1 at kernel/liveupdate/luo_file.c:857 luo_file_set_destroy+0x5e/0x70');
    expect(c?.excerpt[0]).toContain('Run /init as init process');
    expect(c?.excerpt.at(-1)).toContain('---[ end trace');
    // The report ends at its footer: later console lines are not part of it.
    expect(c?.excerpt.join('\n')).not.toContain('after-warning');
  });

  it('reports the newer WARNING title format', () => {
    const [c] = scanConsoleLog(fixture('kernel-format/warning-new-format.log'));
    expect(c?.kind).toBe('warning');
    expect(c?.title).toMatch(/^WARNING: kernel\/liveupdate\/luo_file\.c:857 at luo_file_set_destroy/);
  });

  it('reports a NULL dereference Oops first, then the Fatal exception panic separately', () => {
    const crashes = scanConsoleLog(fixture('kernel-format/oops-null-deref-then-panic.log'));
    expect(crashes.map((c) => [c.kind, c.title])).toEqual([
      ['bug', 'BUG: kernel NULL pointer dereference, address: 0000000000000008'],
      ['panic', 'Kernel panic - not syncing: Fatal exception'],
    ]);
    // The Oops line was inside the first report: folded into it, not a crash of its own.
    expect(crashes[0]?.alsoSeen).toEqual(['Oops: Oops: 0000 [#1] SMP NOPTI']);
  });

  it('delivers a KASAN report that has no footer when the log ends', () => {
    const crashes = scanConsoleLog(fixture('kernel-format/kasan-no-footer.log'));
    expect(crashes).toHaveLength(1);
    expect(crashes[0]?.kind).toBe('kasan');
    expect(crashes[0]?.excerpt.join('\n')).toContain('Freed by task 1:');
  });

  it('honours extra ignore patterns (a WARNING a scenario provokes on purpose)', () => {
    const text = fixture('kernel-format/warning-cpu-pid.log');
    expect(scanConsoleLog(text, { ignore: [/luo_file\.c:857/] })).toEqual([]);
  });
});

describe('crash titles', () => {
  const cases: [string, CrashKind | undefined][] = [
    ['[   26.123456] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [init:1]', 'soft-lockup'],
    ['[   30.000000] watchdog: Watchdog detected hard LOCKUP on cpu 1', 'hard-lockup'],
    ['[  122.880000] INFO: task init:1 blocked for more than 122 seconds.', 'hung-task'],
    ['[   21.000000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['[   21.000000] INFO: rcu_sched self-detected stall on CPU', 'rcu-stall'],
    ['[    5.000000] UBSAN: array-index-out-of-bounds in kernel/liveupdate/kho_block.c:75:3', 'ubsan'],
    ['[    5.000000] BUG: KFENCE: use-after-free read in luo_file_get+0x10/0x40', 'kfence'],
    ['[    5.000000] Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] SMP KASAN NOPTI', 'oops'],
    ['[    5.000000] general protection fault: 0000 [#1] SMP PTI', 'gpf'],
    ['[    5.000000] kernel BUG at mm/memblock.c:1234!', 'bug'],
    ['[    5.000000] invalid opcode: 0000 [#1] SMP NOPTI', 'trap'],
    ['[    5.000000] WARNING: possible circular locking dependency detected', 'lockdep'],
    ['[    5.000000] WARNING: suspicious RCU usage', 'lockdep'],
    ['[    5.000000] BUG: sleeping function called from invalid context at mm/slab.h:123', 'bug'],
    ['<0>[    5.000000][    T1] Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: f', 'panic'],
    ['[    5.000000] PANIC: double fault, error_code: 0x0', 'panic'],
    // Look-alikes that are not crashes:
    ['WARNING: /etc/ssh/moduli does not exist, using fixed modulus', undefined],
    ['[    5.000000] traps: sh[77] general protection fault ip:4011 sp:7ffd error:0 in sh[1000+2000]', undefined],
    ['[    5.000000] ---[ end Kernel panic - not syncing: Fatal exception ]---', undefined],
    ['[    0.420000] KHO: disabling KHO revival', undefined],
    ['[    0.000000] Linux version 7.3.4 (root@vm) #1 SMP PREEMPT', undefined],
    ['[    5.000000] WARNING: kernel not compiled with CPU_SRSO', undefined],
    ['echo "no BUG: here" from a test step', undefined],
  ];
  it.each(cases)('%s -> %s', (line, kind) => {
    expect(matchCrashTitle(line)?.kind).toBe(kind);
  });

  it('strips printk decorations', () => {
    expect(printkMessage('<4>[   12.345678][   T42] hello')).toBe('hello');
    expect(printkMessage('[    0.000000] Linux version 7.3.4')).toBe('Linux version 7.3.4');
    expect(printkMessage('plain userspace line')).toBe('plain userspace line');
  });
});

describe('KASAN reports on real consoles of the kasan profile (7.3.4, --profile kasan)', () => {
  it('four LKDTM reports are four kasan crashes, each ending at its closing rule, with its alloc/free stacks', () => {
    const crashes = scanConsoleLog(fixture('kasan-lkdtm.log'));
    expect(crashes.map((c) => [c.kind, c.title.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, '')])).toEqual([
      ['kasan', 'BUG: KASAN: slab-use-after-free in lkdtm_READ_AFTER_FREE'],
      ['kasan', 'BUG: KASAN: use-after-free in lkdtm_READ_BUDDY_AFTER_FREE'],
      ['kasan', 'BUG: KASAN: slab-out-of-bounds in lkdtm_SLAB_LINEAR_OVERFLOW'],
      ['kasan', 'BUG: KASAN: double-free in lkdtm_do_action'],
    ]);
    for (const c of crashes) {
      const msgs = c.excerpt.map((l) => printkMessage(l).trimEnd());
      // The whole report: the rule before the title (context), the body, and the closing rule last.
      const t = msgs.indexOf(c.title);
      expect(msgs[t - 1]).toMatch(/^={66}$/);
      expect(msgs.at(-1)).toMatch(/^={66}$/);
      expect(msgs.slice(t, -1).filter((m) => /^={66}$/.test(m))).toEqual([]);
      expect(c.alsoSeen).toEqual([]);
      expect(msgs.join('\n')).toContain('Call Trace:');
    }
    const [slab, buddy] = crashes.map((c) => c.excerpt.join('\n'));
    expect(slab).toMatch(/Allocated by task \d+:/);
    expect(slab).toMatch(/Freed by task \d+:/);
    // A buddy page's report carries page_owner's last alloc and free stacks (page_owner=on).
    expect(buddy).toContain('page_owner tracks the page as freed');
    expect(buddy).toMatch(/page last free pid \d+/);
    expect(crashes.map((c) => knownCrashOf(c.excerpt))).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('a kexec with LUO data, then reading kho/in/sub_fdts/LUO: no KASAN report (the page is allocated again)', () => {
    const text = fixture('kasan-kexec-in-luo-read.log');
    expect(text).toContain('KernelAddressSanitizer initialized (generic)');
    expect(text).toMatch(/luo: Retrieved live update data, liveupdate number: 1/);
    expect(text).toMatch(/BEFORE-READ[\s\S]*AFTER-READ/);
    expect(scanConsoleLog(text)).toEqual([]);
  });

  it('the LA57 identify_cpu race is a kasan crash that the known-bug catalogue names', () => {
    const crashes = scanConsoleLog(fixture('kasan-la57-wild-memory-access.log'));
    expect(crashes[0]).toMatchObject({ kind: 'kasan', boot: 1, title: 'BUG: KASAN: wild-memory-access in _raw_spin_lock+0x5e/0xb0' });
    expect(crashes.map((c) => c.kind)).toEqual(crashes.map(() => 'kasan'));
    expect(knownCrashOf(crashes[0]?.excerpt ?? [])?.id).toBe('x86-la57-kasan-identify-cpu');
    // The signature wants the identify_cpu window: the same access from anywhere else is not it.
    const elsewhere = (crashes[0]?.excerpt ?? []).map((l) => l.replace('identify_cpu+', 'some_other_function+'));
    expect(knownCrashOf(elsewhere)).toBeUndefined();
  });
});
