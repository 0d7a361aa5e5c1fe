#!/usr/bin/env node
// Side-by-side figures on one tree, in one run: handover's kernel pipeline against the build part
// of the upstream selftest (tools/testing/selftests/liveupdate/vmtest.sh), and handover's boot and
// kexec times. Prints a table and writes bench/results/<date>.json.
// Usage: npm run bench [-- --only build|machine|scenarios|series|suite|suite-j2|matrix|flake|arm64|coverage|fuzz [--repeat N] [--pairs N] [--before DIR]]
//   --before DIR: with machine, that checkout's boots alternately; with scenarios, its round trip too; with suite-j2, its suite.
import { mkdtemp, readFile, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { buildKernel, cacheRoot } from '../dist/index.js';

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

// Boot to SSH and kexec to SSH, on the default kernel (built or cached), 5 boots (3 with a kexec).
// QEMU start → first SSH command is on the console's clock (0 = QEMU spawned): the first command's
// reply. Each boot's phases come from its boot timeline (banner, Run /init, /init's milestones).
// --before DIR: that checkout's library (its dist/) boots alternately with this one, same kernel.
async function benchMachine() {
  const before = argValue('--before');
  const sides = [{ name: 'handover', api: await import('../dist/index.js'), timeline: await import('../dist/scenario/boot-timeline.js') }];
  if (before !== undefined) {
    sides.push({ name: 'before', api: await import(join(resolve(before), 'dist/index.js')), timeline: await import(join(resolve(before), 'dist/scenario/boot-timeline.js')) });
  }
  const runs = Object.fromEntries(sides.map((s) => [s.name, { boots: [], kexecs: [], spans: [] }]));
  for (let i = 0; i < 5; i++) {
    for (const side of sides) {
      const kernel = await side.api.buildKernel();
      const m = await side.api.startMachine({ kernel, accel: 'tcg' });
      const r = runs[side.name];
      try {
        await m.guest.run(['true']);
        r.boots.push(m.vm.console.elapsedMs() / 1000);
        const t = side.timeline.bootTimelines(m.vm.console.lines(), { sshReadyAtMs: m.sshReadyAtMs, kexecs: [] }, 0);
        // Each mark's time since QEMU start: order-independent (banner and clock zero can swap).
        r.spans.push(Object.fromEntries(t.boots[0].marks.filter((x) => x.event !== 'qemu start').map((x) => [`qemu start -> ${x.event}`, x.atMs / 1000])));
        if (i < 3) {
          await side.api.loadKexec(m);
          r.kexecs.push(await side.api.fireKexec(m, { expectRelease: kernel.metadata.release }));
        }
      } finally {
        await m.stop();
      }
    }
  }
  const phases = (spans) => [...new Set(spans.flatMap((x) => Object.keys(x)))].sort((a, b) => median(spans.map((x) => x[a]).filter((v) => v !== undefined)) - median(spans.map((x) => x[b]).filter((v) => v !== undefined)));
  for (const side of sides) {
    const r = runs[side.name];
    const label = side.name === 'handover' ? '' : `${side.name}: `;
    console.log(`\nmachine${side.name === 'handover' ? '' : ` (${before})`} (TCG, median of ${r.boots.length}/${r.kexecs.length})`);
    record(`${label}QEMU start -> first SSH cmd`, median(r.boots), undefined, `target <= 1.2 s; each: ${r.boots.map((b) => b.toFixed(2)).join(', ')}`);
    for (const ph of phases(r.spans)) {
      const xs = r.spans.map((x) => x[ph]).filter((v) => v !== undefined);
      record(`${label}  ${ph}`, median(xs), undefined, xs.length < r.spans.length ? `seen in ${xs.length} of ${r.spans.length} boots` : undefined);
    }
    record(`${label}kexec -e -> new userspace`, median(r.kexecs.map((k) => k.blackoutMs / 1000)), undefined, 'blackout, target <= 2 s');
    record(`${label}kexec -e -> SSH ready`, median(r.kexecs.map((k) => k.sshReadyMs / 1000)), undefined);
  }
}

/** `n` boots of the kernel's machine to the first SSH command, a kexec from the first `kexecN` of them (arm64 section). */
async function machineTimes(kernel, n = 5, kexecN = 3) {
  const { startMachine, loadKexec, fireKexec } = await import('../dist/index.js');
  const boots = [];
  const kexecs = [];
  for (let i = 0; i < n; i++) {
    const m = await startMachine({ kernel, accel: 'tcg' });
    try {
      await m.guest.run(['true']);
      boots.push(m.vm.console.elapsedMs() / 1000);
      if (i < kexecN) {
        await loadKexec(m);
        kexecs.push(await fireKexec(m, { expectRelease: kernel.metadata.release }));
      }
    } finally {
      await m.stop();
    }
  }
  return { boots, kexecs };
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

// The memfd round trip against upstream's luo_kexec_simple, both warm (kernel built, images
// cached), on the cached Debian tree: --pairs N (default 5) pairs run alternately, so both sides
// see the same load on a shared machine. Each handover run's results.json gives its blackout, its
// boot timeline (per boot: QEMU start or kexec trigger → … → SSH ready) and its phases.
async function benchScenarios(work) {
  const debian = await buildKernel();
  const tree = debian.metadata.source.dir;
  const pairs = Number(argValue('--pairs') ?? 5);
  const handoverRun = (names, out, cwd = process.cwd()) =>
    execa('node', ['bin/handover.js', 'run', ...names, '--accel', 'tcg', '--reporter', 'json', '-o', out], { stdin: 'ignore', cwd });
  // --before DIR: another checkout of handover (built), e.g. the main branch, run in each round too.
  const before = argValue('--before');
  // vmtest.sh keeps its build dir where we say: under the cache, so it is warm after its first run.
  const buildDir = join(cacheRoot(), 'bench', 'upstream-build');
  const vmtest = join(tree, 'tools/testing/selftests/liveupdate/vmtest.sh');
  let upstreamOk = true;
  const up = async () => {
    const r = await execa('bash', [vmtest, '-d', buildDir, '-w', join(work, `ws-${Date.now()}`), '-T', 'luo_kexec_simple'], { stdin: 'ignore', reject: false });
    upstreamOk &&= r.exitCode === 0;
  };
  await handoverRun(['memfd-round-trip'], join(work, 'h-warm')); // warm the rootfs cache and the accel verdict
  await up(); // builds on the first bench run ever; warm afterwards
  if (before !== undefined) await handoverRun(['memfd-round-trip'], join(work, 'b-warm'), before);
  const h = [];
  const u = [];
  const b = [];
  const runs = [];
  const beforeRuns = [];
  for (let i = 0; i < pairs; i++) {
    const out = join(work, `h-${i}`);
    if (before !== undefined) {
      const bout = join(work, `b-${i}`);
      b.push(await wall(() => handoverRun(['memfd-round-trip'], bout, before)));
      beforeRuns.push(JSON.parse(await readFile(join(bout, 'results.json'), 'utf8')).scenarios.find((s) => s.name === 'memfd-round-trip'));
    }
    h.push(await wall(() => handoverRun(['memfd-round-trip'], out)));
    u.push(await wall(up));
    const res = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    runs.push(res.scenarios.find((s) => s.name === 'memfd-round-trip'));
  }
  const rt = runs.filter((r) => r?.status === 'passed');
  console.log(`\nmemfd round trip, warm, median of ${pairs} alternating pairs (${debian.metadata.release}, TCG; ${rt.length}/${pairs} passed)`);
  record('round trip wall', median(h), median(u), `ratio ${(median(h) / median(u)).toFixed(2)}, target <= 0.5; pairs: ${h.map((x, i) => `${x.toFixed(1)}/${u[i].toFixed(1)}`).join(' ')}`);
  if (before !== undefined) {
    const bp = beforeRuns.filter((r) => r?.status === 'passed');
    record('round trip wall, before', median(b), median(u), `${before}: ratio ${(median(b) / median(u)).toFixed(2)}; each: ${b.map((x) => x.toFixed(1)).join(' ')}`);
    record('  before: scenario / blackout', median(bp.map((r) => r.durationMs / 1000)), undefined, `blackout ${median(bp.map((r) => r.blackoutsMs[0] / 1000)).toFixed(2)} s`);
    for (const kind of ['boot', 'preserve', 'kexec', 'blackout', 'verify']) {
      record(`  before: phase ${kind}`, median(bp.map((r) => (r.timeline ?? []).filter((p) => p.kind === kind).reduce((n, p) => n + p.durationMs, 0) / 1000)), undefined);
    }
  }
  record('  of it: the scenario', median(rt.map((r) => r.durationMs / 1000)), undefined, 'handover run minus process start, kernel/rootfs cache checks, reports, teardown');
  record('kexec blackout', median(rt.map((r) => r.blackoutsMs[0] / 1000)), undefined, 'trigger -> new userspace, target <= 2 s');
  record('QEMU start -> SSH ready', median(rt.map((r) => markAt(r, 1, 'ssh ready') / 1000)), undefined, 'boot 1, from the boot timeline');
  for (const [kind, label] of [['boot', 'phase: boot -> SSH ready'], ['preserve', 'phase: preserve steps'], ['kexec', 'phase: kexec load + SSH back'], ['blackout', 'phase: blackout'], ['verify', 'phase: retrieve + checks'], ['other', 'phase: other steps']]) {
    record(label, median(rt.map((r) => (r.timeline ?? []).filter((p) => p.kind === kind).reduce((n, p) => n + p.durationMs, 0) / 1000)), undefined);
  }
  const spans = new Map();
  for (const r of rt) {
    for (const b of r.bootTimeline?.boots ?? []) {
      // In the timeline's own order; "kernel clock zero" is an estimate (± the banner), left out of the chain.
      const marks = b.marks.filter((m) => m.event !== 'kernel clock zero');
      for (let i = 1; i < marks.length; i++) {
        const key = `boot ${b.boot}: ${marks[i - 1].event} -> ${marks[i].event}`;
        spans.set(key, [...(spans.get(key) ?? []), (marks[i].atMs - marks[i - 1].atMs) / 1000]);
      }
    }
  }
  console.log('boot timeline (median of the passed runs):');
  for (const [key, xs] of spans) record(`  ${key}`.slice(0, 60), median(xs), undefined);
  if (!upstreamOk) console.log('note: an upstream vmtest.sh run did not pass');
  return { ...(before === undefined ? {} : { before, beforeWall: b }), pairs: h.map((x, i) => ({ handover: x, upstream: u[i] })), runs: rt.map((r) => ({ durationMs: r.durationMs, blackoutsMs: r.blackoutsMs, timeline: r.timeline, bootTimeline: r.bootTimeline })) };
}

const markAt = (r, boot, event) => r.bootTimeline?.boots.find((b) => b.boot === boot)?.marks.find((m) => m.event === event)?.atMs ?? NaN;

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
  // cwd: another checkout (--before) runs its own suite on its own kernel.
  const run = async (jobs, tag = '', cwd = process.cwd()) => {
    const out = join(work, `suite-j${jobs}${tag}`);
    const t = performance.now();
    await execa('node', ['bin/handover.js', 'run', '--jobs', String(jobs), '--accel', 'tcg', '-r', 'json', '-o', out], { stdin: 'ignore', reject: false, cwd });
    const secs = (performance.now() - t) / 1000;
    const res = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    // Scenario time summed over the suite (what --jobs divides) and the longest, to see where it goes.
    const byTime = [...res.scenarios].sort((x, y) => (y.durationMs ?? 0) - (x.durationMs ?? 0));
    const scenarioSecs = byTime.reduce((n, x) => n + (x.durationMs ?? 0), 0) / 1000;
    const longest = byTime.slice(0, 4).map((x) => `${x.name} ${((x.durationMs ?? 0) / 1000).toFixed(0)}`).join(', ');
    return { secs, scenarioSecs, longest, statuses: res.scenarios.map((x) => `${x.name}:${x.status}`).sort().join(' '), summary: res.summary, scenarios: res.scenarios.length };
  };
  if (only === 'suite-j2') {
    // --before DIR: that checkout's suite alternately with this one, --pairs N rounds (default 1),
    // so both see the same load: issue 11 keeps the grown suite within 1.5x of the one before it.
    const before = argValue('--before');
    if (before !== undefined) {
      const rounds = Number(argValue('--pairs') ?? 1);
      const a = [];
      const b = [];
      // Untimed warm-up in each checkout: its kernel and guest image come from the cache (or are built) first.
      await execa('node', ['bin/handover.js', 'run', 'memfd-round-trip', '--accel', 'tcg', '-o', join(work, 'warm-before')], { stdin: 'ignore', reject: false, cwd: before });
      await execa('node', ['bin/handover.js', 'run', 'memfd-round-trip', '--accel', 'tcg', '-o', join(work, 'warm')], { stdin: 'ignore', reject: false });
      for (let i = 0; i < rounds; i++) {
        b.push(await run(2, `-before-${i}`, before));
        a.push(await run(2, `-${i}`));
      }
      const ratio = median(a.map((r) => r.secs)) / median(b.map((r) => r.secs));
      console.log(`\nshipped suite at --jobs 2, ${rounds} round(s) alternating: this checkout ${a[0].scenarios} scenarios (${a.map((r) => r.summary.passed).join('/')} passed), ${before} ${b[0].scenarios} (${b.map((r) => r.summary.passed).join('/')} passed)`);
      record('suite --jobs 2, before', median(b.map((r) => r.secs)), undefined, `${before}: ${b.map((r) => r.secs.toFixed(1)).join(' ')}; scenario time ${median(b.map((r) => r.scenarioSecs)).toFixed(0)} s`);
      record('suite --jobs 2', median(a.map((r) => r.secs)), undefined, `ratio ${ratio.toFixed(2)} (issue 11: <= 1.5); target <= 60 s; each: ${a.map((r) => r.secs.toFixed(1)).join(' ')}; scenario time ${median(a.map((r) => r.scenarioSecs)).toFixed(0)} s; longest: ${a[0].longest}`);
      return undefined;
    }
    const j2 = await run(2);
    console.log(`\nshipped suite, warm (${j2.summary.passed} passed at --jobs 2)`);
    record('suite --jobs 2', j2.secs, undefined, 'target <= 60 s');
    return undefined;
  }
  const j2 = await run(2);
  const j1 = await run(1);
  console.log(`
shipped suite, warm (${j1.summary.passed} passed at --jobs 1, ${j2.summary.passed} at --jobs 2; results ${j1.statuses === j2.statuses ? 'agree' : 'DIFFER'})`);
  record('suite --jobs 1', j1.secs, undefined);
  record('suite --jobs 2', j2.secs, undefined, `speed-up ${(j1.secs / j2.secs).toFixed(2)}x`);
  return j1.statuses === j2.statuses;
}

// What --coverage costs (issue 16; not in the default sections): the coverage kernel's build time,
// from its cache entry's metadata (built or cached), beside the default kernel's, and the shipped
// suite's wall time at --jobs 2 with and without --coverage, --pairs N rounds (default 1) run
// alternately so both see the same load. The coverage run's totals come from its results.json.
async function benchCoverage(work) {
  const def = await buildKernel();
  const cov = await buildKernel({ profiles: ['coverage'] });
  const buildOf = (k) => k.metadata.timings?.totalSeconds;
  const cc = (k) => (k.metadata.ccache === undefined ? 'ccache: -' : `ccache ${k.metadata.ccache.hits}/${k.metadata.ccache.compilations} hits`);
  const run = async (tag, extra) => {
    const out = join(work, `suite-${tag}`);
    const t = performance.now();
    const r = await execa('node', ['bin/handover.js', 'run', '--jobs', '2', '--accel', 'tcg', '--no-status', '-r', 'json', ...extra, '-o', out], { stdin: 'ignore', reject: false });
    const secs = (performance.now() - t) / 1000;
    const res = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    const scenarioSecs = res.scenarios.reduce((n, x) => n + (x.durationMs ?? 0), 0) / 1000;
    return { secs, scenarioSecs, exitCode: r.exitCode, summary: res.summary, coverage: res.coverage };
  };
  // Untimed warm-up: the guest image and the accel verdict come from the cache in both rounds.
  await execa('node', ['bin/handover.js', 'run', 'memfd-round-trip', '--accel', 'tcg', '--no-status', '-o', join(work, 'warm')], { stdin: 'ignore', reject: false });
  const rounds = Number(argValue('--pairs') ?? 1);
  const plain = [];
  const covered = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so neither always runs on a machine the other just warmed.
    if (i % 2 === 0) {
      plain.push(await run(`plain-${i}`, []));
      covered.push(await run(`coverage-${i}`, ['--coverage']));
    } else {
      covered.push(await run(`coverage-${i}`, ['--coverage']));
      plain.push(await run(`plain-${i}`, []));
    }
  }
  const p = median(plain.map((r) => r.secs));
  const c = median(covered.map((r) => r.secs));
  const total = covered[0].coverage?.files?.find((f) => f.file === 'total');
  const pct = (r) => (r === undefined || r.found === 0 ? '-' : `${((100 * r.hit) / r.found).toFixed(1)} %`);
  console.log(`\ncoverage (${cov.metadata.release}; suite at --jobs 2, ${rounds} round(s) alternating; ${plain.map((r) => r.summary.passed).join('/')} and ${covered.map((r) => r.summary.passed).join('/')} passed)`);
  record('coverage kernel build', buildOf(cov), undefined, `cache entry ${cov.metadata.key} built ${cov.metadata.builtAt}; ${cc(cov)}`);
  record('default kernel build', buildOf(def), undefined, `cache entry ${def.metadata.key} built ${def.metadata.builtAt}; ${cc(def)}`);
  record('suite --jobs 2', p, undefined, `each: ${plain.map((r) => r.secs.toFixed(1)).join(' ')}; scenario time ${median(plain.map((r) => r.scenarioSecs)).toFixed(0)} s`);
  record('suite --jobs 2 --coverage', c, undefined, `ratio ${(c / p).toFixed(2)}; each: ${covered.map((r) => r.secs.toFixed(1)).join(' ')}; scenario time ${median(covered.map((r) => r.scenarioSecs)).toFixed(0)} s`);
  record('  lines / branches / functions', undefined, undefined, total === undefined ? 'no coverage in results.json' : `${pct(total.lines)} (${total.lines.hit}/${total.lines.found}), ${pct(total.branches)} (${total.branches.hit}/${total.branches.found}), ${pct(total.functions)} (${total.functions.hit}/${total.functions.found})`);
  return {
    coverageBuild: { key: cov.metadata.key, builtAt: cov.metadata.builtAt, timings: cov.metadata.timings, ccache: cov.metadata.ccache },
    defaultBuild: { key: def.metadata.key, builtAt: def.metadata.builtAt, timings: def.metadata.timings, ccache: def.metadata.ccache },
    plain: plain.map(({ coverage: _c, ...r }) => r),
    covered: covered.map((r) => ({ ...r, coverage: r.coverage?.files })),
  };
}

