// The programmatic API: the CLI is a thin layer over these exports.
export { HandoverError, OUTCOMES, type Outcome } from './errors.ts';
export { cacheRoot, PACKAGE_ROOT } from './paths.ts';
export { runChecks, fixHost, formatChecks, type Check } from './host/doctor.ts';
export {
  buildKernel,
  type KernelArtifacts,
  type KernelBuild,
  type KernelBuildRequest,
  type KernelMetadata,
} from './kernel/build.ts';
export { parseKernelSpec, DEFAULT_KERNEL_SPEC, type KernelSpec } from './kernel/spec.ts';
export { resolveSource, type SourceTree } from './kernel/source.ts';
export { createProgress, type Progress } from './report/progress.ts';
