import type { RunResult, ScenarioResult, StepResult } from './results.ts';

/**
 * Live events of a run. With `--repeat N`, each repeat is a scenario named `name [k/N]` (start,
 * steps, end), then `scenarioEnd` comes once more with the scenario's result over its repeats.
 */
export interface Reporter {
  scenarioStart?(name: string, description: string): void;
  /** A step begins (the live status shows it; `step` comes when it has ended). */
  stepStart?(scenario: string, step: { index: number; total: number; name: string; kind: string }): void;
  step?(scenario: string, step: StepResult): void;
  /** The scenario starts over in a fresh VM (`--retries`): attempt `attempt` begins. */
  retry?(scenario: string, attempt: number): void;
  scenarioEnd?(result: ScenarioResult): void;
  /** Something the user should know about the run itself (jobs lowered, a retry). */
  note?(line: string): void;
  runEnd?(run: RunResult): Promise<void> | void;
}
