// Shared-library closure of a dynamically linked binary, so it runs in the initramfs exactly as
// on the host. ldd already reports the transitive closure and the loader; static binaries
// (no PT_INTERP) need nothing.

import { open } from 'node:fs/promises';
import { HandoverError } from '../errors.ts';
import { hostTool } from './host-tool.ts';

const PT_INTERP = 3;

/** The ELF program interpreter (dynamic loader) path, or null for a static binary. */
export async function elfInterpreter(path: string): Promise<string | null> {
  const fh = await open(path, 'r');
  try {
    const ident = Buffer.alloc(64);
    await fh.read(ident, 0, 64, 0);
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new HandoverError('build-failed', `${path} is not an ELF file`);
    if (ident[4] !== 2 || ident[5] !== 1) throw new HandoverError('build-failed', `${path}: only 64-bit little-endian ELF is supported`);
    const phoff = Number(ident.readBigUInt64LE(0x20));
    const phentsize = ident.readUInt16LE(0x36);
    const phnum = ident.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const ph = table.subarray(i * phentsize, (i + 1) * phentsize);
      if (ph.readUInt32LE(0) !== PT_INTERP) continue;
      const offset = Number(ph.readBigUInt64LE(8));
      const size = Number(ph.readBigUInt64LE(0x20));
      const buf = Buffer.alloc(size);
      await fh.read(buf, 0, size, offset);
      return buf.toString('latin1').replace(/\0.*$/s, '');
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** Absolute paths (as the loader will look them up) of every library the binary needs, loader included. */
export async function sharedLibraryClosure(path: string): Promise<string[]> {
  const interp = await elfInterpreter(path);
  if (interp === null) return [];
  const { stdout } = await hostTool('ldd', [path], { what: `resolving shared libraries of ${path}` });
  const libs = new Set<string>([interp]);
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('linux-vdso') || t.startsWith('linux-gate')) continue;
    if (/=>\s*not found/.test(t)) {
      throw new HandoverError('host-missing', `${path} needs ${t.split(/\s/)[0]}, which is not installed`);
    }
    const m = /=>\s*(\/\S+)/.exec(t) ?? /^(\/\S+)/.exec(t);
    if (m?.[1] !== undefined) libs.add(m[1]);
    else if (t.includes('=>')) throw new HandoverError('build-failed', `unexpected ldd output for ${path}: ${t}`);
  }
  return [...libs].sort();
}
