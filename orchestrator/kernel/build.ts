import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { markUsed } from '../host/cache-store.ts';
import { hostArch, type Arch } from '../host/arch.ts';
import { acquireLock } from '../host/lock.ts';
import { cacheDir } from '../paths.ts';
import { createProgress, formatSeconds, type Progress } from '../log/progress.ts';
import { describeOverrides, findViolations } from './config-contract.ts';
import { explainViolations } from './config-explain.ts';
import { kernelArchBuild, type KernelArchBuild } from './arch-build.ts';
import {
  defaultFragments,
  loadBuiltinFragment,
  loadConfigArg,
  mergeRequests,
  PROFILES,
  type MergedConfig,
} from './fragments.ts';
import { runGroup } from '../host/process-group.ts';
import { buildTreeRoot, prepareBuildTree, type BuildTree } from './build-tree.ts';
import { parseDotConfig } from './kconfig.ts';
import { firstErrors, kbuildStep } from './make-log.ts';
import { resolveSource, type SourceTree } from './source.ts';
import { DEFAULT_KERNEL_SPEC, parseKernelSpec } from './spec.ts';
import { detectToolchain, type Toolchain } from './toolchain.ts';
import { COVERAGE_PROFILE, profileMakeVars, saveCoverageNotes } from './coverage-profile.ts';

