import { InvalidArgumentError, type Command } from 'commander';
import { createLiveStatus, type LiveStatus, statusIntervalFromEnv } from '../index.ts';

export interface StatusCliOptions {
  /** false with --no-status. */
  status?: boolean;
  statusInterval?: number;
}

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
};

/** `--no-status` and `--status-interval` for the commands that run scenarios (run, series, matrix). */
export function addStatusOptions(cmd: Command): Command {
  return cmd
    .option('--no-status', 'no live status of the running VMs on stderr')
    .option('--status-interval <seconds>', 'without a TTY, print the running scenarios every so many seconds (default 10, or HANDOVER_STATUS_INTERVAL)', seconds);
}

/** The live status on stderr, as the options and HANDOVER_STATUS_INTERVAL ask. */
export function liveStatusFor(opts: StatusCliOptions, signal?: AbortSignal): LiveStatus {
  const interval = opts.statusInterval === undefined ? statusIntervalFromEnv() : opts.statusInterval * 1000;
  return createLiveStatus({ stream: process.stderr, off: opts.status === false, ...(interval === undefined ? {} : { intervalMs: interval }), ...(signal === undefined ? {} : { signal }) });
}
