import { execa } from 'execa';
import { HandoverError, type Outcome } from '../errors.ts';
import { tail } from '../host/run-tool.ts';

/**
 * git as handover runs it in its own scratch repositories: a fixed identity (git am and the base
 * commit need a committer), no hooks, no signing, no auto gc, and light compression (a kernel
 * tree is 80 000 files; hashing them is the cost, compressing them need not be).
 */
const GIT_CONFIG = [
  '-c', 'user.name=handover',
  '-c', 'user.email=handover@localhost',
  '-c', 'commit.gpgsign=false',
  '-c', 'gc.auto=0',
  '-c', 'core.looseCompression=1',
  '-c', 'core.autocrlf=false',
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'advice.detachedHead=false',
];

export interface GitResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs git; never throws for a non-zero exit (the caller decides what it means). */
export async function gitTry(args: readonly string[], opts: { cwd: string; input?: string; env?: Record<string, string> }): Promise<GitResult> {
  const r = await execa('git', [...GIT_CONFIG, ...args], {
    cwd: opts.cwd,
    reject: false,
    env: { LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', ...opts.env },
    maxBuffer: 1024 * 1024 * 1024,
    // A patch's last line needs its newline (git format-patch --stdout of a range).
    stripFinalNewline: false,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs git and turns a failure into `outcome`, with git's own words as evidence. */
export async function git(args: readonly string[], opts: { cwd: string; what: string; outcome?: Outcome; input?: string; env?: Record<string, string> }): Promise<string> {
  const r = await gitTry(args, opts);
  if (r.exitCode !== 0) {
    throw new HandoverError(opts.outcome ?? 'source-failed', `${opts.what}: git ${args.join(' ')} failed (exit ${r.exitCode})`, {
      evidence: tail(`${r.stdout}\n${r.stderr}`, 20),
    });
  }
  return r.stdout;
}

/** The top of the git work tree that `dir` is the top of, or undefined when it is not one. */
export async function gitTopLevel(dir: string): Promise<string | undefined> {
  const r = await gitTry(['rev-parse', '--show-toplevel'], { cwd: dir });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}
