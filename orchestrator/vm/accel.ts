// Accelerator policy. "/dev/kvm exists" does not mean "KVM works" (nested PVM hosts spin forever, and
// `-cpu host` can abort on an MSR write), so `auto` boot-probes KVM: it starts the kernel under test
// and requires its `Linux version` banner within a deadline. The verdict is cached per host boot.

import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HandoverError } from '../errors.ts';
import { cacheDir, cacheRoot } from '../paths.ts';
import { DEFAULT_QEMU, spawnTied } from './qemu.ts';

export type AccelPolicy = 'auto' | 'kvm' | 'tcg';

/** What a VM runs with, and why: goes into every result. */
export interface AccelChoice {
  readonly accel: 'kvm' | 'tcg';
  readonly reason: string;
  /** QEMU flags selecting the accelerator and CPU model. */
  readonly qemuArgs: readonly string[];
  /** How long the probe took (0 when cached or not probed). */
  readonly probeMs: number;
  readonly cached: boolean;
}

// TCG: `-cpu max` ran a hashing/urandom workload ~15-20 % faster than the default qemu64 here and
// booted as fast; thread=multi lets `-smp N` use N host threads (x86 guests are MTTCG-safe).
// tb-size=32 (MiB of translated code, default 1 GiB): a kexec'd kernel writes over pages the old
// one's code was translated from, and each write invalidates those translations; a small buffer is
// flushed whole now and then, so few are left at the kexec. Measured alternating (QEMU 7.2, 2
// cores): blackout 2.85 -> 1.85 s, round trip 8.2 -> 6.9 s; 16 about as good, 8 thrashes, 64 and
// up approach the default; kasan's larger kernel is unchanged (docs/performance.md).
export const TCG_ARGS: readonly string[] = ['-accel', 'tcg,thread=multi,tb-size=32', '-cpu', 'max'];
export const KVM_CPU_CANDIDATES: readonly (readonly string[])[] = [['-cpu', 'host'], []];

export interface ProbeVerdict {
  readonly usable: boolean;
  /** With KVM usable: the CPU flags that booted. */
  readonly cpuArgs: readonly string[];
  readonly reason: string;
  readonly probeMs: number;
}

export interface ChooseAccelOptions {
  /** The kernel to probe with (the kernel under test: it must print its banner on ttyS0). */
  readonly kernel: string;
  readonly qemuBinary?: string | undefined;
  /** Deadline for KVM to show the banner; a working KVM shows it in well under a second. */
  readonly probeDeadlineMs?: number | undefined;
  /** Read and write the per-host verdict cache (default true). */
  readonly useCache?: boolean | undefined;
  /** Another architecture's machine to probe and fall back on (an arm64 host); default x86_64's. */
  readonly machine?: ProbeMachine | undefined;
}

/** What the probe needs of a machine (machine-arch.ts). */
export interface ProbeMachine {
  readonly machineArgs: readonly string[];
  readonly console: string;
  readonly tcgArgs: readonly string[];
  readonly kvmCpus: readonly (readonly string[])[];
}

export async function chooseAccel(policy: AccelPolicy, opts: ChooseAccelOptions): Promise<AccelChoice> {
  const tcgArgs = opts.machine?.tcgArgs ?? TCG_ARGS;
  if (policy === 'tcg') return { accel: 'tcg', reason: 'tcg requested', qemuArgs: tcgArgs, probeMs: 0, cached: false };
  const { verdict, cached } = await kvmVerdict(opts);
  return choiceFrom(policy, verdict, cached, tcgArgs);
}

/** The choice `auto` or `kvm` makes from a KVM verdict: kvm only if it booted a guest. */
export function choiceFrom(policy: 'auto' | 'kvm', verdict: ProbeVerdict, cached: boolean, tcgArgs: readonly string[] = TCG_ARGS): AccelChoice {
  if (verdict.usable) {
    return {
      accel: 'kvm',
      reason: `${policy === 'kvm' ? 'kvm requested' : 'auto'}: ${verdict.reason}`,
      qemuArgs: ['-accel', 'kvm', ...verdict.cpuArgs],
      probeMs: cached ? 0 : verdict.probeMs,
      cached,
    };
  }
  if (policy === 'kvm') {
    throw new HandoverError('accel-unusable', `KVM was requested but cannot run a guest: ${verdict.reason}`, {
      evidence: [verdict.reason, ...(cached ? ['(cached verdict; delete the accel cache to re-probe)'] : [])],
    });
  }
  return {
    accel: 'tcg',
    reason: `auto: KVM unusable (${verdict.reason}); using TCG`,
    qemuArgs: tcgArgs,
    probeMs: cached ? 0 : verdict.probeMs,
    cached,
  };
}

