// The programmatic API: the CLI is a thin layer over these exports.
export { HandoverError, OUTCOMES, type Outcome } from './errors.ts';
export { cacheRoot, PACKAGE_ROOT } from './paths.ts';
