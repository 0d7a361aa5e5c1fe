import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult, ScenarioResult } from '../../orchestrator/report/results.ts';
import { phaseOfStep, scenarioTimeline } from '../../orchestrator/report/timeline.ts';

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

  it('splits a chain of kexecs into one blackout each, in order, inside the step', () => {
    const r = scenario(load('html-chain.json'), 'chain');
    const kexec = r.steps.find((s) => s.kind === 'kexec');
    if (kexec?.startMs === undefined) throw new Error('the chain fixture has a kexec step that ran');
    const t = r.timeline ?? [];
    const blackouts = t.filter((p) => p.kind === 'blackout');
    expect(blackouts.map((b) => b.label)).toEqual(['kexec 1 blackout', 'kexec 2 blackout', 'kexec 3 blackout']);
    expect(blackouts.map((b) => b.durationMs)).toEqual(r.blackoutsMs);
    for (const b of blackouts) {
      expect(b.startMs).toBeGreaterThanOrEqual(kexec.startMs);
      expect(b.startMs + b.durationMs).toBeLessThanOrEqual(kexec.startMs + kexec.durationMs + 1);
    }
    expect(blackouts[1]?.startMs).toBeGreaterThan((blackouts[0]?.startMs ?? 0) + (blackouts[0]?.durationMs ?? 0));
  });
});
