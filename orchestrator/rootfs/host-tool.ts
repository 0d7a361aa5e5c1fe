// Run a host program from argv (never a shell string) for the image builder; a failure becomes a
// HandoverError with the command and the tail of its output as evidence.

import { execa } from 'execa';
import { HandoverError, type Outcome } from '../errors.ts';

export interface HostToolResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function hostTool(
  file: string,
  args: readonly string[],
  opts: { what: string; outcome?: Outcome; cwd?: string; allowFailure?: boolean; timeoutMs?: number },
): Promise<HostToolResult> {
  const r = await execa(file, args, {
    reject: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 120_000,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    env: { LC_ALL: 'C' },
  });
  const stdout = String(r.stdout);
  const stderr = String(r.stderr);
  if (r.exitCode === 0 || (opts.allowFailure === true && r.exitCode !== undefined)) {
    return { exitCode: r.exitCode ?? 0, stdout, stderr };
  }
  const why = r.exitCode === undefined ? (r.originalMessage ?? r.shortMessage) : `exit ${r.exitCode}`;
  const missing = r.exitCode === undefined && (r as { code?: string }).code === 'ENOENT';
  throw new HandoverError(
    missing ? 'host-missing' : (opts.outcome ?? 'build-failed'),
    `${opts.what}: ${r.escapedCommand} failed (${missing ? `${file} not found` : why})`,
    { evidence: `${stdout}\n${stderr}`.split('\n').filter((l) => l.trim() !== '').slice(-20) },
  );
}
