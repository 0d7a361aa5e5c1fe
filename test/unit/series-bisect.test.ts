import { describe, expect, it } from 'vitest';
import { OUTCOMES, type Outcome } from '../../orchestrator/errors.ts';
import { BISECT_EXIT, bisectVerdict } from '../../orchestrator/series/bisect.ts';

describe('bisect-step verdicts for git bisect run', () => {
  it('maps every handover outcome to good, bad, skip or a stop', () => {
    const byVerdict: Record<string, Outcome[]> = {};
    for (const o of Object.keys(OUTCOMES) as Outcome[]) (byVerdict[bisectVerdict(o)] ??= []).push(o);
    expect(byVerdict).toEqual({
      good: ['passed'],
      bad: ['test-failed', 'step-failed', 'kernel-crash', 'kernel-error', 'kernel-hang', 'incompatible-handover', 'flaky'],
      skip: ['config-dropped', 'config-unknown-symbol', 'build-failed', 'source-failed', 'boot-timeout', 'ssh-failed', 'kexec-timeout', 'vm-failed'],
      abort: ['usage-error', 'host-missing', 'accel-unusable', 'internal-error'],
      interrupted: ['interrupted'],
    });
  });

  it('uses the codes git bisect run reads: 1..127 but 125 is bad, 125 skips, above 127 stops', () => {
    expect(BISECT_EXIT).toEqual({ good: 0, bad: 1, skip: 125, abort: 128, interrupted: 130 });
  });
});
