import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { usageError } from '../errors.ts';

/**
 * Where a kernel's source comes from. One syntax for the CLI (`--kernel`) and config files:
 *   debian:linux-source-7.3[@suite]   a Debian source package (also bare `linux-source-7.3`)
 *   git:<repository>[#ref]            a git repository and ref, checked out into a cache worktree
 *   path:<dir>, or any /abs, ./rel, ../rel, ~/dir   a local tree, never modified
 */
export type KernelSpec =
  | { kind: 'debian'; package: string; suite: string; text: string }
  | { kind: 'git'; repository: string; ref: string; text: string }
  | { kind: 'local'; dir: string; text: string };

export const DEFAULT_KERNEL_SPEC = 'debian:linux-source-7.3';

/** The suites that carry each Debian linux-source package (bookworm itself has no KHO). */
const DEBIAN_SUITES: Record<string, string> = {
  'linux-source-7.3': 'trixie-backports',
  'linux-source-7.2': 'sid',
};

export function parseKernelSpec(text: string, option = '--kernel'): KernelSpec {
  const spec = text.trim();
  if (spec === '') throw usageError(`${option}: empty kernel spec`);
  if (spec.startsWith('debian:') || /^linux-source-\d/.test(spec)) {
    const body = spec.replace(/^debian:/, '');
    const [pkg = '', suite] = body.split('@');
    if (!/^linux-source-\d+\.\d+$/.test(pkg)) {
      throw usageError(`${option}: '${spec}': expected a Debian package like linux-source-7.3`);
    }
    const chosen = suite ?? DEBIAN_SUITES[pkg];
    if (chosen === undefined || chosen === '') {
      throw usageError(
        `${option}: '${spec}': no known Debian suite carries ${pkg}; name one, e.g. debian:${pkg}@sid`,
      );
    }
    return { kind: 'debian', package: pkg, suite: chosen, text: `debian:${pkg}@${chosen}` };
  }
  if (spec.startsWith('git:')) {
    const body = spec.slice(4);
    const hash = body.lastIndexOf('#');
    const repository = hash < 0 ? body : body.slice(0, hash);
    const ref = hash < 0 ? 'HEAD' : body.slice(hash + 1);
    if (repository === '' || ref === '') throw usageError(`${option}: '${spec}': expected git:<repository>#<ref>`);
    return { kind: 'git', repository: expandLocal(repository), ref, text: `git:${expandLocal(repository)}#${ref}` };
  }
  if (spec.startsWith('path:') || /^(\/|\.\.?\/|\.\.?$|~\/|~$)/.test(spec)) {
    const dir = resolve(expandLocal(spec.replace(/^path:/, '')));
    return { kind: 'local', dir, text: `path:${dir}` };
  }
  throw usageError(
    `${option}: '${spec}' is not a kernel spec: use debian:linux-source-X.Y, git:<repo>#<ref> or a path (./linux, /src/linux, path:dir)`,
  );
}

/** Local paths in git specs and path specs may start with ~; URLs are left alone. */
function expandLocal(p: string): string {
  if (p === '~' || p.startsWith('~/')) return homedir() + p.slice(1);
  if (/^[a-z][a-z0-9+.-]*:/i.test(p)) return p;
  return p.startsWith('/') ? p : resolve(p);
}
