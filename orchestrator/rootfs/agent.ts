// The guest agent: C compiled statically against the uapi headers the kernel under test exports,
// so its ioctl numbers and structs are that kernel's, not the host's. `source` names the main file;
// every .c and .h beside it is part of the agent (compiled, and hashed into the cache key).

import { createHash } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { hostTool } from './host-tool.ts';

export const AGENT_GUEST_PATH = '/usr/bin/handover-agent';

/** Everything the agent binary depends on, as stable strings for the image's cache key. */
export async function agentInputs(source: string, uapiInclude: string, cc = 'gcc'): Promise<string[]> {
  try {
    await access(join(uapiInclude, 'linux', 'liveupdate.h'));
  } catch (cause) {
    throw new HandoverError('build-failed', `no linux/liveupdate.h under ${uapiInclude}: not the uapi headers of a kernel with LUO`, {
      cause,
      evidence: ['pass the include dir made by `make headers_install INSTALL_HDR_PATH=<dir>` (<dir>/include)'],
    });
  }
  const compiler = (await hostTool(cc, ['--version'], { what: 'checking the C compiler', outcome: 'host-missing' })).stdout.split('\n')[0];
  return [
    `agent-source ${await treeHash(dirname(source))}`,
    `uapi-headers ${await treeHash(uapiInclude)}`,
    `compiler ${compiler}`,
  ];
}

/** `cc` is the host's gcc, or a cross gcc (aarch64-linux-gnu-gcc) for a guest of another architecture. */
export async function compileAgent(source: string, uapiInclude: string, out: string, cc = 'gcc'): Promise<void> {
  const dir = dirname(source);
  const units = (await readdir(dir)).filter((f) => f.endsWith('.c')).sort().map((f) => join(dir, f));
  await hostTool(
    cc,
    ['-static', '-O2', '-s', '-std=gnu11', '-Wall', '-Wextra', '-isystem', uapiInclude, '-o', out, ...units],
    { what: 'compiling the guest agent', outcome: 'build-failed' },
  );
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hash of every file's path and content under dir (sorted), e.g. a headers_install tree. */
export async function treeHash(dir: string): Promise<string> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length))
    .sort();
  const h = createHash('sha256');
  for (const name of names) h.update(`${name}\0${sha256(await readFile(join(dir, name)))}\n`);
  return h.digest('hex');
}
