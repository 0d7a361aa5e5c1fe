// Issue 15's live status through the real CLI: two scenarios at once (`--jobs 2`), once without a
// TTY (CI: plain periodic lines, no escape codes, stdout untouched) and once on a pty (the block
// redrawn in place, gone when the run ends); and `--no-status` prints none.
import { spawn as spawnPty } from '@lydell/node-pty';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKernel } from '../../orchestrator/kernel/build.ts';
import { screenOf } from '../helpers/screen.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'handover.js');
const PAIR = ['memfd-round-trip', 'no-leaks'];

let out = '';
beforeAll(async () => {
  await buildKernel();
  out = await mkdtemp(join(tmpdir(), 'handover-live-status-'));
});

const run = async (args: string[], env: Record<string, string> = {}) => {
  const r = await execa('node', [BIN, 'run', '--accel', 'tcg', '--retries', '0', ...args], {
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    env: { ...process.env, HANDOVER_STATUS_INTERVAL: '1', ...env },
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
};

describe('live status of parallel VMs', () => {
  it('off a TTY: plain status lines name both running scenarios and their step; stdout and KTAP stay clean', async () => {
    const dir = join(out, 'plain');
    const r = await run([...PAIR, '--jobs', '2', '-o', dir]);
    expect(r.exitCode).toBe(0);
    for (const name of PAIR) expect(r.stderr).toMatch(new RegExp(`^status: ${name}: step \\d+/\\d+ \\S.* \\(\\d+s\\)$`, 'm'));
    // Both at once: one period lists the two.
    expect(r.stderr).toMatch(/^status: memfd-round-trip: .*\nstatus: no-leaks: /m);
    expect(r.stderr).not.toContain('\x1b');
    // Status goes to stderr only: stdout is the summary line and nothing else.
    expect(r.stdout).toBe('2 passed, 0 failed\n');
    for (const file of ['results.ktap', 'junit.xml', 'results.json']) {
      const text = await readFile(join(dir, file), 'utf8');
      expect(text).not.toContain('status: ');
      expect(text).not.toContain('\x1b');
    }
    // Once a scenario's result is printed, it is not listed as running any more.
    const end = r.stderr.indexOf('\nok   memfd-round-trip in ');
    expect(end).toBeGreaterThan(0);
    expect(r.stderr.slice(end)).not.toMatch(/^status: memfd-round-trip:/m);
  });

  it('--no-status: no status lines at all', async () => {
    const r = await run(['memfd-round-trip', '--no-status', '-o', join(out, 'off')]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toMatch(/^status: /m);
    expect(r.stderr).toMatch(/^ok {3}memfd-round-trip in /m);
  });

  it('on a TTY: the block is redrawn in place and the final output is clean', async () => {
    const pty = spawnPty('node', [BIN, 'run', '--accel', 'tcg', '--retries', '0', ...PAIR, '--jobs', '2', '-o', join(out, 'tty')], {
      cols: 120,
      rows: 40,
      env: { ...process.env, TERM: 'xterm' },
    });
    let screen = '';
    pty.onData((d) => (screen += d));
    const exitCode = await new Promise<number>((resolve) => pty.onExit(({ exitCode: c }) => resolve(c)));
    expect(exitCode).toBe(0);
    // Drawn as a block of two lines and rewritten (cursor up two lines, clear line).
    expect(screen).toMatch(/ {2}▸ memfd-round-trip +\d+s {2}(boot|step \d+\/\d+)/);
    expect(screen).toMatch(/ {2}▸ no-leaks +\d+s {2}(boot|step \d+\/\d+)/);
    expect(screen).toContain('\x1b[2A');
    expect(screen).toContain('\r\x1b[K');
    // What is left on the terminal: the results and the summary, no status line.
    const left = screenOf(screen);
    expect(left.filter((l) => l.includes('▸'))).toEqual([]);
    expect(left.filter((l) => /^ok {3}(memfd-round-trip|no-leaks) in /.test(l))).toHaveLength(4);
    expect(left.at(-2)).toBe('2 passed, 0 failed');
    expect(left.at(-1)).toMatch(/^results: /);
  });
});
