// How a step's outcome is judged, on output recorded from real guests: a kselftest that proves
// nothing does not pass, and only the failure a known bug names is XFAIL.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import { StepFailure } from '../../orchestrator/scenario/step-context.ts';
import { parseCapabilityProbe, unmetRequirement } from '../../orchestrator/kho/caps.ts';
import { judgeKselftest, unreadableRequirement } from '../../orchestrator/scenario/steps.ts';
import { failedStep, passedStep } from '../../orchestrator/scenario/verdict.ts';

const log = (name: string): string => readFileSync(join(resolve(import.meta.dirname, '../fixtures/kselftest'), `kselftest-${name}.log`), 'utf8');
const ok = (stdout: string) => ({ exitCode: 0, stdout, stderr: '' });

describe('kselftest verdicts', () => {
  it('passes the recorded runs: 15 cases, and each stage with its own last line', () => {
    expect(judgeKselftest('liveupdate', undefined, ok(log('liveupdate'))).cases).toHaveLength(15);
    for (const t of ['luo_kexec_simple', 'luo_multi_session']) {
      expect(judgeKselftest(`${t} stage 1`, 1, ok(log(`${t}-stage1`))).exitCode).toBe(0);
      expect(judgeKselftest(`${t} stage 2`, 2, ok(log(`${t}-stage2`))).exitCode).toBe(0);
    }
  });

  it('exit 0 with no KTAP case, or with every case skipped, is not a pass', () => {
    expect(() => judgeKselftest('liveupdate', undefined, ok('# nothing ran\n'))).toThrow('liveupdate exited 0 but reported no KTAP test case: nothing was tested');
    const skipped = log('liveupdate').replace(/^ok (\d+) (\S+)$/gm, 'ok $1 $2 # SKIP no device');
    expect(() => judgeKselftest('liveupdate', undefined, ok(skipped))).toThrow('liveupdate skipped every one of its 15 case(s): nothing was tested');
  });

  it('a stage that exits 0 before its last line did not get to the end', () => {
    const cut = log('luo_kexec_simple-stage2').replace(/--- SIMPLE KEXEC TEST PASSED ---/, '');
    expect(() => judgeKselftest('luo_kexec_simple stage 2', 2, ok(cut))).toThrow(/^luo_kexec_simple stage 2 exited 0 without its stage 2 line/);
    const early = log('luo_kexec_simple-stage1').split('\n').slice(0, 3).join('\n');
    expect(() => judgeKselftest('luo_kexec_simple stage 1', 1, ok(early))).toThrow(/exited 0 without its stage 1 line/);
    // Stage 1's last line does not pass for stage 2.
    expect(() => judgeKselftest('luo_kexec_simple stage 2', 2, ok(log('luo_kexec_simple-stage1')))).toThrow(/without its stage 2 line/);
  });

  it('a failing case or exit code fails, naming the case', () => {
    const bad = log('liveupdate').replace('ok 3 liveupdate_device.create_duplicate_session', 'not ok 3 liveupdate_device.create_duplicate_session');
    expect(() => judgeKselftest('liveupdate', undefined, { exitCode: 1, stdout: bad, stderr: '' })).toThrow('liveupdate failed (exit 1): not ok liveupdate_device.create_duplicate_session');
    expect(() => judgeKselftest('liveupdate', undefined, { exitCode: 4, stdout: '', stderr: '' })).toThrow('liveupdate skipped itself (exit 4)');
  });
});

describe('xfail: only the failure the known bug names', () => {
  const xfail = { reason: '7.3 truncation', match: '^kho/out/fdt is not a valid FDT: FDT truncated at offset \\d+' };
  const truncated = "kho/out/fdt is not a valid FDT: FDT truncated at offset 233 (0xe9): blob is 233 bytes but the header's totalsize is 285";

  it('the named failure is XFAIL, and remembered as a known bug seen', () => {
    expect(failedStep(xfail, new StepFailure(truncated))).toMatchObject({ status: 'xfail', message: `XFAIL (7.3 truncation): ${truncated}`, xfail: { reason: '7.3 truncation', seen: true } });
  });

  it('any other failure of the step fails it, saying which pattern it did not match', () => {
    for (const other of ['kho/out/fdt is absent, expected present', "kho/out/fdt: root compatible is [kho-v9], expected kho-v4"]) {
      const r = failedStep(xfail, new StepFailure(other));
      expect(r.status).toBe('failed');
      expect(r.message).toBe(`${other} (not the known bug this step expects: /${xfail.match}/)`);
      expect(r.xfail).toBeUndefined();
    }
  });

  it('a step that broke (not a failed check) is an error, xfail or not; a pass is XPASS', () => {
    expect(failedStep(xfail, new HandoverError('ssh-failed', truncated)).status).toBe('error');
    expect(failedStep(undefined, new StepFailure('x')).status).toBe('failed');
    expect(passedStep(xfail)).toEqual({ message: 'XPASS: the known issue did not show (7.3 truncation)', xfail: { reason: '7.3 truncation', seen: false } });
  });
});

describe('a requirement read from garbage does not skip a check', () => {
  // The recorded probe of a kexec'd 7.3.4: kho/in/sub_fdts/LUO is the freed page (an ELF header).
  const probe = readFileSync(join(resolve(import.meta.dirname, '../fixtures/kho'), 'caps-kexec1.txt'), 'utf8');
  const without = (key: string) => probe.split('\n').filter((l) => !l.startsWith(`${key}=`)).join('\n');

  it('fails the step when the only LUO blob is in no known format', () => {
    const caps = parseCapabilityProbe(without('out_luo'));
    expect(caps.luoFormat).toBe('unknown');
    expect(unreadableRequirement(caps, ['luo-raw'])).toMatch(/^requires luo-raw, but the LUO blob .* is present in no known format/);
    expect(unreadableRequirement(caps, ['kho'])).toBeUndefined();
  });

  it('a readable blob, or none at all, is judged as before (met, or a skip with the reason)', () => {
    expect(unreadableRequirement(parseCapabilityProbe(probe), ['luo-raw'])).toBeUndefined();
    const none = parseCapabilityProbe(without('out_luo').split('\n').filter((l) => !l.startsWith('in_luo=')).join('\n'));
    expect(unreadableRequirement(none, ['luo-raw'])).toBeUndefined();
    expect(unmetRequirement(none, 'luo-raw')).toMatch(/format: absent/);
  });
});
