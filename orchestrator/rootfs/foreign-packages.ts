// The guest's binaries for an architecture other than the host's: the same Debian packages
// rootfs/packages.txt names, in that architecture, from the host's own Debian release. apt-get
// runs with a private configuration (host/apt-sources.ts) that knows only that architecture and
// has an empty dpkg status, so `install --download-only` fetches each package's whole dependency
// closure; the .debs are unpacked into a sysroot in the cache, once per package set. The host's
// dpkg architectures and sources are never changed.

import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { debianArch, type Arch } from '../host/arch.ts';
import { hostDebianEntry, privateApt } from '../host/apt-sources.ts';
import { HandoverError } from '../errors.ts';
import { runTool } from '../host/run-tool.ts';
import { cacheDir } from '../paths.ts';
import type { PackageFile, ResolvedPackageFile } from './packages.ts';
import { sysrootPath } from './foreign-libs.ts';

export interface Sysroot {
  readonly dir: string;
  /** Every unpacked package and its version (the listed ones and their dependencies). */
  readonly versions: Readonly<Record<string, string>>;
}

/** Downloads (once) and unpacks the listed packages and their dependencies for `arch`. */
export async function foreignSysroot(packages: readonly string[], arch: Arch): Promise<Sysroot> {
  const deb = debianArch(arch);
  const { suite } = await hostDebianEntry();
  const wanted = [...new Set(packages)].sort();
  const id = createHash('sha256')
    .update(JSON.stringify([suite, deb, wanted]))
    .digest('hex')
    .slice(0, 16);
  const root = await cacheDir('sysroots');
  const dir = join(root, `${suite}-${deb}-${id}`);
  const manifest = join(dir, 'handover-sysroot.json');
  try {
    const saved = JSON.parse(await readFile(manifest, 'utf8')) as { versions: Record<string, string> };
    return { dir, versions: saved.versions };
  } catch {
    // not there yet: fetch it
  }
  const apt = await privateApt(suite, deb);
  await runTool('apt-get', ['update', '-q'], { ...apt.opts, what: `apt-get update for ${suite} (${deb})`, timeoutMs: 600_000 });
  const archives = join(apt.dir, 'archives');
  await runTool('apt-get', ['install', '--download-only', '-y', '-q', '--no-install-recommends', ...wanted.map((p) => `${p}:${deb}`)], {
    ...apt.opts,
    what: `downloading ${wanted.join(', ')} for ${deb}`,
    timeoutMs: 600_000,
  });
  const work = `${dir}.partial-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const versions: Record<string, string> = {};
    // The closure apt chose is what sits in the archive dir now; older versions of a package lose.
    const debs = (await readdir(archives)).filter((f) => f.endsWith(`_${deb}.deb`) || f.endsWith('_all.deb')).sort();
    for (const file of debs) {
      const path = join(archives, file);
      const fields = await runTool('dpkg-deb', ['-f', path, 'Package', 'Version'], { outcome: 'source-failed', what: `reading ${file}` });
      const pkg = /^Package: (.+)$/m.exec(fields.stdout)?.[1];
      const version = /^Version: (.+)$/m.exec(fields.stdout)?.[1];
      if (pkg === undefined || version === undefined) continue;
      if (versions[pkg] !== undefined) continue;
      versions[pkg] = version;
      await runTool('dpkg-deb', ['-x', path, work], { outcome: 'source-failed', what: `unpacking ${file}` });
    }
    const missing = wanted.filter((p) => versions[p] === undefined);
    if (missing.length > 0) throw new HandoverError('source-failed', `apt-get downloaded no ${missing.join(', ')} for ${deb}`);
    await writeFile(join(work, 'handover-sysroot.json'), `${JSON.stringify({ suite, arch: deb, wanted, versions }, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
    return { dir, versions };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The listed files inside the sysroot, with where to read each (symlinks resolved inside it). */
export async function resolveForeignPackageFiles(
  list: readonly PackageFile[],
  arch: Arch,
): Promise<{ files: ResolvedPackageFile[]; versions: Record<string, string>; sysroot: string }> {
  const sysroot = await foreignSysroot(
    list.map((f) => f.pkg),
    arch,
  );
  const versions: Record<string, string> = {};
  const files: ResolvedPackageFile[] = [];
  for (const f of list) {
    versions[f.pkg] = sysroot.versions[f.pkg] ?? 'unknown';
    const hostPath = await sysrootPath(sysroot.dir, f.source);
    try {
      await access(hostPath);
    } catch (cause) {
      throw new HandoverError('host-missing', `package ${f.pkg}:${debianArch(arch)} ${versions[f.pkg]} does not ship ${f.source}`, { cause });
    }
    files.push({ ...f, hostPath });
  }
  return { files, versions, sysroot: sysroot.dir };
}
