import { resolveSource } from '../../orchestrator/kernel/source.ts';
import { DEFAULT_KERNEL_SPEC, parseKernelSpec } from '../../orchestrator/kernel/spec.ts';

/** The default kernel tree (Debian linux-source-7.3), fetched into the cache on first use. */
export async function kernelTreeForTests(): Promise<string> {
  if (process.env.HANDOVER_TEST_KERNEL_TREE !== undefined) return process.env.HANDOVER_TEST_KERNEL_TREE;
  return (await resolveSource(parseKernelSpec(DEFAULT_KERNEL_SPEC))).dir;
}
