import { crossPrefix, type Arch } from '../host/arch.ts';

/** How kbuild makes the boot image of one architecture, and which image kexec_file_load takes. */
export interface KernelArchBuild {
  readonly arch: Arch;
  /** ARCH= for make. */
  readonly make: string;
  /** CROSS_COMPILE= for make ('' for the host's own architecture). */
  readonly cross: string;
  /** The make target of the boot image. */
  readonly target: string;
  /** Where make leaves it, relative to O=. */
  readonly builtPath: string;
  /** Its name in a cache entry. */
  readonly fileName: string;
}

export function kernelArchBuild(arch: Arch): KernelArchBuild {
  if (arch === 'arm64') {
    // arm64's kexec_file_load only has an `Image` loader (arch/arm64/kernel/kexec_image.c): no
    // Image.gz, and QEMU -kernel boots the same file.
    return { arch, make: 'arm64', cross: crossPrefix(arch), target: 'Image', builtPath: 'arch/arm64/boot/Image', fileName: 'Image' };
  }
  return { arch, make: 'x86_64', cross: crossPrefix(arch), target: 'bzImage', builtPath: 'arch/x86/boot/bzImage', fileName: 'bzImage' };
}
