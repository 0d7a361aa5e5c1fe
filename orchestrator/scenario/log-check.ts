// The `log` step's verdict on console lines. A line's absence is only evidence when the console
// was watched through the whole boot: every line of it still in memory, and the boot reached
// userspace (an /init milestone), so the kernel's own boot messages are all behind it.

import { parseMilestone } from '../rootfs/milestones.ts';
import type { ConsoleWatcher } from '../vm/console.ts';
import { StepFailure } from './step-context.ts';

export type LogConsole = Pick<ConsoleWatcher, 'lines' | 'trimmed' | 'historyLimit' | 'currentBoot'>;

export interface LogCheck {
  readonly contains?: string | undefined;
  readonly absent?: string | undefined;
  readonly boot: 'current' | 'all';
}

/**
 * Checks `contains` and `absent` (both, when both are given) on the current boot or on every boot;
 * throws StepFailure. `diagnosis` is evidence for a missing `contains` line.
 */
export function checkLog(con: LogConsole, check: LogCheck, diagnosis: () => string[] = () => []): { line?: string } {
  const boots = check.boot === 'current' ? [con.currentBoot] : Array.from({ length: con.currentBoot }, (_, i) => i + 1);
  const where = check.boot === 'current' ? `boot ${con.currentBoot}'s console` : 'the console';
  const lines = boots.flatMap((b) => con.lines(b));
  const lost = boots.filter((b) => con.trimmed(b) > 0);
  const trimmedNote = (b: number): string => `boot ${b}'s first ${con.trimmed(b)} lines are no longer in memory (the console history is capped at ${con.historyLimit} lines)`;

  let line: string | undefined;
  if (check.contains !== undefined) {
    const re = new RegExp(check.contains);
    line = lines.find((l) => re.test(l.text))?.text;
    if (line === undefined) {
      const cause = lost[0] === undefined ? '' : `, but ${trimmedNote(lost[0])}: it may have been there`;
      throw new StepFailure(`no line matching /${check.contains}/ on ${where}${cause}`, diagnosis());
    }
  }
  if (check.absent !== undefined) {
    const re = new RegExp(check.absent);
    const hit = lines.find((l) => re.test(l.text));
    if (hit !== undefined) throw new StepFailure(`boot ${hit.boot}'s console has a line matching /${check.absent}/: ${hit.text}`);
    const gone = lost[0];
    if (gone !== undefined) throw new StepFailure(`${trimmedNote(gone)}: cannot prove /${check.absent}/ is absent`);
    for (const b of boots) {
      if (!con.lines(b).some((l) => parseMilestone(l.text) !== null)) {
        throw new StepFailure(`boot ${b}'s console has no line from userspace: cannot prove /${check.absent}/ is absent`, [
          `boot ${b}: ${con.lines(b).length} console lines, none from /init ("handover: …")`,
        ]);
      }
    }
  }
  return line === undefined ? {} : { line };
}
