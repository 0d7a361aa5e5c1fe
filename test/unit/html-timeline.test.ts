import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult, ScenarioResult } from '../../orchestrator/scenario/results.ts';
import { phaseOfStep, scenarioTimeline } from '../../orchestrator/scenario/timeline.ts';

// Recorded from real runs: html-run.json (memfd-round-trip passed, tampered-memfd failed after its
// kexec) and html-chain.json (`handover run chain`: three kexecs in one step).
const load = (name: string): RunResult => JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'results', name), 'utf8')) as RunResult;
const scenario = (run: RunResult, name: string): ScenarioResult => {
  const r = run.scenarios.find((s) => s.name === name);
  if (r === undefined) throw new Error(`no ${name} in the fixture`);
  return r;
};

describe('timeline phases', () => {
  it('classes steps by what they do', () => {
    const of = (kind: string, name = kind) => phaseOfStep({ kind, name });
    expect(['create_session', 'memfd', 'preserve', 'write_memfd', 'close_session'].map((k) => of(k))).toEqual(Array(5).fill('preserve'));
    expect(['retrieve', 'session_absent', 'finish', 'debugfs', 'log'].map((k) => of(k))).toEqual(Array(5).fill('verify'));
    expect([of('kexec'), of('kexec_load')]).toEqual(['kexec', 'kexec']);
    expect([of('exec'), of('kselftest')]).toEqual(['other', 'other']);
    expect(of('agent', 'agent {"op":"retrieve-fd","session":"s1","token":1}')).toBe('verify');
    expect(of('agent', 'agent {"op":"preserve","session":"s1"}')).toBe('preserve');
    expect(of('agent', 'agent {"op":"ping"}')).toBe('other');
  });

  it('reproduces what the runner recorded from its steps', () => {
    const r = scenario(load('html-run.json'), 'memfd-round-trip');
    const recorded = r.timeline ?? [];
    const boot = recorded[0];
    expect(boot).toMatchObject({ kind: 'boot', label: 'boot → SSH ready' });
    if (boot === undefined) return;
    const again = scenarioTimeline({ steps: r.steps, boot: { startMs: boot.startMs, endMs: boot.startMs + boot.durationMs } });
    expect(again).toEqual(recorded);
    expect(again.map((p) => [p.kind, p.label])).toEqual([
      ['boot', 'boot → SSH ready'],
      ['preserve', 'steps 1–9'],
      ['kexec', 'kexec 1: load'],
      ['blackout', 'kexec 1 blackout'],
      ['kexec', 'kexec 1: SSH back'],
      ['verify', 'steps 11–15'],
      ['other', 'step 16'],
    ]);
    // The blackout is the one the kexec measured, and the phases follow one another.
    expect(again.find((p) => p.kind === 'blackout')?.durationMs).toBe(r.blackoutsMs[0]);
    for (const [i, p] of again.entries()) {
      const next = again[i + 1];
      if (next !== undefined) expect(next.startMs).toBeGreaterThanOrEqual(p.startMs + p.durationMs - 1);
    }
  });

  it('draws no bar for steps that never ran', () => {
    const r = scenario(load('html-run.json'), 'tampered-memfd');
    // As if the run had stopped after step 4: the later steps keep no start.
    const steps = r.steps.map(({ startMs, ...s }) => (s.index >= 4 || startMs === undefined ? s : { ...s, startMs }));
    const t = scenarioTimeline({ steps });
    expect(t.map((p) => p.kind)).toEqual(['preserve']);
  });

  it('puts the kernel build before the scenario’s start', () => {
    const t = scenarioTimeline({ steps: [], boot: { startMs: 0, endMs: 2000 }, kernelBuildMs: 900 });
    expect(t).toEqual([
      { kind: 'build', label: 'kernel build', startMs: -900, durationMs: 900 },
      { kind: 'boot', label: 'boot → SSH ready', startMs: 0, durationMs: 2000 },
    ]);
  });

  it('gives each kexec of a chain its own blackout, inside its step, in order', () => {
    const r = scenario(load('html-chain.json'), 'chain');
    const kexecs = r.steps.filter((s) => s.kind === 'kexec');
    expect(kexecs).toHaveLength(3);
    const blackouts = (r.timeline ?? []).filter((p) => p.kind === 'blackout');
    expect(blackouts.map((b) => b.label)).toEqual(['kexec 1 blackout', 'kexec 2 blackout', 'kexec 3 blackout']);
    expect(blackouts.map((b) => b.durationMs)).toEqual(r.blackoutsMs);
    for (const [i, b] of blackouts.entries()) {
      const step = kexecs[i];
      if (step?.startMs === undefined) throw new Error('a kexec step that ran');
      expect(b.startMs).toBeGreaterThanOrEqual(step.startMs);
      expect(b.startMs + b.durationMs).toBeLessThanOrEqual(step.startMs + step.durationMs + 1);
    }
  });

  it('splits one step of several kexecs (count: 3) into equal shares, one blackout in each', () => {
    // The chain's three real kexecs, as if one `kexec: {count: 3}` step had measured them.
    const kexecs = scenario(load('html-chain.json'), 'chain').steps.filter((s) => s.kind === 'kexec');
    const first = kexecs[0];
    const last = kexecs.at(-1);
    if (first?.startMs === undefined || last?.startMs === undefined) throw new Error('kexec steps that ran');
    const step = { index: 0, kind: 'kexec', name: 'kexec {"count":3}', status: 'passed', startMs: first.startMs, durationMs: last.startMs + last.durationMs - first.startMs, data: kexecs.flatMap((k) => k.data as unknown[]) };
    const t = scenarioTimeline({ steps: [step] });
    expect(t.map((p) => p.label)).toEqual(['kexec 1: load', 'kexec 1 blackout', 'kexec 1: SSH back', 'kexec 2: load', 'kexec 2 blackout', 'kexec 2: SSH back', 'kexec 3: load', 'kexec 3 blackout', 'kexec 3: SSH back']);
    const share = step.durationMs / 3;
    const measured = step.data as { blackoutMs: number; sshReadyMs: number }[];
    for (const [i, b] of t.filter((p) => p.kind === 'blackout').entries()) {
      const m = measured[i] as { blackoutMs: number; sshReadyMs: number };
      expect(b.durationMs).toBe(m.blackoutMs);
      // Each blackout ends where its share ends less the measured time from new userspace to SSH.
      const shareEnd = step.startMs + (i + 1) * share;
      expect(Math.abs(b.startMs + b.durationMs - (shareEnd - (m.sshReadyMs - m.blackoutMs)))).toBeLessThanOrEqual(1);
    }
    const total = t.reduce((n, p) => n + p.durationMs, 0);
    expect(Math.abs(total - step.durationMs)).toBeLessThanOrEqual(9);
  });
});
