// The console protocol of /init (rootfs/agent/init.c): lines "handover: <event> key=value ...". The VM layer's
// console watcher matches these to know how far a boot got, and which boot (boot_id) it is.

export const MILESTONE_PREFIX = 'handover: ';

/** Events /init prints, in order; `error` can come at any point and means /init gave up. */
export const MILESTONES = ['init start', 'net up', 'sshd up'] as const;
export type MilestoneEvent = (typeof MILESTONES)[number] | 'error' | 'warning';

export interface Milestone {
  readonly event: MilestoneEvent;
  readonly fields: Readonly<Record<string, string>>;
  /** Guest seconds since boot when /init printed it (from /proc/uptime). */
  readonly uptime?: number;
}

const EVENTS: readonly MilestoneEvent[] = [...MILESTONES, 'error', 'warning'];

/**
 * Parse one console line (kernel timestamps or other text before the prefix are tolerated, so a
 * line interleaved with printk output still matches). Returns null for anything else.
 */
export function parseMilestone(line: string): Milestone | null {
  const at = line.indexOf(MILESTONE_PREFIX);
  if (at < 0) return null;
  const rest = line.slice(at + MILESTONE_PREFIX.length).replace(/\r$/, '').trim();
  const event = EVENTS.find((e) => rest === e || rest.startsWith(`${e} `));
  if (event === undefined) return null;
  const fields: Record<string, string> = {};
  for (const token of rest.slice(event.length).trim().split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq > 0) fields[token.slice(0, eq)] = token.slice(eq + 1);
  }
  const uptime = fields.uptime === undefined ? NaN : Number(fields.uptime);
  return Number.isFinite(uptime) ? { event, fields, uptime } : { event, fields };
}
