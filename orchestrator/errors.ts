// Every way a run can end, with its exit code. One table, so the CLI, the reports and the README
// agree. Infrastructure outcomes are told apart from test failures (exit 1) and usage errors (2).

export const OUTCOMES = {
  passed: { exit: 0, summary: 'everything passed' },
  'test-failed': { exit: 1, summary: 'a check failed in a scenario' },
  'step-failed': { exit: 1, summary: 'a step in the guest failed' },
  'kernel-crash': { exit: 1, summary: 'the kernel reported a crash on the console' },
  'incompatible-handover': { exit: 1, summary: 'the kexec’d kernel refused the handover: KHO FDT or LUO state incompatible' },
  'usage-error': { exit: 2, summary: 'bad command line, spec or file' },
  'config-dropped': { exit: 3, summary: 'Kconfig dropped or changed a requested symbol' },
  'config-unknown-symbol': { exit: 3, summary: 'a requested symbol does not exist in the tree' },
  'build-failed': { exit: 4, summary: 'the kernel or a guest binary did not build' },
  'host-missing': { exit: 5, summary: 'a host tool or package is missing' },
  'source-failed': { exit: 5, summary: 'the kernel source could not be fetched or unpacked' },
  'accel-unusable': { exit: 6, summary: 'the requested accelerator cannot run a guest' },
  'boot-timeout': { exit: 6, summary: 'the guest did not reach userspace in time' },
  'ssh-failed': { exit: 6, summary: 'SSH to the guest failed' },
  'kexec-timeout': { exit: 6, summary: 'the new kernel did not come up after kexec in time' },
  'vm-failed': { exit: 6, summary: 'QEMU failed or exited unexpectedly' },
  'internal-error': { exit: 70, summary: 'a bug in handover itself' },
  interrupted: { exit: 130, summary: 'stopped by a signal' },
} as const;

export type Outcome = keyof typeof OUTCOMES;

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
