import { execa, type Options } from 'execa';
import { HandoverError, type Outcome } from '../errors.ts';

export interface ToolResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a host command from argv (never a shell string). A failure becomes the given outcome,
 * with the command line and the tail of its output as evidence.
 */
export async function runTool(
  file: string,
  args: readonly string[],
  opts: { outcome: Outcome; what: string; cwd?: string; env?: Record<string, string>; timeoutMs?: number; input?: string },
): Promise<ToolResult> {
  const options: Options = {
    reject: false,
    all: true,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    ...(opts.env === undefined ? {} : { env: opts.env }),
    ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs }),
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  };
  const r = await execa(file, args, options);
  if (r.exitCode === 0 && !r.failed) return { stdout: String(r.stdout), stderr: String(r.stderr) };
  const why = r.timedOut
    ? `timed out after ${opts.timeoutMs} ms`
    : r.exitCode === undefined
      ? (r.originalMessage ?? r.shortMessage)
      : `exit ${r.exitCode}`;
  throw new HandoverError(opts.outcome, `${opts.what}: ${r.escapedCommand} failed (${why})`, {
    evidence: tail(String(r.all ?? ''), 20),
  });
}

export function tail(text: string, lines: number): string[] {
  return text.split('\n').filter((l) => l.trim() !== '').slice(-lines);
}
