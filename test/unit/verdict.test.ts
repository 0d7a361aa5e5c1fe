// The scenario verdict as one pure function, on consoles recorded from real guests.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFinding, isRetried, OUTCOMES, type Outcome } from '../../orchestrator/errors.ts';
import type { StepResult } from '../../orchestrator/scenario/results.ts';
import { checkSteps, scenarioVerdict, type VerdictInput } from '../../orchestrator/scenario/verdict.ts';
import { scanConsoleLog } from '../../orchestrator/vm/crash-catalogue.ts';

const FIX = resolve(import.meta.dirname, '../fixtures');
const text = (rel: string): string => readFileSync(join(FIX, rel), 'utf8');
const lines = (t: string) => {
  let boot = 0;
  return t
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .map((l) => {
      if (/^\[ *\d+\.\d+\] Linux version \d/.test(l)) boot++;
      return { text: l, boot: Math.max(1, boot) };
    });
};
const step = (index: number, kind: string, status: StepResult['status'], extra: Partial<StepResult> = {}): StepResult => ({
  index,
  kind,
  name: `${kind} ${index}`,
  line: index + 3,
  status,
  durationMs: 1,
  ...extra,
});
const input = (over: Partial<VerdictInput> & Pick<VerdictInput, 'steps'>): VerdictInput => {
  const con = over.console ?? lines(text('kho/console-kexec-chain.log'));
  return {
    file: 'scenarios/x.yaml',
    console: con,
    crashes: [],
    kernelOf: (b) => `7.3.4 (boot ${b})`,
    expectedLines: [],
    strictXfail: false,
    checks: checkSteps(over.steps.map((s) => ({ kind: s.kind }))),
    ...over,
  };
};

const passing = [step(0, 'create_session', 'passed'), step(1, 'kexec', 'passed'), step(2, 'retrieve', 'passed')];

describe('scenario verdict', () => {
  it('passes when every step passed and the consoles show no crash, refusal or KHO/LUO error', () => {
    expect(scenarioVerdict(input({ steps: passing }))).toEqual({ status: 'passed' });
  });

  it('a refused handover wins over the panic LUO ends in and over a lost session', () => {
    const t = text('kho/console-luo-v5-to-v6.log');
    const v = scenarioVerdict(input({ steps: [...passing.slice(0, 2), step(2, 'retrieve', 'failed', { message: 'lost' })], console: lines(t), crashes: scanConsoleLog(t) }));
    expect(v).toMatchObject({ status: 'failed', outcome: 'incompatible-handover' });
    expect(v.message).toMatch(/^boot 2 \(7\.3\.4 \(boot 2\)\) refused the LUO state handed over by boot 1 .*: it expects 'luo-v6', then crashed: Kernel panic/);
  });

  it('a crash wins over the step failure it caused', () => {
    const t = text('console/panic-no-rootfs.log');
    const v = scenarioVerdict(input({ steps: [step(0, 'exec', 'error', { message: 'ssh lost' })], console: lines(t), crashes: scanConsoleLog(t) }));
    expect(v).toMatchObject({ status: 'failed', outcome: 'kernel-crash' });
    expect(v.message).toContain('Kernel panic - not syncing: VFS: Unable to mount root fs');
  });

  it('the first step that did not pass names itself, with file:line', () => {
    const v = scenarioVerdict(input({ steps: [passing[0] as StepResult, step(1, 'kexec', 'failed', { message: 'the handover did not arrive', evidence: ['why'] }), step(2, 'retrieve', 'skipped')] }));
    expect(v).toEqual({ status: 'failed', outcome: 'test-failed', message: 'step 2 (scenarios/x.yaml:4, kexec 1): the handover did not arrive', evidence: ['why'] });
  });

  it('a step stopped by the machine keeps its infrastructure outcome; a kernel that hung after its banner is a finding', () => {
    const broken = (outcome: Outcome) => scenarioVerdict(input({ steps: [step(0, 'kexec', 'error', { message: 'x' })], stopOutcome: outcome }));
    expect(broken('ssh-failed')).toMatchObject({ status: 'error', outcome: 'ssh-failed' });
    expect(broken('kernel-hang')).toMatchObject({ status: 'failed', outcome: 'kernel-hang' });
    expect(scenarioVerdict(input({ steps: [step(0, 'exec', 'error', { message: 'x' })] }))).toMatchObject({ status: 'error', outcome: 'step-failed' });
  });

  it('an XPASS passes, unless strict xfail is asked for (run-wide or on the step)', () => {
    const xpass = [step(0, 'debugfs', 'passed', { message: 'XPASS: the known issue did not show (bug)', xfail: { reason: 'bug', seen: false } })];
    expect(scenarioVerdict(input({ steps: xpass }))).toEqual({ status: 'passed' });
    expect(scenarioVerdict(input({ steps: xpass, strictXfail: true }))).toMatchObject({ status: 'failed', outcome: 'test-failed' });
    expect(scenarioVerdict(input({ steps: xpass, strictSteps: new Set([0]) })).message).toMatch(/^step 1 \(scenarios\/x\.yaml:3, debugfs 0\): XPASS.*strict xfail/);
  });

  it('a scenario whose every check was skipped is skipped, with the reasons; preparation alone does not count', () => {
    const steps = [step(0, 'create_session', 'passed'), step(1, 'debugfs', 'skipped', { message: 'no kho/in/fdt' }), step(2, 'log', 'skipped', { message: 'no kho/in/fdt' })];
    expect(scenarioVerdict(input({ steps }))).toEqual({ status: 'skipped', message: 'every check was skipped: no kho/in/fdt' });
    const one = [...steps.slice(0, 2), step(2, 'log', 'passed')];
    expect(scenarioVerdict(input({ steps: one }))).toEqual({ status: 'passed' });
  });

  it('a KHO/LUO error on a console fails a scenario whose steps passed, unless a log step expects it', () => {
    // The recorded chain with one line in luo_file.c's format (pr_warn "Freeze failed for token…")
    // spliced into boot 2: no real run here has produced one yet.
    const chain = lines(text('kho/console-kexec-chain.log'));
    const at = chain.findIndex((l) => l.boot === 2 && l.text.includes('luo: Retrieved live update data'));
    const warn = { text: '[    1.234567] luo: Freeze failed for token[0x1] handler[memfd-v2] err[-EIO]', boot: 2 };
    const con = [...chain.slice(0, at + 1), warn, ...chain.slice(at + 1)];
    const v = scenarioVerdict(input({ steps: passing, console: con }));
    expect(v).toEqual({
      status: 'failed',
      outcome: 'kernel-error',
      message: 'boot 2 logged a KHO/LUO error that no step expected: luo: Freeze failed for token[0x1] handler[memfd-v2] err[-EIO]',
      evidence: ['boot 2: luo: Freeze failed for token[0x1] handler[memfd-v2] err[-EIO]'],
    });
    expect(scenarioVerdict(input({ steps: passing, console: con, expectedLines: [/Freeze failed/] }))).toEqual({ status: 'passed' });
    // Beside a failing step, the lines are its evidence; the step stays the headline.
    const failing = scenarioVerdict(input({ steps: [step(0, 'retrieve', 'failed', { message: 'lost', evidence: ['e'] })], console: con }));
    expect(failing).toMatchObject({ outcome: 'test-failed', evidence: ['e', 'KHO/LUO errors on the console:', 'boot 2: luo: Freeze failed for token[0x1] handler[memfd-v2] err[-EIO]'] });
  });

  it('a preparing step that expects an error is a check', () => {
    expect([...checkSteps([{ kind: 'create_session' }, { kind: 'create_session', expect_error: 'EEXIST' }, { kind: 'kexec' }])]).toEqual([1, 2]);
  });
});