// handover fuzz throughput (issue 13; not in the default sections): programs and kexecs per minute
// of VM time at --jobs 1 and --jobs 2, the same seed and budget each (--duration D, default 2m),
// findings not shrunk; with --coverage, the coverage-guided run on the gcov kernel too.
async function benchFuzz(work) {
  const duration = argValue('--duration') ?? '2m';
  const kinds = [
    ['--jobs 1', ['--jobs', '1']],
    ['--jobs 2', ['--jobs', '2']],
    ...(process.argv.includes('--coverage') ? [['--jobs 2 --coverage', ['--jobs', '2', '--coverage']]] : []),
  ];
  const out = {};
  console.log(`\nfuzz (seed 1, --duration ${duration}, 4 programs per VM, no shrinking)`);
  for (const [label, extra] of kinds) {
    const dir = join(work, `fuzz-${label.replace(/\W+/g, '')}`);
    const r = await execa('node', ['bin/handover.js', 'fuzz', '--seed', '1', '--duration', duration, '--no-shrink', '--accel', 'tcg', '--no-status', '-r', 'json', ...extra, '-o', dir], { stdin: 'ignore', reject: false });
    const f = JSON.parse(await readFile(join(dir, 'fuzz.json'), 'utf8'));
    const perMin = (n) => (n * 60_000) / f.durationMs;
    const lines = f.kernelCoverage?.files?.find((x) => x.file === 'total')?.lines;
    record(`fuzz ${label}`, f.durationMs / 1000, undefined, `exit ${r.exitCode}: ${f.programs} programs (${perMin(f.programs).toFixed(1)}/min), ${f.kexecs} kexecs (${perMin(f.kexecs).toFixed(1)}/min), ${f.batches} VMs, ${f.findings.length} findings, ${f.coverage.filter((c) => c.count > 0).length}/${f.coverage.length} labels${lines === undefined ? '' : `, kernel lines ${lines.hit}/${lines.found}`}`);
    out[label] = { exitCode: r.exitCode, durationMs: f.durationMs, fuzzMs: f.fuzzMs, programs: f.programs, kexecs: f.kexecs, batches: f.batches, findings: f.findings.length, unreached: f.unreached, ...(lines === undefined ? {} : { kernelLines: lines }) };
  }
  return out;
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

// arm64 on this x86_64 host (issue 14), beside x86_64 in the same run: the cold cross-build (the
// cached entry's own build time: a rebuild only for this would cost ~22 min of both cores), boot →
// SSH and kexec blackout through the machine API, and the memfd round trip through the CLI,
// --pairs N (default 3) runs alternating with x86_64's so both see the same load. No upstream
// column: vmtest.sh's arm64 run would need a second cross-build of its own.
async function benchArm64(work) {
  const arm = await buildKernel({ arch: 'arm64' });
  const x86 = await buildKernel();
  const pairs = Number(argValue('--pairs') ?? 3);
  const t = arm.metadata.timings;
  const cc = arm.metadata.ccache;
  console.log(`\narm64 (${arm.metadata.release}, ${arm.metadata.toolchain.cc}; TCG, qemu-system-aarch64 -M virt)`);
  record('arm64 cold build', t.totalSeconds, undefined, `from the cache entry built ${arm.metadata.builtAt} (make ${t.buildSeconds.toFixed(0)} s, -j${arm.metadata.make.jobs}${cc === undefined ? '' : `, ccache ${cc.hits}/${cc.compilations} hits`}); x86_64's entry: ${x86.metadata.timings.totalSeconds.toFixed(0)} s`);
  const am = await machineTimes(arm);
  const xm = await machineTimes(x86);
  const each = (xs) => xs.map((x) => x.toFixed(2)).join(', ');
  record('arm64 QEMU start -> SSH cmd', median(am.boots), undefined, `x86_64 ${median(xm.boots).toFixed(2)} s; each: ${each(am.boots)}`);
  const blackout = (m) => median(m.kexecs.map((k) => k.blackoutMs / 1000));
  record('arm64 kexec blackout', blackout(am), undefined, `x86_64 ${blackout(xm).toFixed(2)} s; kexec -e -> new userspace`);
  const sshBack = (m) => median(m.kexecs.map((k) => k.sshReadyMs / 1000));
  record('arm64 kexec -> SSH ready', sshBack(am), undefined, `x86_64 ${sshBack(xm).toFixed(2)} s`);
  const roundTrip = async (arch, i) => {
    const out = join(work, `rt-${arch}-${i}`);
    const secs = await wall(() => execa('node', ['bin/handover.js', 'run', 'memfd-round-trip', '--arch', arch, '--accel', 'tcg', '-r', 'json', '-o', out], { stdin: 'ignore', reject: false }));
    const r = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')).scenarios.find((x) => x.name === 'memfd-round-trip');
    return { secs, r };
  };
  await roundTrip('arm64', 'warm'); // untimed: the arm64 guest image comes from the cache (or is built) first
  const a = [];
  const x = [];
  for (let i = 0; i < pairs; i++) {
    a.push(await roundTrip('arm64', i));
    x.push(await roundTrip('x86_64', i));
  }
  const passed = (rs) => rs.filter((q) => q.r?.status === 'passed');
  const fig = (rs, f) => median(passed(rs).map(f));
  record('arm64 round trip wall', median(a.map((q) => q.secs)), undefined, `x86_64 ${median(x.map((q) => q.secs)).toFixed(1)} s; ${passed(a).length}/${pairs} passed; each: ${a.map((q) => q.secs.toFixed(1)).join(' ')}`);
  record('  of it: the scenario', fig(a, (q) => q.r.durationMs / 1000), undefined, `x86_64 ${fig(x, (q) => q.r.durationMs / 1000).toFixed(1)} s`);
  record('  kexec blackout', fig(a, (q) => q.r.blackoutsMs[0] / 1000), undefined, `x86_64 ${fig(x, (q) => q.r.blackoutsMs[0] / 1000).toFixed(2)} s`);
  record('  QEMU start -> SSH ready', fig(a, (q) => markAt(q.r, 1, 'ssh ready') / 1000), undefined, `x86_64 ${fig(x, (q) => markAt(q.r, 1, 'ssh ready') / 1000).toFixed(2)} s; boot 1, from the boot timeline`);
}

const work = await mkdtemp(join(tmpdir(), 'handover-bench-'));
try {
  const upstreamOk = only === undefined || only === 'build' ? await benchBuild(work) : undefined;
  if (only === undefined || only === 'machine') await benchMachine();
  const roundTrip = only === undefined || only === 'scenarios' ? await benchScenarios(work) : undefined;
  if (only === undefined || only === 'series') await benchSeries(work);
  const suiteAgrees = only === undefined || only === 'suite' || only === 'suite-j2' ? await benchSuite(work) : undefined;
  if (only === undefined || only === 'matrix') await benchMatrix(work);
  const flake = only === 'flake' ? await benchFlake(work) : undefined;
  if (only === 'arm64') await benchArm64(work);
  const coverage = only === 'coverage' ? await benchCoverage(work) : undefined;
  const fuzz = only === 'fuzz' ? await benchFuzz(work) : undefined;
  const out = join(import.meta.dirname, 'results');
  await mkdir(out, { recursive: true });
  const file = join(out, `${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`);
  await writeFile(file, `${JSON.stringify({ rows, upstreamOk, suiteAgrees, ...(roundTrip === undefined ? {} : { roundTrip }), ...(flake === undefined ? {} : { flake }), ...(coverage === undefined ? {} : { coverage }), ...(fuzz === undefined ? {} : { fuzz }) }, null, 2)}\n`);
  console.log(`\nwritten: ${file}`);
  await rm(work, { recursive: true, force: true });
} catch (err) {
  // Keep what a failed run wrote (results.json, consoles): the evidence of what went wrong.
  console.error(`bench failed; its files are kept in ${work}`);
  throw err;
}