interface CacheKey {
  readonly qemu: string;
  readonly qemuVersion: string;
  readonly hostBootId: string;
  readonly kvmDevice: string;
}

async function cacheKey(qemu: string): Promise<CacheKey> {
  const [version, bootId, kvmDevice] = await Promise.all([
    promisify(execFile)(qemu, ['--version'], { timeout: 10_000 }).then(
      (r) => r.stdout.split('\n')[0] ?? '',
      () => 'unknown',
    ),
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
      (s) => s.trim(),
      () => 'unknown',
    ),
    kvmDeviceState(),
  ]);
  return { qemu, qemuVersion: version, hostBootId: bootId, kvmDevice };
}

async function kvmDeviceState(): Promise<string> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    return 'rw';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'no-access';
  }
}

// bootVm() calls in one process share one verdict (the host cannot change under a run), and
// concurrent ones one probe instead of spinning up several.
const verdicts = new Map<string, Promise<{ verdict: ProbeVerdict; cached: boolean }>>();

/** The probe verdict for this host: from the cache when the key matches, else probed now. */
export function kvmVerdict(opts: ChooseAccelOptions): Promise<{ verdict: ProbeVerdict; cached: boolean }> {
  const id = JSON.stringify([opts.qemuBinary, opts.kernel, opts.useCache, opts.probeDeadlineMs, cacheRoot()]);
  const known = verdicts.get(id);
  if (known !== undefined) return known.then((r) => ({ verdict: r.verdict, cached: true }));
  const p = kvmVerdictUncoalesced(opts);
  p.catch(() => verdicts.delete(id));
  verdicts.set(id, p);
  return p;
}

