import { join } from 'node:path';
import { execa } from 'execa';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'handover.js');

/** Runs the real CLI (the compiled dist/, as a user would) and returns what it printed. */
export async function handover(args: string[], opts: { timeoutMs?: number; cwd?: string } = {}) {
  const r = await execa('node', [BIN, ...args], { reject: false, stdin: 'ignore', stripFinalNewline: false, timeout: opts.timeoutMs ?? 3_600_000, ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}
