// Build the guest's base initramfs: busybox, dropbear, sftp-server and kexec from the host's
// installed Debian packages with their shared libraries, /init, the guest agent, and a minimal
// /etc. The result is cached by a hash of every input, so an unchanged spec is a cache hit with no
// compile. Per-run secrets never enter this image: they go in the overlay (overlay.ts).

import { createHash } from 'node:crypto';
import { access, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HandoverError } from '../errors.ts';
import { crossPrefix, hostArch, type Arch } from '../host/arch.ts';
import { cacheDir, PACKAGE_ROOT, privateTempDir } from '../paths.ts';
import { AGENT_GUEST_PATH, agentInputs, compileAgent } from './agent.ts';
import { gzipCpio, writeNewc } from './cpio.ts';
import { hostTool } from './host-tool.ts';
import { foreignLibraryClosure } from './foreign-libs.ts';
import { resolveForeignPackageFiles } from './foreign-packages.ts';
import { sharedLibraryClosure } from './libs.ts';
import { installedVersion, parsePackageList, resolvePackageFiles, type ResolvedPackageFile } from './packages.ts';
import { ImageTree } from './tree.ts';

export interface RootfsSpec {
  /** Include dir of the kernel's exported uapi headers (`headers_install`), with linux/liveupdate.h. */
  readonly uapiInclude: string;
  /** Holds packages.txt and agent/ (every .c there is compiled and hashed; the agent is also /init). Default: the package's rootfs/. */
  readonly sourceDir?: string;
  /** Ignore a cached image and rebuild (the cache entry is replaced). */
  readonly rebuild?: boolean;
  /**
   * The guest's architecture (default: the host's). Another one takes its binaries from that
   * architecture's Debian packages (foreign-packages.ts) and cross-compiles the agent.
   */
  readonly arch?: Arch;
}

export interface Rootfs {
  /** sha256 of all inputs; names the cache entry. */
  readonly hash: string;
  /** gzip'd newc archive, padded to 4 bytes so an overlay cpio can follow it. */
  readonly basePath: string;
  readonly manifestPath: string;
  readonly cached: boolean;
  /** Debian package versions the binaries came from. */
  readonly packages: Readonly<Record<string, string>>;
  readonly agentPath: string;
  readonly durationMs: number;
}

export const HOST_KEY_GUEST_PATH = '/etc/dropbear/dropbear_ed25519_host_key';
export const AUTHORIZED_KEYS_GUEST_PATH = '/root/.ssh/authorized_keys';

const BASE_NAME = 'base.cpio.gz';
const MANIFEST_NAME = 'manifest.json';

const ETC_FILES: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'etc/group': 'root:x:0:\ntty:x:5:\n',
  'etc/shells': '/bin/sh\n',
  'etc/hosts': '127.0.0.1\tlocalhost handover\n',
  'etc/profile': 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n',
};

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Images this process already found or built, by spec: a run asks once per kernel and once per
 * machine, and assembling the tree to hash its inputs (binaries, libraries, dpkg) costs ~0.5 s
 * under load each time. A process never sees its own rootfs sources change under it.
 */
const known = new Map<string, Rootfs>();

/** Build (or find in the cache) the base image for a spec. */
export async function buildRootfs(spec: RootfsSpec): Promise<Rootfs> {
  const key = JSON.stringify([spec.sourceDir ?? null, spec.uapiInclude, spec.arch ?? hostArch()]);
  const hit = spec.rebuild === true ? undefined : known.get(key);
  if (hit !== undefined && (await exists(hit.basePath))) return { ...hit, cached: true, durationMs: 0 };
  const r = await findOrBuildRootfs(spec);
  known.set(key, r);
  return r;
}

