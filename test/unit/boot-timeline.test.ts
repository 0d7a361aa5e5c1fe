import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootSpans, bootTimelines, type HostEvents, type TimedLine } from '../../orchestrator/scenario/boot-timeline.ts';

// A real run's console with host arrival times (see test/fixtures/console/README.md).
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'console', 'timed-kexec.json'), 'utf8')) as { host: HostEvents; lines: TimedLine[] };

describe('boot timeline', () => {
  const t = bootTimelines(fixture.lines, fixture.host, 1500);

  it('gives the cold boot its milestones in order, QEMU start to SSH ready', () => {
    const boot1 = t.boots[0];
    expect(boot1?.via).toBe('qemu');
    expect(boot1?.marks.map((m) => m.event)).toEqual(['qemu start', 'kernel clock zero', 'banner', 'Run /init', 'init start', 'net up', 'sshd up', 'ssh ready']);
    const at = (e: string) => boot1?.marks.find((m) => m.event === e)?.atMs ?? NaN;
    expect(at('qemu start')).toBe(0);
    expect(at('banner')).toBeLessThan(at('Run /init'));
    expect(at('Run /init')).toBeLessThan(at('sshd up'));
    expect(at('sshd up')).toBeLessThan(at('ssh ready'));
    expect(t.offsetMs).toBe(1500);
  });

  it('gives the kexec’d boot the trigger, the old kernel’s last line and the new kernel’s milestones', () => {
    const boot2 = t.boots[1];
    expect(boot2?.via).toBe('kexec');
    expect(boot2?.marks.map((m) => m.event)).toEqual(['kexec -e', 'kexec_core: Starting new kernel', 'kernel clock zero', 'banner', 'Run /init', 'init start', 'net up', 'sshd up', 'ssh ready']);
    const starting = boot2?.marks.find((m) => m.event === 'kexec_core: Starting new kernel');
    expect(starting?.printkS).toBeGreaterThan(1);
    // The spans cover the trigger to SSH ready exactly.
    const spans = boot2 === undefined ? [] : bootSpans(boot2);
    const total = spans.reduce((n, s) => n + s.ms, 0);
    const marks = boot2?.marks ?? [];
    expect(total).toBe(Math.max(...marks.map((m) => m.atMs)) - Math.min(...marks.map((m) => m.atMs)));
    for (const s of spans) expect(s.ms).toBeGreaterThanOrEqual(0);
  });

  it('estimates the kernel clock’s start no later than any timestamped line allows', () => {
    for (const b of t.boots) {
      const zero = b.marks.find((m) => m.event === 'kernel clock zero')?.atMs ?? NaN;
      for (const l of fixture.lines.filter((x) => x.boot === b.boot)) {
        const m = /^\[\s*(\d+\.\d+)\]/.exec(l.text);
        if (m?.[1] !== undefined && Number(m[1]) > 0) expect(zero).toBeLessThanOrEqual(l.atMs - Number(m[1]) * 1000 + 1);
      }
    }
  });

  it('leaves out what did not happen: no SSH, no kexec', () => {
    const lines = fixture.lines.filter((l) => l.boot === 1 && !l.text.includes('sshd up'));
    const only = bootTimelines(lines, { kexecs: [] }, 0);
    expect(only.boots).toHaveLength(1);
    expect(only.boots[0]?.marks.map((m) => m.event)).not.toContain('sshd up');
    expect(only.boots[0]?.marks.map((m) => m.event)).not.toContain('ssh ready');
  });
});
