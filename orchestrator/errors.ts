// Every way a run can end, with its exit code. One table, so the CLI, the reports and the README
// agree. Infrastructure outcomes are told apart from test failures (exit 1) and usage errors (2).

/**
 * What kind of thing an outcome is: `pass`; a `finding` about the kernel under test (a check
 * failed, it crashed, hung or refused the handover); `infrastructure` (the machine around the
 * test failed: QEMU, SSH, a loaded host); `build` (the tree could not be built as asked); `host`
 * (this machine lacks something); `usage` (bad input); `bug` (handover's own); `interrupted`.
 */
export type OutcomeClass = 'pass' | 'finding' | 'infrastructure' | 'build' | 'host' | 'usage' | 'bug' | 'interrupted';

/** What `git bisect run` is told: 0 good, 1 bad, 125 skip (cannot judge this commit), 128+ stop. */
export type BisectMeaning = 'good' | 'bad' | 'skip' | 'abort' | 'interrupted';

interface OutcomeInfo {
  readonly exit: number;
  readonly class: OutcomeClass;
  /**
   * A scenario ending so is run again (`--retries`): the machine may be at fault. kernel-hang is
   * retried too, to confirm it: a kernel that hangs twice is reported as the kernel's fault.
   */
  readonly retry: boolean;
  readonly bisect: BisectMeaning;
  readonly summary: string;
}

const o = (exit: number, cls: OutcomeClass, retry: boolean, bisect: BisectMeaning, summary: string): OutcomeInfo => ({ exit, class: cls, retry, bisect, summary });

// One table for every command (run, series, matrix, bisect-step) and the README.
export const OUTCOMES = {
  passed: o(0, 'pass', false, 'good', 'everything passed'),
  'test-failed': o(1, 'finding', false, 'bad', 'a check failed in a scenario'),
  'step-failed': o(1, 'finding', false, 'bad', 'a step in the guest failed'),
  'kernel-crash': o(1, 'finding', false, 'bad', 'the kernel reported a crash on the console'),
  'kernel-error': o(1, 'finding', false, 'bad', 'the kernel logged a KHO/LUO error that no step expected'),
  'kernel-hang': o(1, 'finding', true, 'bad', 'a kexec’d kernel printed its banner and never reached userspace (confirmed by a retry)'),
  'incompatible-handover': o(1, 'finding', false, 'bad', 'the kexec’d kernel refused the handover: KHO FDT or LUO state incompatible'),
  flaky: o(1, 'finding', false, 'bad', 'repeats of a scenario disagreed'),
  'usage-error': o(2, 'usage', false, 'abort', 'bad command line, spec or file'),
  'config-dropped': o(3, 'build', false, 'skip', 'Kconfig dropped or changed a requested symbol'),
  'config-unknown-symbol': o(3, 'build', false, 'skip', 'a requested symbol does not exist in the tree'),
  'build-failed': o(4, 'build', false, 'skip', 'the kernel or a guest binary did not build'),
  'host-missing': o(5, 'host', false, 'abort', 'a host tool or package is missing'),
  'source-failed': o(5, 'host', false, 'skip', 'the kernel source could not be fetched or unpacked'),
  'accel-unusable': o(6, 'host', false, 'abort', 'the requested accelerator cannot run a guest'),
  'boot-timeout': o(6, 'infrastructure', true, 'skip', 'the guest did not reach userspace in time'),
  'ssh-failed': o(6, 'infrastructure', true, 'skip', 'SSH to the guest failed'),
  'kexec-timeout': o(6, 'infrastructure', true, 'skip', 'the kexec’d kernel printed no banner in time'),
  'vm-failed': o(6, 'infrastructure', true, 'skip', 'QEMU failed or exited unexpectedly'),
  'internal-error': o(70, 'bug', false, 'abort', 'a bug in handover itself'),
  interrupted: o(130, 'interrupted', false, 'interrupted', 'stopped by a signal'),
} as const satisfies Record<string, OutcomeInfo>;

export type Outcome = keyof typeof OUTCOMES;

/** A scenario ending so is judged about the kernel (a finding), not the machine. */
export const isFinding = (outcome: Outcome): boolean => OUTCOMES[outcome].class === 'finding';
/** A scenario ending so is retried (`--retries`). */
export const isRetried = (outcome: Outcome): boolean => OUTCOMES[outcome].retry;

/** An error that ends a run with a named outcome; `evidence` is what a user needs to see why. */
export class HandoverError extends Error {
  readonly outcome: Outcome;
  readonly evidence: readonly string[];
  readonly artifacts: Readonly<Record<string, string>>;

  constructor(
    outcome: Outcome,
    message: string,
    opts: { evidence?: readonly string[]; artifacts?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HandoverError';
    this.outcome = outcome;
    this.evidence = opts.evidence ?? [];
    this.artifacts = opts.artifacts ?? {};
  }

  get exitCode(): number {
    return OUTCOMES[this.outcome].exit;
  }
}

export function usageError(message: string): HandoverError {
  return new HandoverError('usage-error', message);
}
