import { execa } from 'execa';
import { HandoverError } from '../errors.ts';

export interface Toolchain {
  cc: string;
  ld: string;
  make: string;
  ccache: boolean;
}

async function firstLine(cmd: string, args: string[]): Promise<string | undefined> {
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  return r.exitCode === 0 ? String(r.stdout).split('\n')[0] : undefined;
}

/** The compiler, linker and make versions: part of the cache key, and of metadata.json. */
export async function detectToolchain(useCcache: boolean): Promise<Toolchain> {
  const [cc, ld, make, ccache] = await Promise.all([
    firstLine('gcc', ['--version']),
    firstLine('ld', ['--version']),
    firstLine('make', ['--version']),
    useCcache ? firstLine('ccache', ['--version']) : Promise.resolve(undefined),
  ]);
  if (cc === undefined || ld === undefined || make === undefined) {
    const missing = [cc === undefined && 'gcc', ld === undefined && 'ld (binutils)', make === undefined && 'make'];
    throw new HandoverError('host-missing', `no ${missing.filter(Boolean).join(', ')} on this host: run 'handover doctor --fix'`);
  }
  return { cc, ld, make, ccache: ccache !== undefined };
}
