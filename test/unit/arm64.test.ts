// Issue 14, the parts of arm64 support that are pure: --arch parsing, the machine description
// and its QEMU command line, the accelerator for a foreign guest, the per-arch fragments, the
// sysroot's symlink resolution, doctor's scope, the boot FDT in the memory accounting. The recorded arm64 consoles are in
// crash-catalogue-arm64.test.ts.
import { mkdtemp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crossPrefix, hostArch, parseArch } from '../../orchestrator/host/arch.ts';
import { runChecks } from '../../orchestrator/host/doctor.ts';
import { kernelArchBuild } from '../../orchestrator/kernel/arch-build.ts';
import { DEFAULT_FRAGMENTS, defaultFragments, loadBuiltinFragment, mergeRequests } from '../../orchestrator/kernel/fragments.ts';
import { sysrootPath } from '../../orchestrator/rootfs/foreign-libs.ts';
import { memoryDelta, memoryProblems } from '../../orchestrator/scenario/memory-check.ts';
import { ARM64_MACHINE, chooseMachineAccel, machineArch, X86_64_MACHINE } from '../../orchestrator/vm/machine-arch.ts';
import { qemuArgs } from '../../orchestrator/vm/qemu.ts';
import { defaultAppend } from '../../orchestrator/vm/vm.ts';

const input = {
  name: 'n',
  kernel: 'K',
  append: 'A',
  memoryMiB: 1024,
  cpus: 2,
  accelArgs: ['-accel', 'tcg'],
  qmpSocket: 'q',
  serialSocket: 's',
  serialLog: 'l',
};
const after = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));

describe('--arch', () => {
  it('takes the kernel names and the other usual ones; anything else is a usage error naming the option', () => {
    expect(parseArch('arm64')).toBe('arm64');
    expect(parseArch('aarch64')).toBe('arm64');
    expect(parseArch('x86_64')).toBe('x86_64');
    expect(parseArch('amd64')).toBe('x86_64');
    expect(() => parseArch('riscv64', 'arch')).toThrow(/^arch: 'riscv64' is not an architecture handover runs \(known: x86_64, arm64\)$/);
  });

  it('this x86_64 host cross-compiles arm64 only', () => {
    expect(hostArch()).toBe('x86_64');
    expect(crossPrefix('x86_64')).toBe('');
    expect(crossPrefix('arm64')).toBe('aarch64-linux-gnu-');
    expect(kernelArchBuild('arm64')).toMatchObject({ make: 'arm64', cross: 'aarch64-linux-gnu-', target: 'Image', builtPath: 'arch/arm64/boot/Image' });
    expect(kernelArchBuild('x86_64')).toMatchObject({ make: 'x86_64', cross: '', target: 'bzImage', builtPath: 'arch/x86/boot/bzImage', fileName: 'bzImage' });
  });
});

describe('fragments', () => {
  it('arm64 swaps the machine base and keeps the same KHO/LUO contract; x86_64 is unchanged', async () => {
    expect(defaultFragments('x86_64')).toEqual(DEFAULT_FRAGMENTS);
    expect(defaultFragments('arm64')).toEqual(['base-qemu-arm64.config', 'kho.config', 'luo.config']);
    const arm = mergeRequests(await Promise.all(defaultFragments('arm64').map(loadBuiltinFragment)));
    const x86 = mergeRequests(await Promise.all(DEFAULT_FRAGMENTS.map(loadBuiltinFragment)));
    const contract = (m: typeof arm) => m.requests.filter((r) => /kho|luo/.test(r.origin.file)).map((r) => `${r.symbol}=${r.value}`);
    expect(contract(arm)).toEqual(contract(x86));
    const symbols = new Set(arm.requests.map((r) => r.symbol));
    for (const s of ['SERIAL_AMBA_PL011_CONSOLE', 'VIRTIO_MMIO', 'VIRTIO_NET', 'KEXEC_FILE', 'KEXEC_HANDOVER', 'LIVEUPDATE_MEMFD'])
      expect(symbols).toContain(s);
    // Nothing x86-only leaks into the arm64 kernel.
    for (const s of ['SERIAL_8250', 'ACPI', 'PCI']) expect(symbols).not.toContain(s);
  });
});

