// Commands that run as a whole process group (make and every compiler under it): an abort, our
// exit or a signal kills the group, and our death by SIGKILL reaches make through pdeathsig (TERM,
// which make passes on to its children before it exits).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { registerProcessGroup } from './process-registry.ts';

let setprivPath: string | null | undefined;

/** `setpriv` (util-linux) if found: it makes the kernel SIGKILL QEMU when we die, even by SIGKILL. */
export function findSetpriv(): string | undefined {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === 'linux') {
      for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
        try {
          accessSync(join(dir, 'setpriv'), constants.X_OK);
          setprivPath = join(dir, 'setpriv');
          break;
        } catch {
          // next
        }
      }
    }
  }
  return setprivPath ?? undefined;
}

export interface GroupOptions {
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  /** After SIGTERM to the group on abort, SIGKILL it this much later (default 3 s). */
  graceMs?: number;
}

/** The command in its own process group; the promise settles once the group leader has exited. */
export function runGroup(file: string, args: readonly string[], opts: GroupOptions = {}) {
  const setpriv = findSetpriv();
  const [cmd, argv] = setpriv === undefined ? [file, args] : [setpriv, ['--pdeathsig', 'TERM', '--', file, ...args]];
  const child = execa(cmd, argv, {
    reject: false,
    buffer: false,
    stdin: 'ignore',
    detached: true,
    ...(opts.env === undefined ? {} : { env: opts.env }),
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
  const leader = child.pid;
  if (leader === undefined) return child;
  const unregister = registerProcessGroup(leader);
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-leader, sig);
    } catch {
      // the group is gone
    }
  };
  let hard: NodeJS.Timeout | undefined;
  const onAbort = () => {
    kill('SIGTERM');
    hard = setTimeout(() => kill('SIGKILL'), opts.graceMs ?? 3000);
    hard.unref();
  };
  if (opts.signal?.aborted === true) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  void child.finally(() => {
    opts.signal?.removeEventListener('abort', onAbort);
    if (hard !== undefined) clearTimeout(hard);
    // Whatever the leader left behind in its group (a compiler it did not wait for) goes with it.
    kill('SIGKILL');
    unregister();
  });
  return child;
}
