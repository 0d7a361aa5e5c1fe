import { access, constants, statfs } from 'node:fs/promises';
import { execa } from 'execa';
import { HandoverError } from '../errors.ts';
import { cacheDir, cacheRoot } from '../paths.ts';
import { hostArch, type Arch } from './arch.ts';

export interface Check {
  name: string;
  ok: boolean;
  /** A missing optional item is a warning, not a failure. */
  required: boolean;
  detail: string;
  /** The Debian package that provides it. */
  package?: string;
}

interface Requirement {
  name: string;
  package: string;
  required: boolean;
  probe: () => Promise<string | undefined>;
  /** Needed only by the test suite (`doctor --tests`), not by runs. */
  tests?: true;
  /** Needed only by `--coverage` runs (`doctor --coverage`; the test suite has a coverage e2e). */
  coverage?: true;
  /** Needed only for guests of this architecture (`doctor --arches`, and `--tests`: npm test boots one). */
  arch?: Arch;
}

const onPath = (cmd: string, versionArgs: string[] = ['--version']) => async () => {
  const r = await execa(cmd, versionArgs, { reject: false, stdin: 'ignore', all: true });
  return r.exitCode === 0 ? (String(r.all).split('\n').find((l) => l.trim() !== '') ?? cmd) : undefined;
};
const file = (path: string) => async () => access(path, constants.R_OK).then(() => path, () => undefined);
const debPackage = (pkg: string) => async () => {
  const r = await execa('dpkg-query', ['-W', '-f=${Status} ${Version}', pkg], { reject: false, stdin: 'ignore' });
  return r.exitCode === 0 && String(r.stdout).startsWith('install ok installed') ? `${pkg} ${String(r.stdout).split(' ').pop()}` : undefined;
};

/** What a run needs from the host, and the Debian package for each. */
const REQUIREMENTS: Requirement[] = [
  { name: 'qemu-system-x86_64', package: 'qemu-system-x86', required: true, probe: onPath('qemu-system-x86_64') },
  { name: 'gcc', package: 'gcc', required: true, probe: onPath('gcc') },
  { name: 'make', package: 'make', required: true, probe: onPath('make') },
  { name: 'ld (binutils)', package: 'binutils', required: true, probe: onPath('ld') },
  { name: 'flex', package: 'flex', required: true, probe: onPath('flex') },
  { name: 'bison', package: 'bison', required: true, probe: onPath('bison') },
  { name: 'bc', package: 'bc', required: true, probe: onPath('bc') },
  { name: 'lz4 (x86_64 kernel image)', package: 'lz4', required: true, probe: onPath('lz4') },
  { name: 'libelf headers', package: 'libelf-dev', required: true, probe: file('/usr/include/gelf.h') },
  { name: 'openssl headers', package: 'libssl-dev', required: true, probe: file('/usr/include/openssl/ssl.h') },
  { name: 'rsync (headers_install)', package: 'rsync', required: true, probe: onPath('rsync') },
  { name: 'xz (source tarballs)', package: 'xz-utils', required: true, probe: onPath('xz') },
  { name: 'git', package: 'git', required: true, probe: onPath('git') },
  { name: 'static glibc (guest agent)', package: 'libc6-dev', required: true, probe: file('/usr/lib/x86_64-linux-gnu/libc.a') },
  { name: 'busybox (static, guest)', package: 'busybox-static', required: true, probe: debPackage('busybox-static') },
  { name: 'dropbear (guest sshd)', package: 'dropbear-bin', required: true, probe: debPackage('dropbear-bin') },
  { name: 'kexec (guest)', package: 'kexec-tools', required: true, probe: debPackage('kexec-tools') },
  { name: 'sftp-server (guest SFTP)', package: 'openssh-sftp-server', required: true, probe: file('/usr/lib/sftp-server') },
  { name: 'cpio (checks initramfs)', package: 'cpio', required: true, probe: onPath('cpio') },
  { name: 'setpriv (QEMU dies with us)', package: 'util-linux', required: true, probe: onPath('setpriv') },
  { name: 'ccache (faster rebuilds)', package: 'ccache', required: false, probe: onPath('ccache') },
  { name: 'gcov (--coverage counts)', package: 'gcc', required: true, coverage: true, probe: onPath('gcov') },
  { name: 'genhtml (--coverage HTML view)', package: 'lcov', required: false, coverage: true, probe: onPath('genhtml') },
  // arm64 guests on an x86_64 host: QEMU's aarch64 system emulator, the cross compiler (kernel and
  // the static agent; its libc6-dev-arm64-cross comes with it). The guest's arm64 packages come
  // through a private apt configuration, not the host's dpkg.
  { name: 'qemu-system-aarch64 (arm64 guests)', package: 'qemu-system-arm', required: true, arch: 'arm64', probe: onPath('qemu-system-aarch64') },
  { name: 'aarch64-linux-gnu-gcc (arm64 kernel)', package: 'gcc-aarch64-linux-gnu', required: true, arch: 'arm64', probe: onPath('aarch64-linux-gnu-gcc') },
  { name: 'static arm64 glibc (arm64 agent)', package: 'libc6-dev-arm64-cross', required: true, arch: 'arm64', probe: file('/usr/aarch64-linux-gnu/lib/libc.a') },
  { name: 'chromium (HTML report test)', package: 'chromium', required: true, tests: true, probe: file('/usr/bin/chromium') },
];

