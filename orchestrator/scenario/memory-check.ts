// The `memory` step's judgement: /proc/meminfo now against an earlier mark. Pure, so unit tests
// run it on figures recorded from real guests.
//
// What each figure means on a KHO boot (rootfs/agent/meminfo.c): preserved pages are
// memblock-reserved at boot and counted into MemTotal only when restored, so a MemTotal below the
// mark's is memory KHO still holds ("reserved"); Shmem is the memfds' pages in this kernel; MemFree
// is what is left. Thresholds are the scenario's (scenarios/no-leaks.yaml says why each is safe).
// One more reservation differs between boots on arm64, and it is not KHO's: the boot FDT. QEMU's
// virt DTB is 1 MiB (unpacked), the one kexec_file_load builds is packed; the kernel reserves
// either whole, so "reserved" and MemFree leave out the change in the boot FDT's pages (`bootFdt`,
// absent on x86_64, which boots without one) and report it apart. And handover's own files: the cold boot's
// tmpfs holds the preloaded kexec images (`preloaded`, 7 MiB on x86_64, 10.5 MiB with arm64's
// uncompressed Image), Shmem and not MemFree there and on no later boot; Shmem and MemFree leave
// their change out, so a 32 MiB leak is 32 MiB on every architecture. MemFree also counts the free
// pages the per-CPU lists hold (`pcpFree`): after no-leaks closes its memfds they keep ~45 MiB, which
// the next allocations take first (a new 32 MiB memfd left MemFree unchanged).

import type { MemInfo } from '../guest/agent-protocol.ts';

export interface MemoryBounds {
  reserved_max?: number;
  reserved_min?: number;
  shmem_max_growth?: number;
  memfree_max_loss?: number;
  shmem_huge_min?: number;
}

/** The differences a memory step reports (bytes; positive = more than at the mark). */
export interface MemoryDelta {
  /** MemTotal lost since the mark: what KHO holds now and did not then. */
  reserved: number;
  shmem: number;
  memFree: number;
  /** ShmemHugePages gained; absent when either measure has none (a kernel without THP). */
  shmemHuge?: number;
  /** Boot-FDT pages gained (arm64: negative after a kexec, whose FDT is packed); left out of `reserved`. */
  bootFdt?: number;
  /** Preloaded kexec images' bytes gained (negative after the cold boot); left out of `shmem` and `memFree`. */
  preloaded?: number;
}

export function memoryDelta(mark: MemInfo, now: MemInfo): MemoryDelta {
  const bootFdt = (now.bootFdt ?? 0) - (mark.bootFdt ?? 0);
  const preloaded = (now.preloaded ?? 0) - (mark.preloaded ?? 0);
  const d = {
    reserved: mark.memTotal - now.memTotal - bootFdt,
    shmem: now.shmem - mark.shmem - preloaded,
    memFree: now.memFree + (now.pcpFree ?? 0) - mark.memFree - (mark.pcpFree ?? 0) + preloaded + bootFdt,
    ...(bootFdt === 0 ? {} : { bootFdt }),
    ...(preloaded === 0 ? {} : { preloaded }),
  };
  return mark.shmemHuge === undefined || now.shmemHuge === undefined ? d : { ...d, shmemHuge: now.shmemHuge - mark.shmemHuge };
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** Every bound the delta breaks, as sentences (empty: it keeps them all). */
export function memoryProblems(markName: string, d: MemoryDelta, b: MemoryBounds): string[] {
  const out: string[] = [];
  const since = `than at '${markName}'`;
  if (b.reserved_max !== undefined && d.reserved > b.reserved_max) {
    out.push(`KHO holds ${mib(d.reserved)} more ${since} (MemTotal down by that), at most ${mib(b.reserved_max)} allowed: preserved memory did not come back`);
  }
  if (b.reserved_min !== undefined && d.reserved < b.reserved_min) {
    out.push(`KHO holds ${mib(d.reserved)} more ${since} (MemTotal down by that), at least ${mib(b.reserved_min)} expected: the preserved memory is not where it should be`);
  }
  if (b.shmem_max_growth !== undefined && d.shmem > b.shmem_max_growth) {
    out.push(`Shmem is ${mib(d.shmem)} above '${markName}', at most ${mib(b.shmem_max_growth)} allowed: memfd pages were not freed`);
  }
  if (b.memfree_max_loss !== undefined && -d.memFree > b.memfree_max_loss) {
    out.push(`MemFree is ${mib(-d.memFree)} below '${markName}', at most ${mib(b.memfree_max_loss)} allowed: memory did not come back`);
  }
  if (b.shmem_huge_min !== undefined) {
    if (d.shmemHuge === undefined) out.push(`/proc/meminfo has no ShmemHugePages (a kernel without CONFIG_TRANSPARENT_HUGEPAGE): no large folio to see`);
    else if (d.shmemHuge < b.shmem_huge_min) {
      out.push(`ShmemHugePages is ${mib(d.shmemHuge)} above '${markName}', at least ${mib(b.shmem_huge_min)} expected: the memfd pages are not in large (PMD-sized) folios in this kernel's page cache`);
    }
  }
  return out;
}
