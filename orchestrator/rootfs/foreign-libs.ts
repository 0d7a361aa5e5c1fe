// Shared-library closure of a binary of another architecture, found in a sysroot: ldd cannot run
// it, so the DT_NEEDED entries are read with readelf (binutils reads every ELF machine) and looked
// up in the multiarch library dirs the guest's loader searches by default.

import { lstat, readlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { HandoverError } from '../errors.ts';
import { gnuTriplet, type Arch } from '../host/arch.ts';
import { hostTool } from './host-tool.ts';
import { elfInterpreter } from './libs.ts';

/** Where a guest path is in the sysroot, following symlinks (absolute ones stay inside it). */
export async function sysrootPath(sysroot: string, guestPath: string): Promise<string> {
  let path = posix.normalize(guestPath);
  for (let hops = 0; hops < 40; hops++) {
    // A symlinked directory on the way (usr-merge style) is followed too.
    const parts = path.split('/').filter(Boolean);
    let resolved = '/';
    let changed = false;
    for (let i = 0; i < parts.length; i++) {
      const candidate = posix.join(resolved, parts[i] ?? '');
      const st = await lstat(join(sysroot, candidate)).catch(() => undefined);
      if (st?.isSymbolicLink() === true) {
        const target = await readlink(join(sysroot, candidate));
        const base = target.startsWith('/') ? target : posix.join(posix.dirname(candidate), target);
        path = posix.normalize(posix.join(base, ...parts.slice(i + 1)));
        changed = true;
        break;
      }
      resolved = candidate;
    }
    if (!changed) return join(sysroot, path);
  }
  throw new HandoverError('build-failed', `${guestPath}: too many symlinks in ${sysroot}`);
}

/** DT_NEEDED sonames of an ELF file. */
export async function neededLibraries(path: string): Promise<string[]> {
  const { stdout } = await hostTool('readelf', ['-d', '-W', path], { what: `reading the dynamic section of ${path}`, outcome: 'host-missing' });
  return [...stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] ?? '').filter((s) => s !== '');
}

/**
 * Guest paths → sysroot paths of every library the binary needs, transitively, and its loader.
 * The guest path is the first multiarch dir that has the soname: where the loader looks first.
 */
export async function foreignLibraryClosure(hostPath: string, sysroot: string, arch: Arch): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const interp = await elfInterpreter(hostPath);
  if (interp === null) return out;
  out.set(interp, await sysrootPath(sysroot, interp));
  const triplet = gnuTriplet(arch);
  const dirs = [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib', '/usr/lib'];
  const queue = [hostPath];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.shift() as string;
    for (const soname of await neededLibraries(file)) {
      if (seen.has(soname)) continue;
      seen.add(soname);
      let found: { guest: string; host: string } | undefined;
      for (const d of dirs) {
        const guest = posix.join(d, soname);
        const host = await sysrootPath(sysroot, guest);
        if (
          await lstat(host).then(
            () => true,
            () => false,
          )
        ) {
          found = { guest, host };
          break;
        }
      }
      if (found === undefined) {
        throw new HandoverError('host-missing', `${hostPath} needs ${soname}, which no package in ${dirname(sysroot)} ships for ${arch}`);
      }
      out.set(found.guest, found.host);
      queue.push(found.host);
    }
  }
  return out;
}