describe('the arm64 machine', () => {
  it('qemu-system-aarch64 -M virt without a kaslr-seed in the DT, virtio over MMIO, PL011 console; x86_64 keeps q35 and PCI', () => {
    const arm = qemuArgs({ ...input, machine: ARM64_MACHINE });
    // kexec_load (kexec-tools) refuses a DT whose kaslr-seed the kernel did not wipe (no RANDOMIZE_BASE).
    expect(after(arm, '-machine')).toEqual(['virt,dtb-randomness=off']);
    expect(after(arm, '-device')).toEqual(['virtio-net-device,netdev=n0', 'virtio-rng-device']);
    expect(ARM64_MACHINE.qemu).toBe('qemu-system-aarch64');
    expect(defaultAppend(ARM64_MACHINE)).toBe('console=ttyAMA0 panic=-1');
    const x86 = qemuArgs(input);
    expect(qemuArgs({ ...input, machine: X86_64_MACHINE })).toEqual(x86);
    expect(after(x86, '-machine')).toEqual(['q35']);
    expect(after(x86, '-device')).toEqual(['virtio-net-pci,netdev=n0', 'virtio-rng-pci']);
    expect(defaultAppend(X86_64_MACHINE)).toBe('console=ttyS0 panic=-1');
    // TCG has no TSC-deadline timer: the 100 ms local APIC timer calibration is skipped.
    expect(X86_64_MACHINE.tcgAppend).toBe('noapictimer');
    expect(ARM64_MACHINE.tcgAppend).toBe('');
    expect(machineArch('arm64')).toBe(ARM64_MACHINE);
  });

  it('TCG with MTTCG and -cpu max,pauth-impdef=on; an arm64 guest here never probes KVM, and --accel kvm is refused', async () => {
    expect(ARM64_MACHINE.tcgArgs).toEqual(['-accel', 'tcg,thread=multi,tb-size=32', '-cpu', 'max,pauth-impdef=on']);
    const auto = await chooseMachineAccel(ARM64_MACHINE, 'auto', { kernel: '/nonexistent' });
    expect(auto).toEqual({
      accel: 'tcg',
      reason: 'auto: an arm64 guest on this x86_64 host runs under TCG',
      qemuArgs: ARM64_MACHINE.tcgArgs,
      probeMs: 0,
      cached: false,
    });
    await expect(chooseMachineAccel(ARM64_MACHINE, 'kvm', { kernel: '/nonexistent' })).rejects.toMatchObject({
      outcome: 'accel-unusable',
      message: 'KVM was requested but cannot run an arm64 guest on this x86_64 host',
    });
    // Control: the host's own architecture still goes through the probe policy (tcg asked: no probe).
    expect(await chooseMachineAccel(X86_64_MACHINE, 'tcg', { kernel: '/nonexistent' })).toMatchObject({ accel: 'tcg', reason: 'tcg requested' });
  });
});

describe('the arm64 sysroot', () => {
  it('resolves relative and absolute symlinks, and symlinked dirs, inside the sysroot', async () => {
    const root = await mkdtemp(join(tmpdir(), 'handover-sysroot-'));
    await mkdir(join(root, 'lib/aarch64-linux-gnu'), { recursive: true });
    await writeFile(join(root, 'lib/aarch64-linux-gnu/libz.so.1.2.13'), 'z');
    await symlink('libz.so.1.2.13', join(root, 'lib/aarch64-linux-gnu/libz.so.1'));
    await symlink('/lib/aarch64-linux-gnu/libz.so.1', join(root, 'lib/abs-libz.so'));
    await symlink('lib', join(root, 'lib64'));
    expect(await sysrootPath(root, '/lib/aarch64-linux-gnu/libz.so.1')).toBe(join(root, 'lib/aarch64-linux-gnu/libz.so.1.2.13'));
    expect(await sysrootPath(root, '/lib/abs-libz.so')).toBe(join(root, 'lib/aarch64-linux-gnu/libz.so.1.2.13'));
    expect(await sysrootPath(root, '/lib64/aarch64-linux-gnu/libz.so.1')).toBe(join(root, 'lib/aarch64-linux-gnu/libz.so.1.2.13'));
    // Never the host's own file: an absolute link is re-rooted.
    expect(await sysrootPath(root, '/lib/abs-libz.so')).not.toBe('/lib/aarch64-linux-gnu/libz.so.1');
  });
});

