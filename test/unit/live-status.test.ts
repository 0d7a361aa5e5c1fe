// The live status of parallel VMs (issue 15), over a recorded sequence of runner events with a
// fake clock and a fake stream: the redrawn block on a TTY (checked on a minimal terminal), the
// plain periodic lines off one, the cleanup, and events that must not show a scenario as running.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLiveStatus, statusIntervalFromEnv, type Clock, type LiveStatus } from '../../orchestrator/log/live-status.ts';
import { elapsedText, stepPhase, ttyLines } from '../../orchestrator/log/status-lines.ts';
import { consoleReporter } from '../../orchestrator/report/console-reporter.ts';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { screenOf } from '../helpers/screen.ts';

/** Time moves only when the test says; timers fire for every period crossed. */
function fakeClock() {
  let t = 1_000_000;
  const timers: { every: number; next: number; fn: () => void }[] = [];
  const clock: Clock = {
    now: () => t,
    every(ms, fn) {
      const timer = { every: ms, next: t + ms, fn };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
  };
  const advance = (ms: number) => {
    const end = t + ms;
    for (;;) {
      const due = timers.filter((x) => x.next <= end).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      t = due.next;
      due.next += due.every;
      due.fn();
    }
    t = end;
  };
  return { clock, advance, timers };
}

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 60, write: (s: string) => chunks.push(s) }, chunks, text: () => chunks.join('') };
}

/** Two scenarios side by side, as `run --jobs 2` reports them; `at` moves the clock between events. */
function recorded(s: LiveStatus, at: (ms: number) => void) {
  s.scenarioStart('memfd-round-trip', 'a memfd survives');
  at(500);
  s.scenarioStart('no-leaks', 'no memory leaks');
  at(1500);
  s.stepStart('memfd-round-trip', { index: 0, total: 9, name: 'create' });
  at(1000);
  s.stepStart('memfd-round-trip', { index: 3, total: 9, name: 'kexec' });
  s.stepStart('no-leaks', { index: 0, total: 3, name: 'baseline' });
  at(3000);
}

