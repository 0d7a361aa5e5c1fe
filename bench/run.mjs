#!/usr/bin/env node
// Side-by-side figures on one tree, in one run: handover's kernel pipeline against the build part
// of the upstream selftest (tools/testing/selftests/liveupdate/vmtest.sh), and handover's boot and
// kexec times. Prints a table and writes bench/results/<date>.json.
// Usage: npm run bench [-- --only build|machine|scenarios|series|suite|matrix|flake [--repeat N]]
import { mkdtemp, readFile, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildKernel, cacheRoot, fireKexec, loadKexec, startMachine } from '../dist/index.js';

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

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const argValue = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Boot to SSH and kexec to SSH, on the default kernel (built or cached), N times each.
async function benchMachine() {
  const kernel = await buildKernel();
  const boots = [];
  const kexecs = [];
  for (let i = 0; i < 5; i++) {
    const m = await startMachine({ kernel, accel: 'tcg' });
    try {
      // QEMU start to the first command that runs over SSH.
      await m.guest.run(['true']);
      boots.push(m.timings.sshMs / 1000);
      if (i < 3) {
        await loadKexec(m);
        const k = await fireKexec(m, { expectRelease: kernel.metadata.release });
        kexecs.push(k);
      }
    } finally {
      await m.stop();
    }
  }
  console.log(`\nmachine (TCG, ${kernel.metadata.release}, median of ${boots.length}/${kexecs.length})`);
  record('QEMU start -> first SSH cmd', median(boots), 2.25, 'upstream: its whole QEMU part (boot, kexec, boot; no SSH)');
  record('kexec -e -> new userspace', median(kexecs.map((k) => k.blackoutMs / 1000)), undefined, 'blackout');
  record('kexec -e -> SSH ready', median(kexecs.map((k) => k.sshReadyMs / 1000)), undefined);
}

// Cold, no-op and one-file builds: handover's CLI next to upstream vmtest.sh, on one hard-linked
// copy of the cached Debian tree (edited by replacing the file, never through the link).
async function benchBuild(work) {
  const cache = join(work, 'cache');
  const debian = await buildKernel();
  const tree = join(work, 'linux');
  await execa('cp', ['-al', debian.metadata.source.dir, tree]);
  const original = await readFile(join(tree, EDITED), 'utf8');
  const edit = async (suffix) => {
    await unlink(join(tree, EDITED));
    await writeFile(join(tree, EDITED), `${original}\n/* bench ${suffix} */\n`);
  };
  console.log(`tree: ${debian.metadata.source.describe}; ${(await execa('nproc')).stdout} CPUs`);

  // handover through its CLI as a user runs it, in a private cache dir, without ccache: cold means cold.
  const cli = () =>
    execa('node', ['bin/handover.js', 'kernel', 'build', '--kernel', tree, '--no-ccache'], { env: { HANDOVER_CACHE_DIR: cache }, stdin: 'ignore' });
  const hCold = await wall(cli);
  const hNoop = await wall(cli);
  await edit('handover');
  const hOne = await wall(cli);

  // Upstream: vmtest.sh builds the kernel (+ headers, + its test binaries), then runs one QEMU test.
  const vmtest = join(tree, 'tools/testing/selftests/liveupdate/vmtest.sh');
  const buildDir = join(work, 'upstream-build');
  let upstreamOk = true;
  const up = async () => {
    const r = await execa('bash', [vmtest, '-d', buildDir, '-w', join(work, `ws-${Date.now()}`), '-j', '2'], { stdin: 'ignore', reject: false });
    upstreamOk &&= r.exitCode === 0;
  };
  const uCold = await wall(up);
  const uNoop = await wall(up);
  await edit('upstream');
  const uOne = await wall(up);

  console.log('\nkernel build');
  record('cold build', hCold, uCold, 'upstream includes its one QEMU test (~2-3 s)');
  record('no-op rebuild', hNoop, uNoop, 'handover: cache hit, make not run');
  record(`one-file rebuild`, hOne, uOne, EDITED);
  if (!upstreamOk) console.log('note: an upstream vmtest.sh run did not pass');
  return upstreamOk;
}

