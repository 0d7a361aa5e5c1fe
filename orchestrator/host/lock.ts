import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { HandoverError } from '../errors.ts';

/**
 * An exclusive lock file holding the owner's pid. A lock whose owner is dead is taken over, so a
 * killed run never blocks the next one. Waits up to `waitMs`, telling the user once why.
 */
export async function acquireLock(path: string, opts: { waitMs: number; onWait?: (owner: number) => void }): Promise<() => Promise<void>> {
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (!Number.isFinite(owner) || !processAlive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new HandoverError('build-failed', `${path} is still held by pid ${owner} after ${opts.waitMs / 1000} s`);
    }
    if (!told) opts.onWait?.(owner);
    told = true;
    await sleep(1000);
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
