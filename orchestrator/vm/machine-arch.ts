// The machine each guest architecture boots on: QEMU binary, machine type, devices, console and
// TCG settings. Everything above the VM layer stays architecture-blind: it asks for a kernel's
// architecture and gets one of these. x86_64 is exactly what qemu.ts and accel.ts always used.

import { HandoverError } from '../errors.ts';
import { hostArch, type Arch } from '../host/arch.ts';
import { chooseAccel, TCG_ARGS, type AccelChoice, type AccelPolicy, type ChooseAccelOptions } from './accel.ts';
import { DEFAULT_QEMU } from './qemu.ts';

export interface MachineArch {
  readonly arch: Arch;
  readonly qemu: string;
  /** `-machine …` and anything else the machine type needs. */
  readonly machineArgs: readonly string[];
  readonly netDevice: string;
  readonly rngDevice: string;
  /** The kernel's name of the serial console. */
  readonly console: string;
  /** Accelerator and CPU flags under TCG. */
  readonly tcgArgs: readonly string[];
  /** Kernel arguments for a faster boot under TCG that change nothing handover checks. */
  readonly tcgAppend: string;
  /** Under KVM: the CPU models to probe, best first. */
  readonly kvmCpus: readonly (readonly string[])[];
}

// noapictimer under TCG: it has no TSC-deadline timer, so every boot (cold and kexec'd) calibrated
// the local APIC timer against the PM timer for 100 ms (LAPIC_CAL_LOOPS, apic.c). The HPET drives
// the tick instead (broadcast to the other vCPUs): QEMU start → SSH ready 1.07-1.44 s → 0.98-1.06 s,
// alternating, 4 boots each; `sleep 1` in the guest still takes 1.08 s of host time. Under KVM the
// TSC-deadline timer skips the calibration anyway.
export const X86_64_MACHINE: MachineArch = {
  arch: 'x86_64',
  qemu: DEFAULT_QEMU,
  machineArgs: ['-machine', 'q35'],
  netDevice: 'virtio-net-pci',
  rngDevice: 'virtio-rng-pci',
  console: 'ttyS0',
  tcgArgs: TCG_ARGS,
  tcgAppend: 'noapictimer',
  kvmCpus: [['-cpu', 'host'], []],
};

// virt with its default GICv2: the kernel has no PCI (virtio-mmio devices from the DT), so no ITS
// is needed. dtb-randomness=off: no /chosen kaslr-seed and rng-seed in the DT. The kernel (no
// RANDOMIZE_BASE) leaves QEMU's kaslr-seed unwiped, and kexec-tools then refuses every kexec_load
// ("setup_2nd_dtb: kaslr-seed is not wiped to 0", the legacy negative controls); crng is ready at
// 0 s without rng-seed all the same (-cpu max has RNDR), and virtio-rng follows. MTTCG as on x86; `-cpu max` with the cheap implementation-defined pointer
// authentication instead of the architected QARMA (each signed return costs TCG a QARMA
// computation otherwise: tuxrun and the upstream kunit harness pair them the same way).
export const ARM64_MACHINE: MachineArch = {
  arch: 'arm64',
  qemu: 'qemu-system-aarch64',
  machineArgs: ['-machine', 'virt,dtb-randomness=off'],
  netDevice: 'virtio-net-device',
  rngDevice: 'virtio-rng-device',
  console: 'ttyAMA0',
  tcgArgs: ['-accel', 'tcg,thread=multi,tb-size=32', '-cpu', 'max,pauth-impdef=on'],
  // The generic timer needs no calibration.
  tcgAppend: '',
  kvmCpus: [['-cpu', 'host']],
};

export function machineArch(arch: Arch): MachineArch {
  return arch === 'arm64' ? ARM64_MACHINE : X86_64_MACHINE;
}

/** KVM can only run a guest of the host's own architecture. */
export function kvmPossible(m: MachineArch): boolean {
  return m.arch === hostArch();
}

/**
 * The accelerator for a guest of this machine: the host's own architecture probes KVM as always
 * (accel.ts); another one can only run under TCG, so nothing is probed and `kvm` is refused.
 */
export async function chooseMachineAccel(m: MachineArch, policy: AccelPolicy, opts: ChooseAccelOptions): Promise<AccelChoice> {
  if (kvmPossible(m)) return chooseAccel(policy, m === X86_64_MACHINE ? opts : { ...opts, qemuBinary: opts.qemuBinary ?? m.qemu, machine: m });
  const why = `an ${m.arch} guest on this ${hostArch()} host`;
  if (policy === 'kvm') {
    throw new HandoverError('accel-unusable', `KVM was requested but cannot run ${why}`, { evidence: ['use --accel tcg (or auto)'] });
  }
  return { accel: 'tcg', reason: `${policy === 'tcg' ? 'tcg requested' : 'auto'}: ${why} runs under TCG`, qemuArgs: m.tcgArgs, probeMs: 0, cached: false };
}
