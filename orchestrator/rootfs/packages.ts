// rootfs/packages.txt: which binaries the guest takes from which installed Debian package.
// Resolution checks dpkg's own records, so a missing package fails as `host-missing` by name
// instead of as a confusing "file not found" deep inside the image build.

import { realpath } from 'node:fs/promises';
import { HandoverError } from '../errors.ts';
import { hostTool } from './host-tool.ts';

export interface PackageFile {
  readonly pkg: string;
  /** The path as `dpkg -L` lists it. */
  readonly source: string;
  /** Where it goes in the guest. */
  readonly guest: string;
}

export interface ResolvedPackageFile extends PackageFile {
  /** The file on this host to read (symlinks and usr-merge resolved). */
  readonly hostPath: string;
}

export function parsePackageList(text: string, file: string): PackageFile[] {
  const out: PackageFile[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [pkg, source, guest, ...extra] = line.split(/\s+/);
    if (pkg === undefined || source === undefined || !source.startsWith('/') || extra.length > 0 || (guest !== undefined && !guest.startsWith('/'))) {
      throw new HandoverError('usage-error', `${file}:${i + 1}: expected "<package> </path> [</guest/path>]", got: ${raw.trim()}`);
    }
    out.push({ pkg, source, guest: guest ?? source });
  });
  return out;
}

/** Installed version of a package, or null when dpkg does not have it installed. */
export async function installedVersion(pkg: string): Promise<string | null> {
  const r = await hostTool('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}\t${Version}', pkg], {
    what: `looking up package ${pkg}`,
    allowFailure: true,
  });
  const [status, version] = r.stdout.split('\t');
  return r.exitCode === 0 && status?.startsWith('ii') === true && version !== undefined && version !== '' ? version : null;
}

/** Check every package is installed and ships the listed file; return where to read it. */
export async function resolvePackageFiles(
  list: readonly PackageFile[],
): Promise<{ files: ResolvedPackageFile[]; versions: Record<string, string> }> {
  const versions: Record<string, string> = {};
  const listings = new Map<string, Set<string>>();
  for (const pkg of new Set(list.map((f) => f.pkg))) {
    const version = await installedVersion(pkg);
    if (version === null) {
      throw new HandoverError('host-missing', `Debian package ${pkg} is not installed (needed for the guest image)`, {
        evidence: [`install it: apt-get install ${pkg}  (or run: handover doctor --fix)`],
      });
    }
    versions[pkg] = version;
    const { stdout } = await hostTool('dpkg-query', ['-L', pkg], { what: `listing package ${pkg}`, outcome: 'host-missing' });
    listings.set(pkg, new Set(stdout.split('\n')));
  }
  const files: ResolvedPackageFile[] = [];
  for (const f of list) {
    if (listings.get(f.pkg)?.has(f.source) !== true) {
      throw new HandoverError('host-missing', `package ${f.pkg} ${versions[f.pkg]} does not ship ${f.source}`);
    }
    let hostPath: string;
    try {
      hostPath = await realpath(f.source);
    } catch (cause) {
      throw new HandoverError('host-missing', `${f.source} from ${f.pkg} is missing on this host (reinstall ${f.pkg})`, { cause });
    }
    files.push({ ...f, hostPath });
  }
  return { files, versions };
}
