#!/usr/bin/env node
// Side-by-side figures on one tree, in one run: handover's kernel pipeline against the build part
// of the upstream selftest (tools/testing/selftests/liveupdate/vmtest.sh). Prints a table and
// writes bench/results/<date>.json. Usage: npm run bench [-- --only build]
import { mkdtemp, readFile, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildKernel } from '../dist/index.js';

const EDITED = 'kernel/liveupdate/luo_core.c';
const rows = [];
const record = (what, handover, upstream, note = '') => {
  rows.push({ what, handover, upstream, note });
  console.log(`${what.padEnd(28)} handover ${fmt(handover).padStart(8)}   upstream ${fmt(upstream).padStart(8)}   ${note}`);
};
const fmt = (s) => (s === undefined ? '-' : `${s.toFixed(s < 10 ? 2 : 1)} s`);
const wall = async (fn) => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

const work = await mkdtemp(join(tmpdir(), 'handover-bench-'));
const cache = join(work, 'cache');
try {
  // The tree both tools build: a hard-linked copy of the cached Debian source, edited by replacing files.
  const debian = await buildKernel();
  const tree = join(work, 'linux');
  await execa('cp', ['-al', debian.metadata.source.dir, tree]);
  const original = await readFile(join(tree, EDITED), 'utf8');
  const edit = async (suffix) => {
    await unlink(join(tree, EDITED));
    await writeFile(join(tree, EDITED), `${original}\n/* bench ${suffix} */\n`);
  };
  console.log(`tree: ${debian.metadata.source.describe}; ${(await execa('nproc')).stdout} CPUs\n`);

  // handover, through its CLI as a user runs it, in a private cache dir, without ccache (cold means cold).
  const cli = (args) => execa('node', ['bin/handover.js', 'kernel', 'build', '--kernel', tree, '--no-ccache', ...args], {
    env: { HANDOVER_CACHE_DIR: cache },
    stdin: 'ignore',
  });
  const hCold = await wall(() => cli([]));
  const hNoop = await wall(() => cli([]));
  await edit('handover');
  const hOne = await wall(() => cli([]));

  // Upstream: vmtest.sh builds the kernel (+ headers, + its test binaries) then runs one QEMU test.
  const vmtest = join(tree, 'tools/testing/selftests/liveupdate/vmtest.sh');
  const buildDir = join(work, 'upstream-build');
  const up = () => execa('bash', [vmtest, '-d', buildDir, '-w', join(work, `ws-${Date.now()}`), '-j', '2'], { stdin: 'ignore', reject: false, all: true });
  let upstreamOk = true;
  const uCold = await wall(async () => { upstreamOk &&= (await up()).exitCode === 0; });
  const uNoop = await wall(async () => { upstreamOk &&= (await up()).exitCode === 0; });
  await edit('upstream');
  const uOne = await wall(async () => { upstreamOk &&= (await up()).exitCode === 0; });

  console.log('');
  record('cold build', hCold, uCold, 'upstream includes its one QEMU test (~2-3 s)');
  record('no-op rebuild', hNoop, uNoop, 'handover: cache hit, make not run');
  record(`one-file rebuild (${EDITED})`, hOne, uOne);
  if (!upstreamOk) console.log('note: an upstream vmtest.sh run did not pass');
  const out = join(import.meta.dirname, 'results');
  await mkdir(out, { recursive: true });
  const file = join(out, `${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`);
  await writeFile(file, JSON.stringify({ tree: debian.metadata.source.describe, rows, upstreamOk }, null, 2));
  console.log(`\nwritten: ${file}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