const MIN_FREE_GIB = 8;

/**
 * `tests`: also what the test suite needs (a headless Chromium for the HTML report's test, the
 * arm64 tools for its arm64 run); `coverage`: what --coverage needs. `arches`: the guest
 * architectures to check for besides the host's own, so x86-only users never need the arm64 tools.
 */
export async function runChecks(opts: { tests?: boolean; coverage?: boolean; arches?: readonly Arch[] } = {}): Promise<Check[]> {
  const wanted = (r: Requirement): boolean =>
    (r.tests !== true || opts.tests === true) &&
    (r.coverage !== true || opts.coverage === true || opts.tests === true) &&
    (r.arch === undefined || r.arch === hostArch() || opts.tests === true || (opts.arches ?? []).includes(r.arch));
  const checks = await Promise.all(
    REQUIREMENTS.filter(wanted).map(async (r): Promise<Check> => {
      const found = await r.probe().catch(() => undefined);
      return { name: r.name, ok: found !== undefined, required: r.required, detail: found ?? `missing (Debian package ${r.package})`, package: r.package };
    }),
  );
  checks.unshift(nodeCheck());
  checks.push(await diskCheck(), await kvmCheck());
  return checks;
}

function nodeCheck(): Check {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const ok = major > 20 || (major === 20 && minor >= 19);
  return { name: 'node', ok, required: true, detail: `v${process.versions.node}${ok ? '' : ' (need >= 20.19)'}` };
}

async function diskCheck(): Promise<Check> {
  const dir = await cacheDir();
  const fs = await statfs(dir);
  const freeGiB = (fs.bavail * fs.bsize) / 2 ** 30;
  return {
    name: 'disk space (cache)',
    ok: freeGiB >= MIN_FREE_GIB,
    required: false,
    detail: `${freeGiB.toFixed(1)} GiB free in ${cacheRoot()}${freeGiB >= MIN_FREE_GIB ? '' : ` (a kernel source and build need ~${MIN_FREE_GIB} GiB)`}`,
  };
}

/** /dev/kvm being there does not mean KVM works; boots probe it with a deadline and fall back to TCG. */
async function kvmCheck(): Promise<Check> {
  const usable = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
  return {
    name: 'accelerator',
    ok: true,
    required: false,
    detail: usable ? '/dev/kvm present: boots probe it, TCG if it cannot run a guest' : 'no usable /dev/kvm: TCG',
  };
}

export function missingPackages(checks: readonly Check[]): string[] {
  return [...new Set(checks.filter((c) => !c.ok && c.package !== undefined).map((c) => c.package as string))];
}

export function formatChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks
    .map((c) => `${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'}  ${c.name.padEnd(width)}  ${c.detail}`)
    .join('\n');
}

/**
 * Installs the missing packages with apt-get when root; otherwise it cannot, and says the exact
 * command. Returns the checks after fixing.
 */
export async function fixHost(checks: readonly Check[], log: (line: string) => void, opts: { tests?: boolean; coverage?: boolean; arches?: readonly Arch[] } = {}): Promise<Check[]> {
  const packages = missingPackages(checks);
  if (packages.length === 0) return [...checks];
  const command = ['apt-get', 'install', '-y', '--no-install-recommends', ...packages];
  if (process.getuid?.() !== 0) {
    throw new HandoverError('host-missing', `missing host packages; run:\n  sudo apt-get update && sudo ${command.join(' ')}`);
  }
  log(`installing: ${packages.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const update = await execa('apt-get', ['update', '-q'], { reject: false, all: true, env, stdin: 'ignore' });
  const install = await execa(command[0] as string, command.slice(1), { reject: false, all: true, env, stdin: 'ignore' });
  if (install.exitCode !== 0) {
    throw new HandoverError('host-missing', `${command.join(' ')} failed (exit ${install.exitCode})`, {
      evidence: [...String(update.all).split('\n').slice(-5), ...String(install.all).split('\n').slice(-15)],
    });
  }
  return runChecks(opts);
}
