import { usageError } from '../errors.ts';

/**
 * The guest architectures handover builds and boots: the only two that select
 * ARCH_SUPPORTS_KEXEC_HANDOVER. Names are the kernel's (ARCH=), not Node's or Debian's.
 */
export type Arch = 'x86_64' | 'arm64';
export const ARCHES: readonly Arch[] = ['x86_64', 'arm64'];

/** The architecture of this host, as a guest architecture (default of every --arch). */
export function hostArch(): Arch {
  return process.arch === 'arm64' ? 'arm64' : 'x86_64';
}

/** `--arch` / `arch:` values; aarch64 and amd64 are accepted as the other names people use. */
export function parseArch(text: string, option = '--arch'): Arch {
  const t = text.trim().toLowerCase();
  if (t === 'x86_64' || t === 'amd64' || t === 'x86-64') return 'x86_64';
  if (t === 'arm64' || t === 'aarch64') return 'arm64';
  throw usageError(`${option}: '${text}' is not an architecture handover runs (known: ${ARCHES.join(', ')})`);
}

/** Debian's name of the architecture (dpkg, apt, multiarch library dirs). */
export function debianArch(arch: Arch): string {
  return arch === 'arm64' ? 'arm64' : 'amd64';
}

/** The GNU triplet (cross compilers, multiarch directories). */
export function gnuTriplet(arch: Arch): string {
  return arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
}

/** The prefix of the compilers that build for `arch` on this host: '' when it is the host's own. */
export function crossPrefix(arch: Arch): string {
  return arch === hostArch() ? '' : `${gnuTriplet(arch)}-`;
}
