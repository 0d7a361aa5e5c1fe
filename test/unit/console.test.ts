import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleWatcher } from '../../orchestrator/vm/console.ts';
import { rejection } from '../helpers/rejection.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'console');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** Feeds a recorded console in uneven chunks, as a socket would deliver it. */
function feed(w: ConsoleWatcher, bytes: Buffer, chunk = 97): void {
  for (let i = 0; i < bytes.length; i += chunk) w.push(bytes.subarray(i, i + chunk));
}


const shutdown = { outcome: 'vm-failed', message: 'QEMU exited (code 0, guest-shutdown)' } as const;

describe('console watcher', () => {
  let dir: string;
  let w: ConsoleWatcher;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'handover-console-test-'));
    w = new ConsoleWatcher({ logDir: dir, crashHoldMs: 200 });
  });
  afterEach(async () => {
    await w.end(shutdown);
    await rm(dir, { recursive: true, force: true });
  });

  it('splits a real kexec console into two boots, each with its own slice, when the kexec was announced', async () => {
    const next = w.expectKexec();
    expect(next).toBe(2);
    const boot2 = w.waitForBoot(2, { deadlineMs: 5000 });
    const marker2 = w.waitForLine(/HANDOVER-TEST-MARKER boot=(\d)/, { boot: 2, deadlineMs: 5000 });
    feed(w, fixture('kexec-two-boots.log'));
    expect((await boot2).text).toMatch(/^\[ +0\.000000\] Linux version 7\.3\.4/);
    expect((await marker2).match[1]).toBe('2');
    expect(w.boots).toBe(2);
    expect(w.crashes).toEqual([]);
    await w.end(shutdown);

    const slice1 = await readFile(w.bootLog(1), 'utf8');
    const slice2 = await readFile(w.bootLog(2), 'utf8');
    expect(slice1).toContain('HANDOVER-TEST-MARKER boot=1');
    expect(slice1).toContain('kexec_core: Starting new kernel');
    expect(slice1).not.toContain('boot=2');
    expect(slice2.split('\n')[0]).toMatch(/Linux version/);
    expect(slice2).toContain('KHO: found kexec handover data.');
    expect(slice2).toContain('HANDOVER-TEST-MARKER boot=2');
    expect(slice1 + slice2).not.toContain('\r');
  });

  it('records an unexpected reboot when a second banner arrives without expectKexec()', async () => {
    const waiting = w.waitForLine(/HANDOVER-TEST-MARKER boot=2/, { deadlineMs: 5000 });
    feed(w, fixture('kexec-two-boots.log'));
    const err = await rejection(waiting);
    expect(err.outcome).toBe('kernel-crash');
    expect(err.message).toContain('unexpected reboot: boot 2 began without an announced kexec');
    // Evidence: the end of the previous boot, then the new banner.
    expect(err.evidence).toContain('[    1.027613] kexec_core: Starting new kernel');
    expect(err.evidence.at(-1)).toMatch(/Linux version/);
    expect(w.crashes.map((c) => c.kind)).toEqual(['unexpected-reboot']);
  });

  it('fails a pending wait with kernel-crash and the panic excerpt as soon as the report is complete', async () => {
    const waiting = w.waitForLine(/HANDOVER-TEST-MARKER/, { deadlineMs: 60_000 });
    const t0 = performance.now();
    feed(w, fixture('panic-no-rootfs.log'));
    // No end(): the report has no footer, so the hold timer must deliver it, not the 60 s deadline.
    const err = await rejection(waiting);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err.outcome).toBe('kernel-crash');
    expect(err.message).toContain('Kernel panic - not syncing: VFS: Unable to mount root fs');
    expect(err.evidence.join('\n')).toContain('Call Trace:');
  });

  it('rejects a wait registered after the crash at once', async () => {
    feed(w, fixture('panic-init-exit.log'));
    await w.end(shutdown);
    const err = await rejection(w.waitForLine(/never/, { deadlineMs: 60_000 }));
    expect(err.outcome).toBe('kernel-crash');
    expect(err.message).toContain('Attempted to kill init!');
  });

  it('lets a wait for the panic line itself succeed (failOnCrash: false is not even needed)', async () => {
    const waiting = w.waitForLine(/Kernel panic - not syncing: (.*)/, { deadlineMs: 5000 });
    feed(w, fixture('panic-no-rootfs.log'));
    expect((await waiting).match[1]).toMatch(/^VFS: Unable to mount root fs/);
  });

  it('finds a line that arrived before the wait began', async () => {
    feed(w, fixture('clean-poweroff.log'));
    const m = await w.waitForLine(/HANDOVER-TEST-MARKER uptime=([\d.]+)/, { deadlineMs: 10 });
    expect(Number(m.match[1])).toBeGreaterThan(0);
    expect(m.line.boot).toBe(1);
  });

  it('ends a wait at its deadline with its own outcome and the console tail as evidence', async () => {
    feed(w, fixture('clean-poweroff.log').subarray(0, 2000));
    const t0 = performance.now();
    const err = await rejection(w.waitForLine(/never printed/, { deadlineMs: 150, outcome: 'kexec-timeout' }));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(err.outcome).toBe('kexec-timeout');
    expect(err.message).toContain('not seen within 150 ms');
    expect(err.evidence.length).toBeGreaterThan(0);
    expect(err.artifacts['console.boot-1']).toBe(w.bootLog(1));
  });

  it('tells pending waits how the console ended', async () => {
    const waiting = rejection(w.waitForLine(/never printed/, { deadlineMs: 60_000 }));
    feed(w, fixture('clean-poweroff.log'));
    await w.end({ outcome: 'vm-failed', message: 'QEMU exited (code 0, guest-shutdown) before this appeared' });
    const err = await waiting;
    expect(err.outcome).toBe('vm-failed');
    expect(err.message).toContain('guest-shutdown');
    expect(w.crashes).toEqual([]);
  });

  it('delivers a crash from a line that had no newline when the console ended', async () => {
    w.push('[    3.000000] Kernel panic - not syncing: cut off');
    await w.end(shutdown);
    expect(w.crashes.map((c) => c.title)).toEqual(['Kernel panic - not syncing: cut off']);
  });
});
