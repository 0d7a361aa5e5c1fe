// The `log` step's verdicts on consoles recorded from real guests (test/fixtures/kho/README.md,
// test/fixtures/console/README.md): absence is proven only by a whole console that reached userspace.

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLog, type LogCheck } from '../../orchestrator/scenario/log-check.ts';
import { StepFailure } from '../../orchestrator/scenario/step-context.ts';
import { ConsoleWatcher } from '../../orchestrator/vm/console.ts';

const FIX = resolve(import.meta.dirname, '../fixtures');
const watchers: { w: ConsoleWatcher; dir: string }[] = [];

/** A watcher fed a recorded console whose kexecs were announced, as the VM layer does. */
async function consoleOf(fixture: string | undefined, opts: { kexecs?: number; historyLimit?: number } = {}): Promise<ConsoleWatcher> {
  const dir = await mkdtemp(join(tmpdir(), 'handover-log-check-'));
  const w = new ConsoleWatcher({ logDir: dir, crashHoldMs: 10, ...(opts.historyLimit === undefined ? {} : { historyLimit: opts.historyLimit }) });
  watchers.push({ w, dir });
  if (opts.kexecs !== undefined) w.expectKexec(opts.kexecs);
  if (fixture !== undefined) w.push(readFileSync(join(FIX, fixture)));
  return w;
}

afterEach(async () => {
  for (const { w, dir } of watchers.splice(0)) {
    await w.end({ outcome: 'vm-failed', message: 'test over' });
    await rm(dir, { recursive: true, force: true });
  }
});

function failure(con: ConsoleWatcher, check: LogCheck): string {
  try {
    checkLog(con, check);
  } catch (err) {
    if (err instanceof StepFailure) return err.message;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(check)} to fail`);
}

describe('log: contains', () => {
  it('finds the line on the boot asked for, and only there', async () => {
    const con = await consoleOf('kho/console-kexec-chain.log', { kexecs: 3 });
    expect(checkLog(con, { contains: 'liveupdate number: 2$', boot: 'all' }).line).toBe('[    0.387427] luo: Retrieved live update data, liveupdate number: 2');
    expect(failure(con, { contains: 'liveupdate number: 2$', boot: 'current' })).toBe("no line matching /liveupdate number: 2$/ on boot 4's console");
  });
});

describe('log: absent', () => {
  it('passes on a whole console that reached userspace without the line', async () => {
    const con = await consoleOf('kho/console-kexec-chain.log', { kexecs: 3 });
    expect(checkLog(con, { absent: 'KHO: exec from', boot: 'current' })).toEqual({});
    expect(failure(con, { absent: 'luo: Disabling liveupdate', boot: 'all' })).toBe(
      "boot 4's console has a line matching /luo: Disabling liveupdate/: [    0.226329] luo: Disabling liveupdate because KHO is disabled",
    );
  });

  it('fails on an empty console: nothing was watched', async () => {
    const con = await consoleOf(undefined);
    expect(failure(con, { absent: 'luo: Disabling liveupdate', boot: 'current' })).toBe(
      "boot 1's console has no line from userspace: cannot prove /luo: Disabling liveupdate/ is absent",
    );
  });

  it('fails on a boot that never reached userspace (a kernel panic)', async () => {
    const con = await consoleOf('console/panic-no-rootfs.log');
    expect(failure(con, { absent: 'KHO: exec from', boot: 'current' })).toBe("boot 1's console has no line from userspace: cannot prove /KHO: exec from/ is absent");
  });

  it('with boot: all, every boot must have reached userspace', async () => {
    // luo-v5 → luo-v6: boot 1 reached sshd, boot 2 panicked on the incompatible LUO state.
    const con = await consoleOf('kho/console-luo-v5-to-v6.log', { kexecs: 1 });
    expect(con.currentBoot).toBe(2);
    expect(failure(con, { absent: 'KHO: exec from', boot: 'all' })).toBe("boot 2's console has no line from userspace: cannot prove /KHO: exec from/ is absent");
  });
});

describe('log: contains and absent together', () => {
  it('both count: a present contains does not excuse a present absent', async () => {
    const con = await consoleOf('kho/console-kexec-chain.log', { kexecs: 3 });
    expect(failure(con, { contains: 'liveupdate number: 1$', absent: 'luo: Disabling liveupdate', boot: 'all' })).toMatch(
      /^boot 4's console has a line matching \/luo: Disabling liveupdate\//,
    );
    expect(failure(con, { contains: 'liveupdate number: 9$', absent: 'BUG:', boot: 'all' })).toBe('no line matching /liveupdate number: 9$/ on the console');
    expect(checkLog(con, { contains: 'liveupdate number: 1$', absent: 'BUG:', boot: 'all' }).line).toMatch(/liveupdate number: 1$/);
  });
});

describe('log: the console history cap', () => {
  // 925 lines in 4 boots (227, 235, 232, 231); a 300-line cap has dropped 602 of them: all of
  // boot 1, 235 of boot 2, 140 of boot 3, none of boot 4.
  it('tells a check which boot lost lines, and a boot that kept all of them still counts', async () => {
    const con = await consoleOf('kho/console-kexec-chain.log', { kexecs: 3, historyLimit: 300 });
    expect([1, 2, 3, 4].map((b) => con.trimmed(b))).toEqual([227, 235, 140, 0]);
    expect(checkLog(con, { absent: 'KHO: exec from', boot: 'current' })).toEqual({});
    expect(failure(con, { absent: 'BUG:', boot: 'all' })).toBe(
      "boot 1's first 227 lines are no longer in memory (the console history is capped at 300 lines): cannot prove /BUG:/ is absent",
    );
    expect(failure(con, { contains: 'liveupdate number: 1$', boot: 'all' })).toBe(
      "no line matching /liveupdate number: 1$/ on the console, but boot 1's first 227 lines are no longer in memory (the console history is capped at 300 lines): it may have been there",
    );
  });
});
