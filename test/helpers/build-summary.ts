// Vitest global setup: at the end of a test run, which kernels the run compiled, how long each
// took and how much of it ccache served; every other kernel the tests used was a cache hit.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelMetadata } from '../../orchestrator/kernel/build.ts';
import { profilesOf } from '../../orchestrator/kernel/fragments.ts';
import { cacheRoot } from '../../orchestrator/paths.ts';

export default function setup(): () => Promise<void> {
  const started = Date.now();
  return async () => {
    const dir = join(cacheRoot(), 'kernels');
    const built: KernelMetadata[] = [];
    for (const key of await readdir(dir).catch(() => [])) {
      const m = await readFile(join(dir, key, 'metadata.json'), 'utf8').then((t) => JSON.parse(t) as KernelMetadata & { builtAt?: string }, () => undefined);
      if (m?.builtAt !== undefined && Date.parse(m.builtAt) >= started) built.push(m);
    }
    if (built.length === 0) {
      process.stdout.write('\nkernel builds in this run: none (every kernel the tests used came from the cache)\n');
      return;
    }
    const lines = built.map((m) => {
      const cc = m.ccache !== undefined ? `ccache ${m.ccache.hits}/${m.ccache.compilations}` : m.toolchain.ccache ? 'ccache (no stats recorded)' : 'no ccache';
      const profiles = profilesOf(m.config.fragments).join('+');
      return `  ${m.release} ${m.source.spec}${profiles === '' ? '' : ` [${profiles}]`}: ${Math.round(m.timings.totalSeconds)} s, ${cc}`;
    });
    process.stdout.write(`\nkernel builds in this run (${built.length}; any other kernel was a cache hit):\n${lines.join('\n')}\n`);
  };
}