// The memfd round trip against upstream's luo_kexec_simple (both warm: kernel built, images
// cached), on the cached Debian tree; then handover's blackout and large-memfd figures.
async function benchScenarios(work) {
  const debian = await buildKernel();
  const tree = debian.metadata.source.dir;
  const runs = 3;
  const handoverRun = (names) =>
    execa('node', ['bin/handover.js', 'run', ...names, '--accel', 'tcg', '--reporter', 'json', '-o', join(work, 'h')], { stdin: 'ignore' });
  await handoverRun(['memfd-round-trip']); // warm the rootfs cache and the accel verdict
  const h = [];
  for (let i = 0; i < runs; i++) h.push(await wall(() => handoverRun(['memfd-round-trip'])));
  // vmtest.sh keeps its build dir where we say: under the cache, so it is warm after its first run.
  const buildDir = join(cacheRoot(), 'bench', 'upstream-build');
  const vmtest = join(tree, 'tools/testing/selftests/liveupdate/vmtest.sh');
  let upstreamOk = true;
  const up = async () => {
    const r = await execa('bash', [vmtest, '-d', buildDir, '-w', join(work, `ws-${Date.now()}`), '-T', 'luo_kexec_simple'], { stdin: 'ignore', reject: false });
    upstreamOk &&= r.exitCode === 0;
  };
  await up(); // builds on the first bench run ever; warm afterwards
  const u = [];
  for (let i = 0; i < runs; i++) u.push(await wall(up));
  await handoverRun(['memfd-round-trip', 'large-memfd']);
  const run = JSON.parse(await readFile(join(work, 'h', 'results.json'), 'utf8'));
  const rt = run.scenarios.find((s) => s.name === 'memfd-round-trip');
  const large = run.scenarios.find((s) => s.name === 'large-memfd');
  console.log(`\nmemfd round trip, warm, median of ${runs} (${debian.metadata.release}, TCG)`);
  record('round trip wall', median(h), median(u), `ratio ${(median(h) / median(u)).toFixed(2)} (upstream: vmtest.sh -T luo_kexec_simple)`);
  record('kexec blackout', (rt?.blackoutsMs[0] ?? NaN) / 1000, undefined, 'trigger -> new userspace');
  record('large memfd scenario', (large?.durationMs ?? NaN) / 1000, undefined, `${JSON.stringify(large?.figures ?? {})}`);
  if (!upstreamOk) console.log('note: an upstream vmtest.sh run did not pass');
}

// `series --each` on the test fixture series, against a hard-linked copy of the cached Debian tree,
// in a private cache without ccache: the base build is a cold build, each patch after it reuses the
// previous output dir. Both come from the same series.json.
async function benchSeries(work) {
  const debian = await buildKernel();
  const tree = join(work, 'series-linux');
  await execa('cp', ['-al', debian.metadata.source.dir, tree]);
  const out = join(work, 'series');
  const t = performance.now();
  const r = await execa(
    'node',
    ['bin/handover.js', 'series', 'test/fixtures/series/series.mbx', '--kernel', tree, '--no-ccache', '--scenarios', 'memfd-round-trip', '--accel', 'tcg', '-r', 'json', '-o', out],
    { env: { HANDOVER_CACHE_DIR: join(work, 'series-cache') }, stdin: 'ignore', reject: false },
  );
  const total = (performance.now() - t) / 1000;
  const s = JSON.parse(await readFile(join(out, 'series.json'), 'utf8'));
  const builds = s.patches.map((p) => p.build?.seconds).filter((x) => typeof x === 'number');
  const tests = s.patches.map((p) => (p.tests?.durationMs ?? NaN) / 1000).filter((x) => !Number.isNaN(x));
  console.log(`
series --each (${s.patches.length} patches, memfd-round-trip each, no ccache; exit ${r.exitCode}, first bad: ${s.firstBad?.index ?? 'none'})`);
  record('cold base build', s.base.build?.seconds, undefined, 'the series base: fresh output dir, no ccache');
  record('per-patch build (median)', median(builds), undefined, `incremental; each: ${builds.map((b) => b.toFixed(1)).join(', ')} s`);
  record('per-patch scenarios (median)', median(tests), undefined, 'memfd-round-trip');
  record('series wall', total, undefined, 'throwaway git repo + base + every patch');
}

// The shipped suite at --jobs 1 and --jobs 2 on the default kernel (warm), and whether they agree.
async function benchSuite(work) {
  await buildKernel();
  const run = async (jobs) => {
    const out = join(work, `suite-j${jobs}`);
    const t = performance.now();
    await execa('node', ['bin/handover.js', 'run', '--jobs', String(jobs), '--accel', 'tcg', '-r', 'json', '-o', out], { stdin: 'ignore', reject: false });
    const secs = (performance.now() - t) / 1000;
    const res = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    return { secs, statuses: res.scenarios.map((x) => `${x.name}:${x.status}`).sort().join(' '), summary: res.summary };
  };
  const j1 = await run(1);
  const j2 = await run(2);
  console.log(`
shipped suite, warm (${j1.summary.passed} passed at --jobs 1, ${j2.summary.passed} at --jobs 2; results ${j1.statuses === j2.statuses ? 'agree' : 'DIFFER'})`);
  record('suite --jobs 1', j1.secs, undefined);
  record('suite --jobs 2', j2.secs, undefined, `speed-up ${(j1.secs / j2.secs).toFixed(2)}x`);
  return j1.statuses === j2.statuses;
}

