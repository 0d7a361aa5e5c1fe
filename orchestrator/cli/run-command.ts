import { HandoverError, OUTCOMES } from '../index.ts';

/**
 * Runs one CLI action: gives it an AbortSignal tied to Ctrl-C/SIGTERM (the first signal asks
 * everything to stop and tear down; a second one exits at once), turns errors into their
 * outcome's exit code, and prints the evidence a user needs.
 */
export async function runCommand(action: (signal: AbortSignal) => Promise<number>): Promise<void> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\nhandover: ${name}: stopping (again to force)\n`);
      controller.abort(new HandoverError('interrupted', `stopped by ${name}`));
    } else {
      process.exit(OUTCOMES.interrupted.exit);
    }
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  try {
    process.exitCode = await action(controller.signal);
  } catch (err) {
    process.exitCode = reportError(err);
  } finally {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof HandoverError) {
    const lines = [`handover: ${err.outcome}: ${err.message}`];
    for (const e of err.evidence) lines.push(`  ${e}`);
    for (const [name, path] of Object.entries(err.artifacts)) lines.push(`  ${name}: ${path}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    return err.exitCode;
  }
  process.stderr.write(`handover: internal-error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return OUTCOMES['internal-error'].exit;
}
