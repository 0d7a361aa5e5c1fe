// What a vmlinux says about itself, read from its ELF section headers without loading the file:
// whether it has DWARF line tables, and its `linux_banner` (the exact `Linux version …` line it prints
// first at boot: release, build number, compiler and build time), which ties a console to its build.

import { open } from 'node:fs/promises';

export interface VmlinuxIdentity {
  /** The banner without its newline, or undefined when .rodata has none. */
  banner: string | undefined;
  /** .debug_line is present: addresses decode to file:line. */
  lineTables: boolean;
}

interface Section {
  name: string;
  offset: number;
  size: number;
}

/** Reads the identity of an x86_64 vmlinux (ELF64, little endian); throws when it is not one. */
export async function vmlinuxIdentity(path: string): Promise<VmlinuxIdentity> {
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
      return { nameAt: table.readUInt32LE(at), offset: Number(table.readBigUInt64LE(at + 0x18)), size: Number(table.readBigUInt64LE(at + 0x20)) };
    });
    const strtab = raw[shstrndx];
    if (strtab === undefined) throw new Error(`${path}: no section name table`);
    const names = await read(strtab.offset, strtab.size);
    const sections: Section[] = raw.map((s) => ({ name: names.toString('latin1', s.nameAt, names.indexOf(0, s.nameAt)), offset: s.offset, size: s.size }));
    const rodata = sections.find((s) => s.name === '.rodata');
    return {
      banner: rodata === undefined ? undefined : bannerIn(await read(rodata.offset, rodata.size)),
      lineTables: sections.some((s) => s.name === '.debug_line' && s.size > 0),
    };
  } finally {
    await fh.close();
  }
}

function bannerIn(rodata: Buffer): string | undefined {
  // linux_proc_banner ("%s version %s …") is a format; linux_banner is the one with a digit.
  for (let at = rodata.indexOf('Linux version '); at >= 0; at = rodata.indexOf('Linux version ', at + 1)) {
    const end = rodata.indexOf(0, at);
    const text = rodata.toString('latin1', at, end < 0 ? undefined : end).replace(/\n$/, '');
    if (/^Linux version \d/.test(text)) return text;
  }
  return undefined;
}