export interface KernelBuildRequest {
  /** A kernel spec (see spec.ts); default: Debian's linux-source-7.3. */
  kernel?: string;
  /** The guest architecture; default: the host's. arm64 on an x86_64 host is a cross build. */
  arch?: Arch;
  /** Fragment files or single CONFIG_X=val items, applied after the built-in fragments, in order. */
  config?: readonly string[];
  /** Named profiles from kernel-config/ (e.g. debug). */
  profiles?: readonly string[];
  jobs?: number;
  /** Use ccache when it is installed (default true). */
  ccache?: boolean;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface KernelArtifacts {
  /** The boot image QEMU -kernel and kexec -s take: bzImage on x86_64, the uncompressed Image on arm64. */
  bzImage: string;
  vmlinux: string;
  systemMap: string;
  config: string;
  mergedConfig: string;
  buildLog: string;
  /** The installed uapi headers' include dir (the guest agent compiles against it). */
  headers: string;
  metadata: string;
}

export interface KernelMetadata {
  schema: 1;
  key: string;
  /** Absent in entries built before arm64 support: those are x86_64. */
  arch?: Arch;
  release: string;
  source: { spec: string; kind: string; identity: string; describe: string; dir: string };
  config: { hash: string; requested: number; fragments: string[]; overrides: string[] };
  toolchain: Toolchain;
  make: { jobs: number; outputDir: string; commands: string[] };
  /** The compilations of this build and how many ccache served (absent without ccache). */
  ccache?: CcacheStats;
  /** The hard-linked copy make ran in, and what syncing it changed (linked -1: a fresh copy). */
  tree?: { dir: string; linked: number; removed: number; seconds: number };
  timings: { fetchSeconds: number; configureSeconds: number; buildSeconds: number; headersSeconds: number; totalSeconds: number };
  reproducer: string;
  builtAt: string;
}

/** The architecture a build is for (entries from before arm64 support carry none: x86_64). */
export function archOf(metadata: Pick<KernelMetadata, 'arch'>): Arch {
  return metadata.arch ?? 'x86_64';
}

export interface KernelBuild {
  dir: string;
  artifacts: KernelArtifacts;
  metadata: KernelMetadata;
  cacheHit: boolean;
  /** Seconds this call took (a cache hit is only the lookup). */
  seconds: number;
}

/** Bumped when the build recipe changes in a way that makes old artifacts wrong. */
const RECIPE = 1;

/**
 * Builds (or finds in the cache) a kernel for the given source and fragments. The cache key is
 * the source identity, the merged fragment, the toolchain and the recipe: unchanged inputs are a
 * hit without running make. Builds of one source location share an output dir, so a changed
 * tree rebuilds incrementally.
 */
export async function buildKernel(req: KernelBuildRequest = {}): Promise<KernelBuild> {
  const started = Date.now();
  const progress = req.progress ?? createProgress({ quiet: true });
  const specText = req.kernel ?? DEFAULT_KERNEL_SPEC;
  const spec = parseKernelSpec(specText);
  const arch = kernelArchBuild(req.arch ?? hostArch());
  const fragmentLists = await Promise.all([
    ...defaultFragments(arch.arch).map(loadBuiltinFragment),
    ...(req.profiles ?? []).map((p) => {
      const file = PROFILES[p];
      if (file === undefined) {
        throw new HandoverError('usage-error', `--profile ${p}: unknown profile (known: ${Object.keys(PROFILES).join(', ')})`);
      }
      return loadBuiltinFragment(file);
    }),
    ...(req.config ?? []).map(loadConfigArg),
  ]);
  const merged = mergeRequests(fragmentLists);
  const toolchain = await detectToolchain(req.ccache ?? true, arch.cross);

  progress.phase('source');
  const source = await resolveSource(spec);
  // A profile's own make variables (coverage: which objects gcov instruments) are part of the build.
  const makeVars = await profileMakeVars(req.profiles ?? [], source.dir);
  const key = cacheKey(arch.make, source, merged, toolchain, makeVars);
  const kernels = await cacheDir('kernels');
  const finalDir = join(kernels, key);
  // Cache entries this build reads get a use stamp: `handover cache gc` goes least recently used first.
  if (spec.kind !== 'local') await markUsed(dirname(source.dir));
  const hit = await loadCached(finalDir, arch);
  if (hit !== undefined) {
    await markUsed(finalDir);
    return { ...hit, cacheHit: true, seconds: (Date.now() - started) / 1000 };
  }

  // One build tree per source location, one output dir in it per profile set: a profile flips
  // hundreds of symbols (lockdep…), so sharing a dir would rebuild everything each time two runs
  // alternate. The lock covers the tree: syncing the copy and building from it go together.
  const profiles = [...new Set(req.profiles ?? [])].sort().join('+');
  const root = await buildTreeRoot(`${arch.make}|${source.location}`);
  const unlock = await acquireLock(join(root, '.handover.lock'), {
    waitMs: 3_600_000,
    onWait: (pid) => progress.info(`waiting for another build (pid ${pid}) using ${root}`),
  });
  try {
    const raced = await loadCached(finalDir, arch);
    if (raced !== undefined) return { ...raced, cacheHit: true, seconds: (Date.now() - started) / 1000 };
    progress.phase('sync');
    const tree = await prepareBuildTree(root, source.dir, profiles);
    return await buildFresh({ req, arch, progress, source, merged, toolchain, key, tree, outDir: tree.outDir, finalDir, started, specText, makeVars });
  } finally {
    await unlock();
  }
}

interface BuildContext {
  req: KernelBuildRequest;
  arch: KernelArchBuild;
  progress: Progress;
  source: SourceTree;
  merged: MergedConfig;
  toolchain: Toolchain;
  key: string;
  tree: BuildTree;
  outDir: string;
  finalDir: string;
  started: number;
  specText: string;
  makeVars: string[];
}

async function buildFresh(ctx: BuildContext): Promise<KernelBuild> {
  const { progress, source, merged, outDir } = ctx;
  const jobs = ctx.req.jobs ?? availableParallelism();
  const staging = `${ctx.finalDir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const logPath = join(staging, 'build.log');
  const log = createWriteStream(logPath);
  const fragmentPath = join(staging, 'merged.config');
  await writeFile(fragmentPath, merged.text);
  for (const line of describeOverrides(merged)) progress.info(`note: ${line}`);

  // O= a direct subdirectory of the copy: kbuild names the source `..`, so compiler commands
  // do not depend on where the tree is and ccache serves copies of it (build-tree.ts).
  const { arch } = ctx;
  const cross = arch.cross === '' ? [] : [`CROSS_COMPILE=${arch.cross}`];
  const base = ['-C', ctx.tree.srcDir, `O=${basename(outDir)}`, `ARCH=${arch.make}`, ...cross];
  const cc = ctx.toolchain.ccache ? [`CC=ccache ${arch.cross}gcc`] : [];
  const statsLog = join(staging, 'ccache-stats.log');
  const commands: string[] = [];
  const make = async (args: string[], phase: string, onLine?: (l: string) => void): Promise<void> => {
    commands.push(['make', ...args].join(' '));
    log.write(`$ make ${args.join(' ')}\n`);
    // make and its compilers are one process group, killed as one on an abort (process-group.ts).
    const child = runGroup('make', args, {
      env: { LC_ALL: 'C', KBUILD_BUILD_USER: 'handover', KBUILD_BUILD_HOST: 'handover', CCACHE_STATSLOG: statsLog },
      ...(ctx.req.signal === undefined ? {} : { signal: ctx.req.signal }),
    });
    const feed = (chunk: Buffer) => {
      log.write(chunk);
      if (onLine !== undefined) for (const line of chunk.toString().split('\n')) onLine(line);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    const r = await child;
    if (ctx.req.signal?.aborted === true) throw new HandoverError('interrupted', `${phase} was interrupted`);
    if (r.exitCode !== 0) {
      await new Promise((res) => log.end(res));
      const text = await readFile(logPath, 'utf8');
      await keepFailureLog(text, outDir);
      throw new HandoverError('build-failed', `${phase} failed (make exit ${r.exitCode}); full log: ${join(outDir, 'handover-failed-build.log')}`, {
        evidence: firstErrors(text),
        artifacts: { buildLog: join(outDir, 'handover-failed-build.log') },
      });
    }
  };

  try {
    progress.phase('configure');
    const t0 = Date.now();
    await make([...base, ...cc, `KCONFIG_ALLCONFIG=${fragmentPath}`, 'allnoconfig'], 'configure (allnoconfig + fragments)');
    const finalConfig = await readFile(join(outDir, '.config'), 'utf8');
    await verifyConfig(source, merged, parseDotConfig(finalConfig), outDir, arch.make);
    const configureSeconds = (Date.now() - t0) / 1000;

    progress.phase('build');
    const t1 = Date.now();
    const expected = await previousSteps(outDir);
    let steps = 0;
    await make([...base, ...cc, ...ctx.makeVars, `-j${jobs}`, arch.target], 'kernel build', (line) => {
      const step = kbuildStep(line);
      if (step === undefined) return;
      steps++;
      const pct = expected > 0 ? ` ~${Math.min(99, Math.round((100 * steps) / expected))}%` : '';
      progress.tick(`${steps} steps${pct}  ${step.tool} ${step.target}`);
    });
    if (steps > 100) await writeFile(join(outDir, '.handover-steps'), String(steps));
    const buildSeconds = (Date.now() - t1) / 1000;

    progress.phase('headers');
    const t2 = Date.now();
    await make([...base, `INSTALL_HDR_PATH=${join(staging, 'headers')}`, 'headers_install'], 'headers_install');
    const headersSeconds = (Date.now() - t2) / 1000;
    progress.end();

    const release = (await readFile(join(outDir, 'include/config/kernel.release'), 'utf8')).trim();
    const ccache = ctx.toolchain.ccache ? parseCcacheStats(await readFile(statsLog, 'utf8').catch(() => '')) : undefined;
    if (ccache !== undefined) progress.info(`ccache: ${ccache.hits} of ${ccache.compilations} compilations from the cache`);
    await copyFile(join(outDir, arch.builtPath), join(staging, arch.fileName));
    await copyFile(join(outDir, 'vmlinux'), join(staging, 'vmlinux'));
    await copyFile(join(outDir, 'System.map'), join(staging, 'System.map'));
    await writeFile(join(staging, 'config'), finalConfig);
    if (ctx.req.profiles?.includes(COVERAGE_PROFILE) === true) await saveCoverageNotes(ctx.tree.srcDir, outDir, staging);
    await new Promise((res) => log.end(res));

    const metadata: KernelMetadata = {
      schema: 1,
      key: ctx.key,
      arch: arch.arch,
      release,
      source: { spec: source.spec.text, kind: source.spec.kind, identity: source.identity, describe: source.describe, dir: source.dir },
      config: {
        hash: sha(finalConfig),
        requested: merged.requests.length,
        fragments: [...new Set(merged.requests.map((r) => r.origin.file))],
        overrides: describeOverrides(merged),
      },
      toolchain: ctx.toolchain,
      make: { jobs, outputDir: outDir, commands },
      ...(ccache === undefined ? {} : { ccache }),
      tree: { dir: ctx.tree.srcDir, ...ctx.tree.synced },
      timings: {
        fetchSeconds: source.fetchSeconds,
        configureSeconds,
        buildSeconds,
        headersSeconds,
        totalSeconds: (Date.now() - ctx.started) / 1000,
      },
      reproducer: reproducer(ctx),
      builtAt: new Date().toISOString(),
    };
    // metadata.json is written last and the dir renamed into place: a cache entry is all or nothing.
    await writeFile(join(staging, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
    await rename(staging, ctx.finalDir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      await rm(staging, { recursive: true, force: true });
    });
    progress.info(`built ${release} in ${formatSeconds(metadata.timings.totalSeconds)} (${source.describe})`);
    return { dir: ctx.finalDir, artifacts: artifactsIn(ctx.finalDir, arch), metadata, cacheHit: false, seconds: metadata.timings.totalSeconds };
  } catch (err) {
    log.destroy();
    progress.end();
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Fails the build when Kconfig did not honour a request; the evidence stays in the output dir. */
async function verifyConfig(
  source: SourceTree,
  merged: MergedConfig,
  finalValues: ReadonlyMap<string, string>,
  outDir: string,
  makeArch: string,
): Promise<void> {
  const violations = findViolations(merged, finalValues);
  if (violations.length === 0) return;
  const mergedPath = join(outDir, 'handover-merged.config');
  await writeFile(mergedPath, merged.text);
  const explained = explainViolations(source.dir, violations, finalValues, makeArch);
  const allUnknown = explained.every((e) => e.unknown);
  throw new HandoverError(
    allUnknown ? 'config-unknown-symbol' : 'config-dropped',
    `${violations.length} requested Kconfig symbol${violations.length === 1 ? ' was' : 's were'} not honoured by ${source.describe}`,
    { evidence: explained.flatMap((e) => e.lines), artifacts: { mergedConfig: mergedPath, finalConfig: join(outDir, '.config') } },
  );
}

async function keepFailureLog(text: string, outDir: string): Promise<void> {
  await writeFile(join(outDir, 'handover-failed-build.log'), text);
}

async function previousSteps(outDir: string): Promise<number> {
  const text = await readFile(join(outDir, '.handover-steps'), 'utf8').catch(() => '0');
  return Number.parseInt(text, 10) || 0;
}

function reproducer(ctx: BuildContext): string {
  const args = ['handover', 'kernel', 'build', '--kernel', ctx.specText];
  if (ctx.arch.arch !== 'x86_64') args.push('--arch', ctx.arch.arch);
  for (const p of ctx.req.profiles ?? []) args.push('--profile', p);
  for (const c of ctx.req.config ?? []) args.push('--config', c);
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** x86_64 keys are what they were before arm64: ARCH was always in them, and `cross` is only set for a cross build. */
function cacheKey(ARCH: string, source: SourceTree, merged: MergedConfig, toolchain: Toolchain, makeVars: readonly string[]): string {
  const { ccache: _ccache, ...compilers } = toolchain;
  // No make variables: the key every kernel had before profiles could add some (the cache stays warm).
  const extra = makeVars.length === 0 ? {} : { makeVars };
  return sha(JSON.stringify({ RECIPE, ARCH, source: source.identity, config: merged.text, compilers, ...extra })).slice(0, 24);
}

export interface CcacheStats {
  compilations: number;
  hits: number;
  misses: number;
}

/** Counts ccache's per-build stats log (CCACHE_STATSLOG): a `# <file>` line per call, then its counters. */
export function parseCcacheStats(text: string): CcacheStats {
  let hits = 0;
  let misses = 0;
  for (const line of text.split('\n')) {
    if (line === 'direct_cache_hit' || line === 'preprocessed_cache_hit') hits++;
    else if (line === 'cache_miss') misses++;
  }
  // Calls ccache cannot cache (preprocessing a linker script…) are neither: not compilations.
  return { compilations: hits + misses, hits, misses };
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function artifactsIn(dir: string, arch: KernelArchBuild): KernelArtifacts {
  return {
    bzImage: join(dir, arch.fileName),
    vmlinux: join(dir, 'vmlinux'),
    systemMap: join(dir, 'System.map'),
    config: join(dir, 'config'),
    mergedConfig: join(dir, 'merged.config'),
    buildLog: join(dir, 'build.log'),
    headers: join(dir, 'headers', 'include'),
    metadata: join(dir, 'metadata.json'),
  };
}

async function loadCached(dir: string, arch: KernelArchBuild): Promise<Omit<KernelBuild, 'cacheHit' | 'seconds'> | undefined> {
  const artifacts = artifactsIn(dir, arch);
  try {
    const metadata = JSON.parse(await readFile(artifacts.metadata, 'utf8')) as KernelMetadata;
    await Promise.all([artifacts.bzImage, artifacts.vmlinux, artifacts.headers].map((p) => access(p)));
    return { dir, artifacts, metadata };
  } catch {
    return undefined;
  }
}