describe('doctor', () => {
  it('checks the arm64 tools only when arm64 (or the test suite) is asked for', async () => {
    const names = (cs: { name: string }[]) => cs.map((c) => c.name).filter((n) => /arm64|aarch64/.test(n));
    expect(names(await runChecks())).toEqual([]);
    const arm = names(await runChecks({ arches: ['arm64'] }));
    expect(arm).toEqual(['qemu-system-aarch64 (arm64 guests)', 'aarch64-linux-gnu-gcc (arm64 kernel)', 'static arm64 glibc (arm64 agent)']);
    expect(names(await runChecks({ tests: true }))).toEqual(arm);
  });
});

describe('memory accounting across an arm64 kexec', () => {
  // Recorded from no-leaks on 7.3.4 arm64 (1 GiB, TCG), with two 32 MiB memfds kept after it. The cold
  // boot's FDT is QEMU's 1 MiB virt DTB, the kexec'd boots' the 7919-byte one kexec_file_load packed;
  // the cold boot's tmpfs holds the preloaded kexec images (the uncompressed Image and the initrd,
  // 10.48 MiB), no later boot does; the per-CPU lists hold tens of MiB of free pages after bulk frees.
  const cold = { memTotal: 1043247104, memFree: 975736832, memAvailable: 941346816, shmem: 19013632, shmemHuge: 0, bootFdt: 1048576, preloaded: 10985472, pcpFree: 39149568 };
  // After the first kexec, 96 MiB preserved; after the third, nothing held and every memfd closed;
  // then one 32 MiB memfd created and kept (its pages came from the per-CPU lists: MemFree rose).
  const held = { memTotal: 943173632, memFree: 911613952, memAvailable: 877215744, shmem: 8032256, shmemHuge: 0, bootFdt: 8192, preloaded: 0, pcpFree: 14446592 };
  const after = { memTotal: 1044275200, memFree: 996495360, memAvailable: 962138112, shmem: 8044544, shmemHuge: 0, bootFdt: 8192, preloaded: 0, pcpFree: 30339072 };
  const leak = { memTotal: 1044275200, memFree: 988495872, memAvailable: 954138624, shmem: 41590784, shmemHuge: 0, bootFdt: 8192, preloaded: 0, pcpFree: 3731456 };
  const raw = ({ bootFdt: _f, preloaded: _p, pcpFree: _c, ...m }: typeof cold) => m;
  const mib = 2 ** 20;
  // no-leaks' bounds (scenarios/no-leaks.yaml).
  const closed = { reserved_max: 1 * mib, shmem_max_growth: 2 * mib, memfree_max_loss: 24 * mib };

  it('leaves the boot FDT out of what KHO holds: 96.43 MiB for the 96 MiB preserved, as on x86_64, and 3 pages when nothing is', () => {
    const d = memoryDelta(cold, held);
    expect(d.bootFdt).toBe(-1040384);
    expect(d.reserved).toBe(101113856);
    expect(memoryProblems('cold', d, { reserved_min: 96 * mib })).toEqual([]);
    expect(memoryDelta(cold, after).reserved).toBe(12288);
  });

  it('counts the preloaded images, the boot FDT and the per-CPU free lists: Shmem and MemFree back to the cold boot’s within 0.1 MiB', () => {
    const d = memoryDelta(cold, after);
    expect(d.preloaded).toBe(-10985472);
    expect(d.shmem).toBe(16384);
    expect(Math.abs(d.memFree)).toBeLessThan(0.1 * mib);
    expect(memoryProblems('cold', d, closed)).toEqual([]);
  });

  it('control: the kept 32 MiB memfd is a 32-33 MiB MemFree loss; uncorrected, MemFree had risen by 12 MiB', () => {
    expect(memoryProblems('cold', memoryDelta(cold, leak), closed)).toEqual([
      expect.stringMatching(/^Shmem is 32\.0 MiB above 'cold'/),
      expect.stringMatching(/^MemFree is 3[23]\.\d MiB below 'cold', at most 24\.0 MiB allowed/),
    ]);
    const d = memoryDelta(raw(cold), raw(leak));
    expect(d.memFree).toBeGreaterThan(12 * mib);
    expect(memoryProblems('cold', d, { memfree_max_loss: 24 * mib })).toEqual([]);
  });

  it('control: without the corrections the 96 MiB step falls short (the failure arm64 showed)', () => {
    const d = memoryDelta(raw(cold), raw(held));
    expect(d.bootFdt).toBeUndefined();
    expect(memoryProblems('cold', d, { reserved_min: 96 * mib })).toEqual([expect.stringMatching(/KHO holds 95\.4 MiB .* at least 96\.0 MiB expected/)]);
  });
});
