// Where tests find a real kernel tree. Temporary: points at the prototype extraction until the
// source resolver (orchestrator/kernel/source.ts) lands; then it resolves the default spec.
export function kernelTreeForTests(): Promise<string> {
  return Promise.resolve(process.env.HANDOVER_TEST_KERNEL_TREE ?? '/tmp/proto-apt/x/usr/src/linux-source-7.3');
}