async function kvmVerdictUncoalesced(opts: ChooseAccelOptions): Promise<{ verdict: ProbeVerdict; cached: boolean }> {
  const qemu = opts.qemuBinary ?? DEFAULT_QEMU;
  const key = await cacheKey(qemu);
  const useCache = opts.useCache ?? true;
  const file = useCache ? join(await cacheDir('accel'), opts.machine === undefined ? 'kvm-probe.json' : `kvm-probe-${qemu}.json`) : undefined;
  if (file !== undefined) {
    try {
      const saved = JSON.parse(await readFile(file, 'utf8')) as { key: CacheKey; verdict: ProbeVerdict };
      if (JSON.stringify(saved.key) === JSON.stringify(key)) return { verdict: saved.verdict, cached: true };
    } catch {
      // no or unreadable cache: probe
    }
  }
  const { verdict, cacheable } = await probeKvm(qemu, opts.kernel, key.kvmDevice, opts.probeDeadlineMs ?? 4000, opts.machine);
  if (file !== undefined && cacheable) {
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ key, verdict, probedAt: new Date().toISOString() }, null, 2)}\n`);
    await rename(tmp, file);
  }
  return { verdict, cached: false };
}

async function probeKvm(
  qemu: string,
  kernel: string,
  kvmDevice: string,
  deadlineMs: number,
  machine?: ProbeMachine,
): Promise<{ verdict: ProbeVerdict; cacheable: boolean }> {
  const t0 = performance.now();
  const attempts: ProbeAttempt[] = [];
  let control: ProbeResult | undefined;
  if (kvmDevice === 'rw') {
    for (const cpuArgs of machine?.kvmCpus ?? KVM_CPU_CANDIDATES) {
      const result = await bootProbe(qemu, kernel, ['-accel', 'kvm', ...cpuArgs], deadlineMs, machine);
      attempts.push({ cpuArgs, result });
      if (result.ok) break;
    }
    if (needsControl(attempts)) control = await bootProbe(qemu, kernel, machine?.tcgArgs ?? TCG_ARGS, Math.max(deadlineMs, 15_000), machine);
  }
  return verdictOf(kvmDevice, attempts, control, Math.round(performance.now() - t0));
}

/** One boot probe of KVM with a CPU model, and how it ended. */
export interface ProbeAttempt {
  readonly cpuArgs: readonly string[];
  readonly result: ProbeResult;
}

/**
 * "No banner" only condemns KVM if this kernel does print one: then a TCG boot of the same kernel
 * (a negative control) decides, so a broken kernel never poisons the per-host cache.
 */
export function needsControl(attempts: readonly ProbeAttempt[]): boolean {
  return !attempts.some((a) => a.result.ok) && attempts.some((a) => a.result.noBanner);
}

/**
 * The verdict from what the probes saw, whatever shape KVM's failure took (no device, an abort
 * such as an MSR write, a guest that never prints): usable only if a guest booted, else a reason
 * naming each attempt and why it failed.
 */
export function verdictOf(
  kvmDevice: string,
  attempts: readonly ProbeAttempt[],
  control: ProbeResult | undefined,
  probeMs: number,
): { verdict: ProbeVerdict; cacheable: boolean } {
  if (kvmDevice !== 'rw') {
    const reason = kvmDevice === 'absent' ? '/dev/kvm does not exist' : '/dev/kvm is not readable and writable';
    return { verdict: { usable: false, cpuArgs: [], reason, probeMs }, cacheable: true };
  }
  const booted = attempts.find((a) => a.result.ok);
  if (booted !== undefined) {
    return {
      verdict: { usable: true, cpuArgs: booted.cpuArgs, reason: `KVM booted the kernel (${cpuLabel(booted.cpuArgs)}) in ${booted.result.ms} ms`, probeMs },
      cacheable: true,
    };
  }
  const failures = attempts.map((a) => `${cpuLabel(a.cpuArgs)}: ${a.result.why}`);
  if (failures.length === 0) failures.push('no KVM probe ran');
  let cacheable = true;
  if (needsControl(attempts)) {
    if (control === undefined || !control.ok) {
      cacheable = false;
      failures.push(`(not cached: the kernel showed no banner under TCG either: ${control?.why ?? 'no control ran'})`);
    } else {
      failures.push(`(control: TCG showed the banner in ${control.ms} ms)`);
    }
  }
  return { verdict: { usable: false, cpuArgs: [], reason: failures.join('; '), probeMs }, cacheable };
}

function cpuLabel(cpuArgs: readonly string[]): string {
  return cpuArgs.length === 0 ? 'default CPU' : cpuArgs.join(' ');
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly ms: number;
  readonly why: string;
  readonly noBanner: boolean;
}

/** Boots `kernel` with the serial console on stdout until the banner, an exit, or the deadline. */
export function bootProbe(
  qemu: string,
  kernel: string,
  accelArgs: readonly string[],
  deadlineMs: number,
  machine?: ProbeMachine,
): Promise<ProbeResult> {
  const t0 = performance.now();
  const ms = (): number => Math.round(performance.now() - t0);
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    ...(machine?.machineArgs ?? []),
    ...accelArgs,
    '-m', '256M',
    '-serial', 'stdio',
    '-kernel', kernel,
    '-append', `console=${machine?.console ?? 'ttyS0'} panic=-1`,
  ];
  return new Promise((resolve) => {
    const child = spawnTied(qemu, args, 'pipe');
    let out = '';
    let err = '';
    let result: ProbeResult | undefined;
    let exited = false;
    // Record the first verdict, then resolve only once QEMU is gone, so probes never overlap.
    const finish = (r: ProbeResult): void => {
      if (result !== undefined) return;
      result = r;
      clearTimeout(timer);
      if (exited) resolve(r);
      else child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => finish({ ok: false, ms: ms(), why: `no 'Linux version' banner within ${deadlineMs} ms`, noBanner: true }),
      deadlineMs,
    );
    child.stdout?.on('data', (b: Buffer) => {
      out = (out + b.toString()).slice(-4096);
      if (/Linux version \d/.test(out)) finish({ ok: true, ms: ms(), why: '', noBanner: false });
    });
    child.stderr?.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-4096);
    });
    child.once('error', (e) => {
      exited = true;
      finish({ ok: false, ms: ms(), why: `cannot run ${qemu}: ${e.message}`, noBanner: false });
    });
    child.once('exit', (code, signal) => {
      exited = true;
      const lastErr = err
        .trim()
        .split('\n')
        .filter((l) => !/warning:/.test(l))
        .slice(0, 2)
        .join(' | ');
      finish({
        ok: false,
        ms: ms(),
        why: `QEMU exited (${signal ?? `code ${code}`}) before the banner${lastErr === '' ? '' : `: ${lastErr}`}`,
        noBanner: false,
      });
      if (result !== undefined) resolve(result);
    });
  });
}
