import type { Outcome } from '../errors.ts';

/** xfail: a step marked as a known kernel bug failed as expected (the scenario can still pass). */
export type Status = 'passed' | 'failed' | 'skipped' | 'error' | 'xfail';

export interface StepResult {
  index: number;
  kind: string;
  name: string;
  /** Line of the step in the scenario file. */
  line: number;
  status: Status;
  durationMs: number;
  message?: string;
  evidence?: string[];
  /** What the step observed (agent replies, verified hashes, blackout…). */
  data?: unknown;
}

export interface ScenarioResult {
  name: string;
  file: string;
  description: string;
  status: Status;
  /** Why it did not pass: the outcome and a diagnosis naming what broke. */
  outcome?: Outcome;
  message?: string;
  evidence?: string[];
  durationMs: number;
  steps: StepResult[];
  /** Per boot: its console log (artifact). */
  consoles: string[];
  /** Per boot: the kernel release it ran (`uname -r`); differs after a kexec into another kernel. */
  releases?: string[];
  /** Blackout of every kexec (trigger → new userspace), ms. */
  blackoutsMs: number[];
  /** Named figures the scenario measured (e.g. large-memfd fill, retrieve). */
  figures: Record<string, number>;
  artifactsDir: string;
}

export interface KernelSummary {
  release: string;
  spec: string;
  describe: string;
  configHash: string;
  buildSeconds: number;
  cacheHit: boolean;
}

export interface RunResult {
  startedAt: string;
  durationMs: number;
  kernel: KernelSummary;
  /** Kernel B, when the run kexecs into another kernel (`--kexec-into`, `kexec_into`). */
  kexecInto?: KernelSummary;
  qemu: { version: string };
  accel: { accel: string; reason: string };
  scenarios: ScenarioResult[];
  summary: { passed: number; failed: number; skipped: number; error: number; xfail: number };
}

export function summarize(scenarios: readonly ScenarioResult[]): RunResult['summary'] {
  const count = (s: Status) => scenarios.filter((r) => r.status === s).length;
  const xfail = scenarios.reduce((n, r) => n + r.steps.filter((s) => s.status === 'xfail').length, 0);
  return { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), error: count('error'), xfail };
}