describe('live status on a TTY', () => {
  it('draws one line per running VM with its step and elapsed time, redrawn in place', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(true);
    const s = createLiveStatus({ stream: out.stream, clock });
    recorded(s, advance);
    expect(screenOf(out.text())).toEqual(['  ▸ memfd-round-trip     6s  step 4/9 kexec', '  ▸ no-leaks             5s  step 1/3 baseline']);
    // Redrawn, not appended: many frames were written, the screen still has two lines.
    expect(out.chunks.length).toBeGreaterThan(3);
    expect(out.text()).toContain('\x1b[2A');
    expect(out.text()).toContain('\r\x1b[K');
  });

  it('draws at most four frames a second, and none when nothing changed', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(true);
    const s = createLiveStatus({ stream: out.stream, clock });
    s.scenarioStart('a', '');
    advance(10_000);
    // A frame at 0 s, then one per elapsed second (the text changes once a second), never per 250 ms tick.
    expect(out.chunks.length).toBe(11);
    for (let i = 0; i < 20; i++) s.stepStart('a', { index: i, total: 20, name: `s${i}` });
    // Twenty events, one frame.
    advance(250);
    expect(out.chunks.length).toBe(12);
    expect(screenOf(out.text())).toEqual(['  ▸ a    10s  step 20/20 s19']);
  });

  it('prints finished scenarios above the block, and leaves a clean screen at the end', () => {
    const { clock, advance, timers } = fakeClock();
    const out = fakeStream(true);
    const s = createLiveStatus({ stream: out.stream, clock });
    // The console reporter writes through the status, as `handover run` wires it.
    const console = consoleReporter(s.stream, { write: () => true } as unknown as NodeJS.WritableStream, { buffered: true });
    for (const r of [s, console]) r.scenarioStart?.('memfd-round-trip', 'd');
    for (const r of [s, console]) r.scenarioStart?.('no-leaks', 'd');
    advance(2000);
    s.stepStart('no-leaks', { index: 2, total: 3, name: 'check' });
    const ended = { name: 'memfd-round-trip', status: 'passed', durationMs: 2000, blackoutsMs: [], steps: [] } as never;
    s.scenarioEnd(ended);
    console.scenarioEnd?.(ended);
    // The result line is above; the block is lifted until the next frame draws it below.
    expect(screenOf(out.text())).toEqual(['▶ memfd-round-trip: d', 'ok   memfd-round-trip in 2.0s']);
    advance(250);
    expect(screenOf(out.text())).toEqual(['▶ memfd-round-trip: d', 'ok   memfd-round-trip in 2.0s', '  ▸ no-leaks     2s  step 3/3 check']);
    s.step('no-leaks', { index: 2, status: 'passed' });
    advance(250);
    expect(screenOf(out.text()).at(-1)).toBe('  ▸ no-leaks     2s  finishing');
    s.scenarioEnd({ name: 'no-leaks' });
    // The last one ended: block gone, timer stopped, the final report prints normally.
    expect(timers).toEqual([]);
    s.print('summary\n');
    expect(screenOf(out.text())).toEqual(['▶ memfd-round-trip: d', 'ok   memfd-round-trip in 2.0s', 'summary']);
  });

  it('stop() (the run ended or threw) lifts the block and the timer', () => {
    const { clock, advance, timers } = fakeClock();
    const out = fakeStream(true);
    const s = createLiveStatus({ stream: out.stream, clock });
    recorded(s, advance);
    s.stop();
    expect(timers).toEqual([]);
    expect(screenOf(out.text())).toEqual([]);
    advance(5000);
    expect(screenOf(out.text())).toEqual([]);
  });

  it('on Ctrl-C leaves the block as it is: a redraw would overwrite the message written below it', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(true);
    const controller = new AbortController();
    const s = createLiveStatus({ stream: out.stream, clock, signal: controller.signal });
    recorded(s, advance);
    // What runCommand does on SIGINT: straight to stderr, then abort.
    out.stream.write('\nhandover: SIGINT: stopping (again to force)\n');
    controller.abort();
    advance(3000);
    s.stepStart('no-leaks', { index: 1, total: 3, name: 'more' });
    advance(3000);
    s.stop();
    s.print('ok   no-leaks in 12s\n');
    expect(screenOf(out.text())).toEqual([
      '  ▸ memfd-round-trip     6s  step 4/9 kexec',
      '  ▸ no-leaks             5s  step 1/3 baseline',
      '',
      'handover: SIGINT: stopping (again to force)',
      'ok   no-leaks in 12s',
    ]);
  });

  it('cuts long step names (a step is named by its YAML)', () => {
    const s = stepPhase(2, 9, `retrieve {"session":"s1","tokens":{"1":"page","2":"mib","3":"sparse"}}`);
    expect(s).toBe('step 3/9 retrieve {"session":"s1","tokens":{"1":"page","2":"mib","3"…');
    expect(s.length - 'step 3/9 '.length).toBe(60);
    expect(stepPhase(3, 9, 'kexec')).toBe('step 4/9 kexec');
  });

  it('cuts lines to the terminal width, keeping the time: a wrapped line would break the redraw', () => {
    const [line] = ttyLines([{ name: 'n', startedAt: 0, phase: `step 1/2 ${'x'.repeat(100)}` }], 65_000, 40);
    expect(line).toHaveLength(39);
    expect(line).toContain('1m05s');
  });
});

describe('live status off a TTY (CI logs)', () => {
  it('prints plain lines every interval: each running scenario, its step and elapsed, no escape codes', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(false);
    const s = createLiveStatus({ stream: out.stream, clock, intervalMs: 5000 });
    recorded(s, advance);
    // 6 s recorded: one period crossed, at 5 s.
    expect(out.text()).toBe('status: memfd-round-trip: step 4/9 kexec (5s)\nstatus: no-leaks: step 1/3 baseline (4s)\n');
    advance(4000);
    expect(out.text().split('\n').slice(2)).toEqual(['status: memfd-round-trip: step 4/9 kexec (10s)', 'status: no-leaks: step 1/3 baseline (9s)', '']);
    expect(out.text()).not.toContain('\x1b');
  });

  it('defaults to one line set every 10 s, and is silent when nothing runs', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(false);
    const s = createLiveStatus({ stream: out.stream, clock });
    s.scenarioStart('a', '');
    advance(9_999);
    expect(out.chunks).toEqual([]);
    advance(1);
    expect(out.chunks).toEqual(['status: a: boot (10s)\n']);
    s.scenarioEnd({ name: 'a' });
    advance(60_000);
    expect(out.chunks).toHaveLength(1);
  });

  it('print writes straight through', () => {
    const out = fakeStream(false);
    const s = createLiveStatus({ stream: out.stream, clock: fakeClock().clock });
    s.stream.write('▶ a: d\n');
    expect(out.text()).toBe('▶ a: d\n');
  });
});

