import type { BulkSpec, MemInfo, Seal } from '../guest/agent-protocol.ts';
import type { KernelBuild } from '../kernel/build.ts';
import type { KhoCapabilities } from '../kho/caps.ts';
import type { KhoDump } from '../kho/debugfs.ts';
import type { Machine } from '../machine/start.ts';
import type { AgentPort, AgentReply } from './agent-port.ts';
import type { Scenario } from './load.ts';

export interface MemfdRecord {
  size: number;
  sha256: string;
  seals: Seal[];
  /** The file position set at create, which retrieve verifies. */
  pos?: number;
  /** The agent's fd for it (mutate_memfd). */
  fd?: number;
}

/** Overrides that turn a scenario into its own negative control, without editing the file. */
export interface Overrides {
  /** Force every kexec load through this syscall (legacy = kexec_load, which bypasses KHO). */
  kexecSyscall?: 'file' | 'legacy';
  /** Appended to every boot's command line (e.g. kho=off). */
  append?: string;
  /** Appended to the kexec'd kernels' command line only (e.g. kho=off: the handover is ignored). */
  kexecAppend?: string;
}

/** What a scenario's steps share while it runs. */
export interface StepContext {
  scenario: Scenario;
  machine: Machine;
  agent: AgentPort;
  agentUp: boolean;
  memfds: Map<string, MemfdRecord>;
  /** Set by kexec_load until the kexec fires. */
  kexecLoaded: 'file' | 'legacy' | undefined;
  lastSyscall?: 'file' | 'legacy';
  overrides: Overrides;
  append: string;
  memoryMiB: number;
  dir: string;
  blackoutsMs: number[];
  figures: Record<string, number>;
  /** Boot numbers whose debugfs was already saved as an artifact. */
  dumpedBoots: Set<number>;
  /**
   * The KHO debugfs tree the previous step read, while nothing can have changed it: consecutive
   * debugfs steps of one boot read it once. Any other step or agent request forgets it.
   */
  lastDump?: { boot: number; dump: KhoDump };
  /** Kernel B of a handover between two kernels: every kexec goes into it. */
  kexecTarget?: KernelBuild;
  /** `uname -r` of each boot (index 0 = boot 1), so results attribute each boot to its kernel. */
  releases: string[];
  /**
   * When the running step's budget ends (Date.now() clock): waits inside a step end a little
   * before it, with their own named outcome (kexec-timeout, kernel-hang), not the step's.
   */
  stepDeadline?: number;
  /** Capabilities probed per boot (a kexec may land in a kernel that differs). */
  caps: Map<number, { files: KhoCapabilities; getName?: boolean }>;
  /** memory {mark}: the measurements later `since:` compares with. */
  memoryMarks: Map<string, MemInfo & { boot: number }>;
  /** bulk_preserve sets by id, for bulk_retrieve. */
  bulks: Map<string, BulkSpec>;
  /** Called right before each kexec fires (--coverage reads the boot's counters there). */
  beforeKexec?: () => Promise<void>;
}

/** A failed check: the message says what broke; evidence is what to look at. */
export class StepFailure extends Error {
  readonly evidence: string[];
  constructor(message: string, evidence: string[] = []) {
    super(message);
    this.name = 'StepFailure';
    this.evidence = evidence;
  }
}

export function describeReply(r: AgentReply): string {
  return r.ok ? 'ok' : `${r.errno} (${r.message})`;
}
