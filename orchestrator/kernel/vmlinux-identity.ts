// What a vmlinux says about itself, read from its ELF section headers without loading the file:
// whether it has DWARF line tables, and its `linux_banner` (the exact `Linux version …` line it prints
// first at boot: release, build number, compiler and build time), which ties a console to its build.
// The banner is read at the symbol's address: the image also holds init/version.c's weak banner,
// without build number and time, which the one from init/version-timestamp.c overrides.

import { open } from 'node:fs/promises';

export interface VmlinuxIdentity {
  /** The banner without its newline, or undefined when .rodata has none. */
  banner: string | undefined;
  /** .debug_line is present: addresses decode to file:line. */
  lineTables: boolean;
}

interface Section {
  name: string;
  addr: bigint;
  offset: number;
  size: number;
}

/**
 * Reads the identity of an x86_64 vmlinux (ELF64, little endian); throws when it is not one.
 * `bannerAddress`: linux_banner's address (System.map); without it there is no banner.
 */
export async function vmlinuxIdentity(path: string, bannerAddress?: bigint): Promise<VmlinuxIdentity> {
  const fh = await open(path, 'r');
  try {
    const read = async (pos: number, len: number): Promise<Buffer> => {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead !== len) throw new Error(`${path}: truncated ELF (wanted ${len} bytes at ${pos})`);
      return buf;
    };
    const eh = await read(0, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const shstrndx = eh.readUInt16LE(0x3e);
    const table = await read(shoff, shentsize * shnum);
    const raw = Array.from({ length: shnum }, (_, i) => {
      const at = i * shentsize;
      return {
        nameAt: table.readUInt32LE(at),
        type: table.readUInt32LE(at + 4),
        addr: table.readBigUInt64LE(at + 0x10),
        offset: Number(table.readBigUInt64LE(at + 0x18)),
        size: Number(table.readBigUInt64LE(at + 0x20)),
      };
    });
    const strtab = raw[shstrndx];
    if (strtab === undefined) throw new Error(`${path}: no section name table`);
    const names = await read(strtab.offset, strtab.size);
    const sections: (Section & { type: number })[] = raw.map((s) => ({ ...s, name: names.toString('latin1', s.nameAt, names.indexOf(0, s.nameAt)) }));
    // SHT_PROGBITS (1): bytes in the file at that address.
    const home = bannerAddress === undefined ? undefined : sections.find((s) => s.type === 1 && s.addr > 0n && bannerAddress >= s.addr && bannerAddress < s.addr + BigInt(s.size));
    let banner: string | undefined;
    if (home !== undefined && bannerAddress !== undefined) {
      const at = Number(bannerAddress - home.addr);
      const bytes = await read(home.offset + at, Math.min(512, home.size - at));
      const end = bytes.indexOf(0);
      const text = bytes.toString('latin1', 0, end < 0 ? bytes.length : end).replace(/\n$/, '');
      if (text.startsWith('Linux version ')) banner = text;
    }
    return { banner, lineTables: sections.some((s) => s.name === '.debug_line' && s.size > 0) };
  } finally {
    await fh.close();
  }
}
