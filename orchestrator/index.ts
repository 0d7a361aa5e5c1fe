// The programmatic API: the CLI is a thin layer over these exports.
export { HandoverError, OUTCOMES, type Outcome } from './errors.ts';
export { cacheRoot, PACKAGE_ROOT } from './paths.ts';
export { runChecks, fixHost, formatChecks, type Check } from './host/doctor.ts';
export { ARCHES, hostArch, parseArch, type Arch } from './host/arch.ts';
export {
  buildKernel,
  type KernelArtifacts,
  type KernelBuild,
  type KernelBuildRequest,
  type KernelMetadata,
} from './kernel/build.ts';
export { parseKernelSpec, DEFAULT_KERNEL_SPEC, type KernelSpec } from './kernel/spec.ts';
export { resolveSource, type SourceTree } from './kernel/source.ts';
export { createProgress, type Progress } from './log/progress.ts';
export { createLiveStatus, type LiveStatus, type LiveStatusOptions } from './log/live-status.ts';
export { startMachine, type Machine, type MachineOptions } from './machine/start.ts';
export { loadKexec, fireKexec, type KexecOptions, type KexecResult } from './machine/kexec.ts';
export { writeSshAccess } from './machine/ssh-config.ts';
export {
  bootVm,
  chooseAccel,
  scanConsoleLog,
  ConsoleWatcher,
  lineMatching,
  bootStarted,
  type Vm,
  type VmExit,
  type BootVmOptions,
  type AccelChoice,
  type AccelPolicy,
  type Crash,
  type WaitStrategy,
  type LineMatch,
  type ConsoleLine,
} from './vm/index.ts';
export { Guest, type ExecResult } from './guest/guest.ts';
export { generateRunKeys, type RunKeys } from './guest/keys.ts';
export { quoteArgv } from './guest/shell-quote.ts';
export { buildRootfs, type Rootfs } from './rootfs/build.ts';
export * as kho from './kho/index.ts';
export { Agent, startAgent, serveAgent, agentCaps, type AgentRequest, type AgentResult } from './guest/agent.ts';
export { contractStatus, PROMISES, type ContractEntry } from './scenario/contract.ts';
export { loadScenarios, parseScenario, type Scenario } from './scenario/load.ts';
export { runScenarios, planJobs, RETRIED_OUTCOMES, type RunOptions } from './scenario/runner.ts';
export { parseShard, shardOf, suiteOrder, type Shard } from './scenario/shard.ts';
export { scenarioJsonSchema } from './scenario/schema.ts';
export { findProjectFile, loadProjectFile, parseProjectFile, PROJECT_FILE, type ProjectFile } from './project/load.ts';
export { projectJsonSchema, ProjectFileSchema, type ProjectSettings } from './project/schema.ts';
export { defaultsLayer, projectLayer, mergeSettings, valuesOf, formatSettings, type RunSettings, type Resolved, type Layer } from './project/settings.ts';
export type { RunResult, ScenarioResult, StepResult, Attempt, Comparison, ComparisonClass, KernelSummary } from './scenario/results.ts';
export { loadBaseline, compareRuns, storeInHistory, readResults, type Baseline } from './scenario/baseline.ts';
export { mergeRuns, readMergeInputs, type MergeInput } from './report/merge.ts';
export { writeReports, REPORTERS } from './report/write-reports.ts';
export { toHtml, htmlReport, collectArtifacts, type HtmlOptions, type ScenarioArtifacts } from './report/html.ts';
export { scenarioTimeline, phaseOfStep, type TimelinePhase, type PhaseKind } from './scenario/timeline.ts';
export {
  runMatrix,
  orderedPairs,
  DEFAULT_MATRIX_KERNELS,
  type MatrixOptions,
  type MatrixResult,
  type MatrixCell,
} from './scenario/matrix.ts';
export { formatMatrix, matrixToJUnit } from './report/matrix.ts';
export { writeInitrd } from './rootfs/overlay.ts';
export { runSeries, seriesExitCode, BAD_OUTCOMES, type SeriesOptions, type SeriesResult, type PatchResult, type PatchOutcome } from './series/series.ts';
export { readSeries, type Series, type Patch } from './series/parse.ts';
export { openScratchTree, makeThrowawayRepo, type ScratchTree } from './series/scratch.ts';
export { applyPatch, diagnoseApply, type ApplyResult, type ApplyFailure } from './series/apply.ts';
export { updateWarningMap, diffWarnings, type WarningMap, type WarningDiff } from './series/warnings.ts';
export { formatSeriesTable, seriesToJUnit } from './report/series.ts';
export { bisectStep, bisectVerdict, BISECT_EXIT, type BisectStepOptions, type BisectStepResult, type BisectVerdict } from './series/bisect.ts';
export { runSuite, loadSuite, exitCodeFor, type SuiteOptions } from './suite.ts';
export { runFuzz, fuzzExitCode, parseDuration, programSeed, batchOps, type FuzzOptions, type FuzzResult, type Finding, type FuzzProgress } from './fuzz/fuzz.ts';
export { formatFuzz, fuzzJUnit, writeFuzzReports, FUZZ_REPORTERS } from './fuzz/report.ts';
// What the CLI uses besides the above (it imports nothing else from the library).
export { privateTempDir } from './paths.ts';
export { consoleReporter, type Reporter, summaryLine } from './report/console-reporter.ts';
export { agentFor } from './scenario/agent-binding.ts';
export { findScenarioFiles } from './scenario/discover.ts';
export { CACHE_KINDS, formatBytes, gcCache, listCache, parseAge, parseByteSize, pruneCache, type CacheEntry, type Collected } from './host/cache-store.ts';
export { formatSeconds } from './log/progress.ts';
export { usageError } from './errors.ts';
export { PROFILES } from './kernel/fragments.ts';
export { parseReporters } from './report/write-reports.ts';
export { type ProjectKey } from './project/schema.ts';
export { statusIntervalFromEnv } from './log/live-status.ts';
