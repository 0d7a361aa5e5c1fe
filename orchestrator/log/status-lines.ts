/**
 * The text of the live status: pure functions of what is running and the time, so the tests can
 * check it without a clock or a terminal.
 */

/** A scenario running in a VM: since when, and what it is doing (`boot`, `step 4/9 retrieve`…). */
export interface RunningScenario {
  name: string;
  startedAt: number;
  phase: string;
}

/** A step's name is its YAML in short (`retrieve {"session":…}`): long ones are cut, the status is a glance. */
export function stepPhase(index: number, total: number, name: string, max = 60): string {
  return `step ${index + 1}/${total} ${name.length > max ? `${name.slice(0, max - 1)}…` : name}`;
}

/** Whole seconds: the status is redrawn a few times a second, tenths would only flicker. */
export function elapsedText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * The block drawn on a terminal, one line per VM. Elapsed time comes before the step so that
 * cutting a line to the terminal's width (a wrapped line would break the cursor-up redraw)
 * loses the end of a step name, never the time.
 */
export function ttyLines(running: readonly RunningScenario[], now: number, columns: number): string[] {
  const width = Math.max(...running.map((r) => r.name.length), 0);
  const max = Math.max(20, columns - 1);
  return running.map((r) => `  ▸ ${r.name.padEnd(width)} ${elapsedText(now - r.startedAt).padStart(6)}  ${r.phase}`.slice(0, max));
}

/** Plain lines for logs (CI): nothing redrawn, one line per running scenario. */
export function plainLines(running: readonly RunningScenario[], now: number): string[] {
  return running.map((r) => `status: ${r.name}: ${r.phase} (${elapsedText(now - r.startedAt)})`);
}