describe('live status: negative controls', () => {
  it('a retried scenario boots again under its attempt number, its time counted from the first', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(false);
    const s = createLiveStatus({ stream: out.stream, clock, intervalMs: 1000 });
    s.scenarioStart('a', '');
    s.stepStart('a', { index: 4, total: 9, name: 'kexec' });
    s.step('a', { index: 4, status: 'error' });
    s.retry('a', 2);
    s.retry('ghost', 2);
    advance(1000);
    expect(out.text()).toBe('status: a: boot (attempt 2) (1s)\n');
  });

  it('a step of a scenario that never started is not shown as running', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(false);
    const s = createLiveStatus({ stream: out.stream, clock, intervalMs: 1000 });
    s.scenarioStart('a', '');
    s.stepStart('ghost', { index: 0, total: 1, name: 'x' });
    s.step('ghost', { index: 0, status: 'failed' });
    advance(1000);
    expect(out.text()).toBe('status: a: boot (1s)\n');
  });

  it('a scenario whose end arrived is no longer listed, even if a late step event comes', () => {
    const { clock, advance } = fakeClock();
    const out = fakeStream(true);
    const s = createLiveStatus({ stream: out.stream, clock });
    s.scenarioStart('a', '');
    s.scenarioStart('b', '');
    advance(1000);
    s.scenarioEnd({ name: 'a' });
    s.stepStart('a', { index: 1, total: 2, name: 'late' });
    advance(1000);
    expect(screenOf(out.text())).toEqual(['  ▸ b     2s  boot']);
  });

  it('--no-status: no status at all, printed lines still pass through', () => {
    const { clock, advance, timers } = fakeClock();
    const out = fakeStream(true);
    const s = createLiveStatus({ stream: out.stream, clock, off: true });
    recorded(s, advance);
    s.print('line\n');
    expect(timers).toEqual([]);
    expect(out.text()).toBe('line\n');
  });

  it('the screen helper refuses escape codes it does not model', () => {
    expect(() => screenOf('\x1b[2J')).toThrow(/unknown escape/);
  });
});

describe('status helpers', () => {
  it('formats elapsed time in whole seconds', () => {
    expect([0, 999, 59_999, 60_000, 125_400].map(elapsedText)).toEqual(['0s', '0s', '59s', '1m00s', '2m05s']);
  });

  it('reads HANDOVER_STATUS_INTERVAL in seconds, ignoring what is not a positive number', () => {
    expect(statusIntervalFromEnv({ HANDOVER_STATUS_INTERVAL: '1' })).toBe(1000);
    expect(statusIntervalFromEnv({ HANDOVER_STATUS_INTERVAL: '0.5' })).toBe(500);
    expect(statusIntervalFromEnv({ HANDOVER_STATUS_INTERVAL: '0' })).toBeUndefined();
    expect(statusIntervalFromEnv({ HANDOVER_STATUS_INTERVAL: 'soon' })).toBeUndefined();
    expect(statusIntervalFromEnv({})).toBeUndefined();
  });
});

describe('orchestrator/log/', () => {
  it('is a low layer: nothing from scenario/, report/ or cli/ (the runner feeds it events)', async () => {
    const dir = join(PACKAGE_ROOT, 'orchestrator', 'log');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(1);
    const imports = await Promise.all(files.map(async (f) => [...(await readFile(join(dir, f), 'utf8')).matchAll(/from '([^']+)'/g)].map((m) => `${f}: ${m[1]}`)));
    expect(imports.flat().filter((i) => /\.\.\/(scenario|report|cli)\//.test(i))).toEqual([]);
    expect(imports.flat().length).toBeGreaterThan(0);
  });
});
