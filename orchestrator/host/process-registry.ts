// Every live QEMU (and make's process group) this process started, so none outlives us. Three layers:
//  - `setpriv --pdeathsig KILL` (qemu.ts) covers SIGKILL of this process, which no handler can see;
//  - here: 'exit', uncaught errors, and SIGINT/SIGTERM/SIGHUP kill every registered QEMU at once;
//  - `Vm.stop()` is the normal, graceful path.
// Handlers are installed only while a QEMU is registered, so an idle importer keeps Node's defaults.

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Sig = (typeof SIGNALS)[number];

const live = new Set<number>();
// Process groups by leader pid (negative to kill): make and every compiler under it.
const groups = new Set<number>();
let installed = false;

function killAll(): void {
  for (const pid of [...live, ...[...groups].map((g) => -g)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  groups.clear();
}

function onSignal(sig: Sig): void {
  killAll();
  // If someone else (the CLI's two-stage Ctrl-C) listens too, they decide how to end. Otherwise
  // restore the default disposition and re-raise, so our parent sees "killed by SIGINT" (exit 130).
  if (process.listenerCount(sig) > 1) return;
  uninstall();
  process.kill(process.pid, sig);
}

const handlers: Record<Sig, () => void> = {
  SIGINT: () => onSignal('SIGINT'),
  SIGTERM: () => onSignal('SIGTERM'),
  SIGHUP: () => onSignal('SIGHUP'),
};

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  // The monitor variant observes without changing Node's crash behaviour.
  process.on('uncaughtExceptionMonitor', killAll);
  for (const sig of SIGNALS) process.on(sig, handlers[sig]);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', killAll);
  process.off('uncaughtExceptionMonitor', killAll);
  for (const sig of SIGNALS) process.off(sig, handlers[sig]);
}

function register(set: Set<number>, id: number): () => void {
  set.add(id);
  install();
  return () => {
    set.delete(id);
    if (live.size === 0 && groups.size === 0) uninstall();
  };
}

/** Registers a live QEMU pid; the returned function unregisters it (call once it has exited). */
export const registerQemu = (pid: number): (() => void) => register(live, pid);

/** Registers a process group (its leader's pid) to be killed as a whole; returns the unregister. */
export const registerProcessGroup = (leader: number): (() => void) => register(groups, leader);

/** Pids of QEMUs this process still owns (for tests and diagnostics). */
export function liveQemuPids(): readonly number[] {
  return [...live];
}