describe('the outcome table', () => {
  it('gives every outcome a class, a retry policy and a bisect meaning used by every command', () => {
    const findings = (Object.keys(OUTCOMES) as Outcome[]).filter(isFinding);
    expect(findings).toEqual(['test-failed', 'step-failed', 'kernel-crash', 'kernel-error', 'kernel-hang', 'incompatible-handover', 'flaky']);
    for (const f of findings) expect(OUTCOMES[f]).toMatchObject({ exit: 1, bisect: 'bad' });
    expect((Object.keys(OUTCOMES) as Outcome[]).filter(isRetried)).toEqual(['kernel-hang', 'boot-timeout', 'ssh-failed', 'kexec-timeout', 'vm-failed']);
  });

  it('is the table docs/exit-codes.md shows', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../docs/exit-codes.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `([a-z-]+)` \| (\w+) \| (\d+) \| (yes|no) \| (\w+) \| (.+) \|$/gm)].map((m) => m.slice(1));
    expect(rows).toEqual(Object.entries(OUTCOMES).map(([k, v]) => [k, v.class, String(v.exit), v.retry ? 'yes' : 'no', v.bisect, v.summary]));
  });
});

describe('kernel crashes under KASAN (consoles of the kasan profile)', () => {
  const la57 = text('console/kasan-la57-wild-memory-access.log');
  const lkdtm = text('console/kasan-lkdtm.log');

  it('a known kernel bug is still kernel-crash, named by its own signature', () => {
    const v = scenarioVerdict(input({ steps: [step(0, 'exec', 'skipped')], console: lines(la57), crashes: scanConsoleLog(la57) }));
    expect(v).toMatchObject({ status: 'failed', outcome: 'kernel-crash', knownCrash: 'x86-la57-kasan-identify-cpu' });
    expect(v.message).toMatch(/^kernel crash in boot 1: BUG: KASAN: wild-memory-access in _raw_spin_lock\+0x5e\/0xb0 \(known kernel bug x86-la57-kasan-identify-cpu\)$/);
    expect(v.evidence?.[0]).toMatch(/^known kernel bug x86-la57-kasan-identify-cpu: 7\.3\.4 x86, 5-level paging/);
    expect(v.evidence?.join('\n')).toContain('identify_cpu+');
  });

  it('any other KASAN report is a plain kernel-crash, with the whole report as evidence', () => {
    const crashes = scanConsoleLog(lkdtm);
    const v = scenarioVerdict(input({ steps: [step(0, 'exec', 'passed')], console: lines(lkdtm), crashes }));
    expect(v).toMatchObject({ status: 'failed', outcome: 'kernel-crash' });
    expect(v.knownCrash).toBeUndefined();
    expect(v.message).toMatch(/^kernel crash in boot 1: BUG: KASAN: slab-use-after-free in lkdtm_READ_AFTER_FREE\+/);
    expect(v.evidence?.join('\n')).toMatch(/Freed by task \d+:[\s\S]*BUG: KASAN: double-free in lkdtm_do_action/);
  });

  it('a known crash beside an unknown one names no known bug', () => {
    const crashes = [...scanConsoleLog(la57), ...scanConsoleLog(lkdtm)];
    const v = scenarioVerdict(input({ steps: [step(0, 'exec', 'passed')], console: lines(la57), crashes }));
    expect(v).toMatchObject({ status: 'failed', outcome: 'kernel-crash' });
    expect(v.knownCrash).toBeUndefined();
    expect(v.message).not.toContain('known kernel bug');
  });
});
