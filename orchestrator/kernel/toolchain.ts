import { execa } from 'execa';
import { HandoverError } from '../errors.ts';

export interface Toolchain {
  /** The cross prefix (CROSS_COMPILE=), only for a cross build: a native toolchain's key is unchanged. */
  cross?: string;
  cc: string;
  ld: string;
  make: string;
  ccache: boolean;
}

async function firstLine(cmd: string, args: string[]): Promise<string | undefined> {
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  return r.exitCode === 0 ? String(r.stdout).split('\n')[0] : undefined;
}

/**
 * The compiler, linker and make versions: part of the cache key, and of metadata.json. `cross` is
 * a CROSS_COMPILE prefix (e.g. aarch64-linux-gnu-), '' for the host's own compilers.
 */
export async function detectToolchain(useCcache: boolean, cross = ''): Promise<Toolchain> {
  const [cc, ld, make, ccache] = await Promise.all([
    firstLine(`${cross}gcc`, ['--version']),
    firstLine(`${cross}ld`, ['--version']),
    firstLine('make', ['--version']),
    useCcache ? firstLine('ccache', ['--version']) : Promise.resolve(undefined),
  ]);
  if (cc === undefined || ld === undefined || make === undefined) {
    const missing = [cc === undefined && `${cross}gcc`, ld === undefined && `${cross}ld (binutils)`, make === undefined && 'make'];
    const fix = cross === '' ? 'handover doctor --fix' : `handover doctor --fix --arches ${cross.startsWith('aarch64') ? 'arm64' : cross}`;
    throw new HandoverError('host-missing', `no ${missing.filter(Boolean).join(', ')} on this host: run '${fix}'`);
  }
  return { ...(cross === '' ? {} : { cross }), cc, ld, make, ccache: ccache !== undefined };
}
