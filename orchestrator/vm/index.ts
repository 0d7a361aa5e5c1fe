// The VM layer: QEMU with a chosen accelerator, its console watched for boots and crashes.
export { bootVm, DEFAULT_APPEND, type BootVmOptions, type Vm, type VmExit } from './vm.ts';
export { chooseAccel, kvmVerdict, TCG_ARGS, type AccelChoice, type AccelPolicy } from './accel.ts';
export {
  bootStarted,
  ConsoleWatcher,
  lineMatching,
  type BootInfo,
  type ConsoleLine,
  type LineMatch,
  type WaitOptions,
  type WaitStrategy,
} from './console.ts';
export {
  CRASH_PATTERNS,
  CrashScanner,
  isBootBanner,
  matchCrashTitle,
  scanConsoleLog,
  type Crash,
  type CrashKind,
} from './crash-catalogue.ts';
export { QmpClient, QmpError, type QmpEvent } from './qmp.ts';
export { liveQemuPids } from '../host/process-registry.ts';
