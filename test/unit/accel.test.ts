// The accelerator probe's reasoning on recorded attempt outcomes, so each way /dev/kvm can fail
// (absent, not ours, aborting QEMU, a guest that never prints) and a working KVM are tested on any
// host, whatever this one's KVM does. The e2e test (test/e2e/vm.test.ts) covers the real probe.

import { describe, expect, it } from 'vitest';
import {
  choiceFrom,
  KVM_CPU_CANDIDATES,
  needsControl,
  type ProbeAttempt,
  type ProbeResult,
  TCG_ARGS,
  verdictOf,
} from '../../orchestrator/vm/accel.ts';
import { rejection } from '../helpers/rejection.ts';

const [HOST, DEFAULT] = KVM_CPU_CANDIDATES as [readonly string[], readonly string[]];

// As bootProbe reports them. The abort: QEMU 7.2's stderr with `-accel kvm -cpu host`, recorded on
// a nested-PVM host (kvm_pvm), through bootProbe's "first two non-warning lines" summary.
const ABORT: ProbeResult = {
  ok: false,
  ms: 41,
  why:
    "QEMU exited (SIGABRT) before the banner: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69 | qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
  noBanner: false,
};
// The hang: QEMU spins at "Booting from ROM" until the probe's deadline kills it.
const HANG: ProbeResult = { ok: false, ms: 4000, why: "no 'Linux version' banner within 4000 ms", noBanner: true };
const BOOTED: ProbeResult = { ok: true, ms: 180, why: '', noBanner: false };
const CONTROL_OK: ProbeResult = { ok: true, ms: 270, why: '', noBanner: false };
const CONTROL_SILENT: ProbeResult = { ok: false, ms: 15000, why: "no 'Linux version' banner within 15000 ms", noBanner: true };

const at = (cpuArgs: readonly string[], result: ProbeResult): ProbeAttempt => ({ cpuArgs, result });

/** The choice auto makes, and that kvm refuses, for the verdict of these probes. */
async function outcome(device: string, attempts: ProbeAttempt[], control?: ProbeResult) {
  const { verdict, cacheable } = verdictOf(device, attempts, control, 1234);
  const auto = choiceFrom('auto', verdict, false);
  const kvm = verdict.usable ? choiceFrom('kvm', verdict, true) : await rejection(Promise.resolve().then(() => choiceFrom('kvm', verdict, true)));
  return { verdict, cacheable, auto, kvm };
}

describe('KVM probe verdict', () => {
  it('the hang shape: every CPU model silent, TCG shows the banner: TCG, with each attempt and why', async () => {
    const attempts = [at(HOST, HANG), at(DEFAULT, HANG)];
    expect(needsControl(attempts)).toBe(true);
    const { verdict, cacheable, auto, kvm } = await outcome('rw', attempts, CONTROL_OK);
    expect(verdict.usable).toBe(false);
    expect(cacheable).toBe(true);
    expect(auto).toMatchObject({ accel: 'tcg', qemuArgs: TCG_ARGS, probeMs: 1234, cached: false });
    expect(auto.reason).toBe(
      "auto: KVM unusable (-cpu host: no 'Linux version' banner within 4000 ms; default CPU: no 'Linux version' banner within 4000 ms; (control: TCG showed the banner in 270 ms)); using TCG",
    );
    expect(kvm).toMatchObject({ outcome: 'accel-unusable' });
  });

  it('the abort shape: -cpu host aborts, the default CPU hangs: TCG, both failures named', async () => {
    const attempts = [at(HOST, ABORT), at(DEFAULT, HANG)];
    const { verdict, cacheable, auto, kvm } = await outcome('rw', attempts, CONTROL_OK);
    expect(cacheable).toBe(true);
    expect(auto.accel).toBe('tcg');
    expect(verdict.reason).toBe(`-cpu host: ${ABORT.why}; default CPU: ${HANG.why}; (control: TCG showed the banner in 270 ms)`);
    expect(kvm).toMatchObject({ outcome: 'accel-unusable', message: `KVM was requested but cannot run a guest: ${verdict.reason}` });
  });

  it('every CPU model aborts: no control boot is needed, TCG with both reasons', async () => {
    const attempts = [at(HOST, ABORT), at(DEFAULT, ABORT)];
    expect(needsControl(attempts)).toBe(false);
    const { verdict, cacheable, auto } = await outcome('rw', attempts);
    expect(cacheable).toBe(true);
    expect(auto.accel).toBe('tcg');
    expect(verdict.reason).toBe(`-cpu host: ${ABORT.why}; default CPU: ${ABORT.why}`);
  });

  it('no /dev/kvm, or one not readable and writable: TCG without a probe', async () => {
    for (const [device, why] of [['absent', '/dev/kvm does not exist'], ['no-access', '/dev/kvm is not readable and writable']] as const) {
      const { cacheable, auto, kvm } = await outcome(device, []);
      expect(cacheable).toBe(true);
      expect(auto).toMatchObject({ accel: 'tcg', reason: `auto: KVM unusable (${why}); using TCG` });
      expect(kvm).toMatchObject({ outcome: 'accel-unusable', evidence: [why, '(cached verdict; delete the accel cache to re-probe)'] });
    }
  });

  it('KVM that booted a guest is chosen, with the CPU model that booted', async () => {
    for (const attempts of [[at(HOST, BOOTED)], [at(HOST, ABORT), at(DEFAULT, BOOTED)], [at(HOST, HANG), at(DEFAULT, BOOTED)]]) {
      expect(needsControl(attempts)).toBe(false);
      const booted = attempts.at(-1) as ProbeAttempt;
      const { verdict, cacheable, auto, kvm } = await outcome('rw', attempts);
      expect(verdict).toMatchObject({ usable: true, cpuArgs: booted.cpuArgs });
      expect(cacheable).toBe(true);
      expect(auto).toMatchObject({ accel: 'kvm', qemuArgs: ['-accel', 'kvm', ...booted.cpuArgs] });
      expect(auto.reason).toMatch(/^auto: KVM booted the kernel \((-cpu host|default CPU)\) in 180 ms$/);
      expect(kvm).toMatchObject({ accel: 'kvm', cached: true, probeMs: 0 });
    }
  });

  it('a kernel that is silent under TCG too condemns the kernel, not KVM: not cached', async () => {
    const { verdict, cacheable, auto } = await outcome('rw', [at(HOST, HANG), at(DEFAULT, HANG)], CONTROL_SILENT);
    expect(cacheable).toBe(false);
    expect(auto.accel).toBe('tcg');
    expect(verdict.reason).toContain("(not cached: the kernel showed no banner under TCG either: no 'Linux version' banner within 15000 ms)");
  });
});