// The memfd round trip across two kernels (handover matrix, default pair 7.2 <-> 7.3, both ways).
async function benchMatrix(work) {
  const out = join(work, 'matrix');
  const t = performance.now();
  await execa('node', ['bin/handover.js', 'matrix', '--accel', 'tcg', '-o', out], { stdin: 'ignore', reject: false });
  const total = (performance.now() - t) / 1000;
  const m = JSON.parse(await readFile(join(out, 'matrix.json'), 'utf8'));
  console.log(`\nmatrix (memfd-round-trip; kernels ${m.kernels.map((k) => `${k.release} built in ${k.buildSeconds.toFixed(0)} s`).join(', ')})`);
  for (const c of m.cells) {
    const name = `${c.releases.from} -> ${c.releases.to}`;
    record(`${name} ${c.outcome ?? c.status}`.slice(0, 28), (c.blackoutsMs?.[0] ?? NaN) / 1000, undefined, 'kexec blackout');
  }
  record('matrix wall', total, undefined, `${m.cells.length} pairs, kernels cached`);
}

// The shipped suite, every scenario --repeat times (20; not in the default sections: ~30 min),
// two VMs at a time, no retries: how often a scenario's runs disagree. A scenario's verdict is its
// most common status; each run that ended otherwise disagreed (a flake, of the kernel or of handover).
async function benchFlake(work) {
  await buildKernel();
  const repeat = Number(argValue('--repeat') ?? 20);
  const out = join(work, 'flake');
  const t = performance.now();
  const r = await execa('node', ['bin/handover.js', 'run', '--repeat', String(repeat), '--jobs', '2', '--retries', '0', '--accel', 'tcg', '-r', 'json', '-o', out], { stdin: 'ignore', reject: false });
  const secs = (performance.now() - t) / 1000;
  const res = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
  const which = [];
  let runs = 0;
  for (const s of res.scenarios) {
    const repeats = s.repeats ?? [{ repeat: 1, status: s.status, outcome: s.outcome }];
    runs += repeats.length;
    const counts = new Map();
    for (const x of repeats) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
    const verdict = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    for (const x of repeats) if (x.status !== verdict) which.push(`${s.name} repeat ${x.repeat}: ${x.status}${x.outcome === undefined ? '' : ` ${x.outcome}`} (mostly ${verdict})`);
  }
  const rate = runs === 0 ? 0 : which.length / runs;
  console.log(`\nflake rate: shipped suite, --repeat ${repeat} --jobs 2 --retries 0 (exit ${r.exitCode}; ${res.summary.passed} of ${res.scenarios.length} scenarios passed every repeat)`);
  record(`suite --repeat ${repeat} wall`, secs, undefined, `${runs} scenario runs`);
  record('flake rate', undefined, undefined, `${which.length}/${runs} runs disagreed (${(rate * 100).toFixed(2)} %)`);
  for (const w of which) console.log(`  ${w}`);
  return { repeat, runs, disagreed: which.length, rate, which, flaky: res.scenarios.filter((s) => new Set((s.repeats ?? []).map((x) => x.status)).size > 1).map((s) => `${s.name} ${s.passRate.passed}/${s.passRate.runs}`) };
}

const work = await mkdtemp(join(tmpdir(), 'handover-bench-'));
try {
  const upstreamOk = only === undefined || only === 'build' ? await benchBuild(work) : undefined;
  if (only === undefined || only === 'machine') await benchMachine();
  if (only === undefined || only === 'scenarios') await benchScenarios(work);
  if (only === undefined || only === 'series') await benchSeries(work);
  const suiteAgrees = only === undefined || only === 'suite' ? await benchSuite(work) : undefined;
  if (only === undefined || only === 'matrix') await benchMatrix(work);
  const flake = only === 'flake' ? await benchFlake(work) : undefined;
  const out = join(import.meta.dirname, 'results');
  await mkdir(out, { recursive: true });
  const file = join(out, `${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`);
  await writeFile(file, `${JSON.stringify({ rows, upstreamOk, suiteAgrees, ...(flake === undefined ? {} : { flake }) }, null, 2)}\n`);
  console.log(`\nwritten: ${file}`);
  await rm(work, { recursive: true, force: true });
} catch (err) {
  // Keep what a failed run wrote (results.json, consoles): the evidence of what went wrong.
  console.error(`bench failed; its files are kept in ${work}`);
  throw err;
}