async function findOrBuildRootfs(spec: RootfsSpec): Promise<Rootfs> {
  const started = performance.now();
  const src = spec.sourceDir ?? join(PACKAGE_ROOT, 'rootfs');
  const agentSource = join(src, 'agent', 'handover-agent.c');
  const arch = spec.arch ?? hostArch();
  const cc = `${crossPrefix(arch)}gcc`;
  const { tree, inputs, packages } = await assembleTree(src, arch);
  inputs.push(...(await agentInputs(agentSource, spec.uapiInclude, cc)));
  // The static libc the agent links: the host's, or the cross one that comes with the cross gcc.
  const libcDev = arch === hostArch() ? 'libc6-dev' : `libc6-dev-${arch}-cross`;
  inputs.push(`libc-dev ${(await installedVersion(libcDev)) ?? 'none'}`);
  inputs.push(`builder ${await builderHash()}`);
  const hash = sha256(inputs.join('\n'));

  const dir = await cacheDir('rootfs', hash);
  const basePath = join(dir, BASE_NAME);
  const manifestPath = join(dir, MANIFEST_NAME);
  const done = (cached: boolean): Rootfs => ({
    hash,
    basePath,
    manifestPath,
    cached,
    packages,
    agentPath: AGENT_GUEST_PATH,
    durationMs: Math.round(performance.now() - started),
  });
  if (spec.rebuild !== true && (await exists(basePath)) && (await exists(manifestPath))) return done(true);

  const tmp = await privateTempDir('rootfs');
  try {
    const agentBin = join(tmp, 'handover-agent');
    await compileAgent(agentSource, spec.uapiInclude, agentBin, cc);
    tree.file(AGENT_GUEST_PATH, { data: await readFile(agentBin) }, 0o755);
    const archive = await writeNewc(tree.entries());
    const gz = await gzipCpio(archive);
    // The kernel looks for a following uncompressed cpio only at a 4-byte boundary; zeros are skipped.
    const padded = Buffer.concat([gz, Buffer.alloc((4 - (gz.length % 4)) % 4)]);
    const manifest = {
      hash,
      inputs,
      packages,
      entries: tree.entries().length,
      cpioBytes: archive.length,
      gzipBytes: padded.length,
      builtAt: new Date().toISOString(),
    };
    // Written beside the final names, then renamed: a concurrent build of the same hash is harmless.
    await writeFile(join(dir, `${BASE_NAME}.${process.pid}.tmp`), padded, { mode: 0o644 });
    await writeFile(join(dir, `${MANIFEST_NAME}.${process.pid}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(join(dir, `${BASE_NAME}.${process.pid}.tmp`), basePath);
    await rename(join(dir, `${MANIFEST_NAME}.${process.pid}.tmp`), manifestPath);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return done(false);
}

/** Everything but the agent, plus the input lines that describe it for the cache key. */
async function assembleTree(src: string, arch: Arch): Promise<{ tree: ImageTree; inputs: string[]; packages: Record<string, string> }> {
  const listFile = join(src, 'packages.txt');
  const list = parsePackageList(await readFile(listFile, 'utf8'), listFile);
  const native = arch === hostArch();
  const { files, versions, sysroot } = native ? { ...(await resolvePackageFiles(list)), sysroot: undefined } : await resolveForeignPackageFiles(list, arch);
  const tree = new ImageTree();
  // Only another architecture says so: the host's own image keeps the inputs it always had.
  const inputs = native ? ['format 1'] : ['format 1', `arch ${arch}`];
  for (const [pkg, version] of Object.entries(versions).sort()) inputs.push(`package ${pkg} ${version}`);

  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'lib', 'lib64', 'dev', 'proc', 'sys', 'run', 'mnt', 'var/log']) tree.dir(d);
  tree.dir('tmp', 0o1777).dir('root', 0o700).dir('root/.ssh', 0o700).dir('etc/dropbear', 0o700);
  // The kernel opens /dev/console before /init runs (and mounts devtmpfs over /dev later).
  tree.nod('dev/console', 'c', 5, 1, 0o600).nod('dev/null', 'c', 1, 3, 0o666);

  const hostFiles = new Map<string, string>(); // guest path -> host path
  for (const f of files) {
    hostFiles.set(f.guest, f.hostPath);
    if (sysroot === undefined) for (const lib of await sharedLibraryClosure(f.hostPath)) hostFiles.set(lib, lib);
    else for (const [guest, host] of await foreignLibraryClosure(f.hostPath, sysroot, arch)) hostFiles.set(guest, host);
  }
  for (const [guest, host] of [...hostFiles].sort(([a], [b]) => a.localeCompare(b))) {
    const data = await readFile(host);
    tree.file(guest, { data }, 0o755);
    inputs.push(`file ${guest} ${sha256(data)}`);
  }

  const busybox = files.find((f) => f.pkg === 'busybox-static' || f.guest.endsWith('/busybox'));
  if (busybox === undefined) throw new HandoverError('usage-error', `${listFile}: no busybox listed`);
  const applets = (await hostTool(await appletLister(busybox, native), ['--list-full'], { what: 'listing busybox applets' })).stdout;
  for (const applet of applets.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== 'linuxrc')) {
    // A real binary from a package wins over the busybox applet of the same name.
    if (!tree.has(applet)) tree.symlink(applet, busybox.guest);
  }

  // PID 1 is the agent itself (rootfs/agent/init.c): the kernel runs /init, the agent sees argv[0].
  tree.symlink('init', AGENT_GUEST_PATH);
  for (const [path, text] of Object.entries(ETC_FILES)) {
    tree.file(path, { data: Buffer.from(text) }, 0o644);
    inputs.push(`etc ${path} ${sha256(text)}`);
  }
  return { tree, inputs, packages: versions };
}

/**
 * A busybox of another architecture cannot run here: the host's busybox-static (the same Debian
 * release's build) lists the applets; an applet the guest's lacks would only print "not found".
 */
async function appletLister(busybox: ResolvedPackageFile, native: boolean): Promise<string> {
  if (native) return busybox.hostPath;
  const [host] = (await resolvePackageFiles([{ pkg: busybox.pkg, source: busybox.source, guest: busybox.guest }])).files;
  if (host === undefined) throw new HandoverError('host-missing', `no host ${busybox.pkg} to list the guest's busybox applets`);
  return host.hostPath;
}

/** The builder's own code is an input too: a layout change must not reuse old images. */
async function builderHash(): Promise<string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const names = (await readdir(here)).filter((n) => /\.(ts|js)$/.test(n)).sort();
  const h = createHash('sha256');
  for (const n of names) h.update(`${n}\0${sha256(await readFile(join(here, n)))}\n`);
  return h.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
