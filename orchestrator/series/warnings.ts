import { kbuildStep } from '../kernel/make-log.ts';

/**
 * Compiler warnings per compilation unit. Builds are incremental, so one build's log only shows
 * the units it recompiled: the map is carried from build to build, and a unit that was compiled
 * again replaces its entry (with nothing when it is now clean).
 */
export type WarningMap = Record<string, string[]>;

export interface WarningDiff {
  /** Warnings in this build. */
  total: number;
  /** Warnings this build has that the base does not (the lines, as the compiler wrote them). */
  added: string[];
  /** Warnings of the base that this build no longer has. */
  removed: string[];
}

const WARNING = /^(\S+?\.(?:c|h|S|rs)):(\d+):(?:(\d+):)? warning: (.+)$/;
const UNIT_LEAD = /^(?:In file included from |\s+from )?(\S+?\.(?:c|S)):(?:\d+[:,]|\s*In function|\s*At top level)/;

/**
 * Paths as kbuild prints them in an O= build: strip the source dir so they read as in the tree.
 * handover builds with O= a subdirectory of the tree's copy, so kbuild names the tree `..`.
 */
function relative(path: string, srcDir: string): string {
  const prefix = srcDir.endsWith('/') ? srcDir : `${srcDir}/`;
  let p = path.startsWith(prefix) ? path.slice(prefix.length) : path;
  for (;;) {
    if (p.startsWith('./')) p = p.slice(2);
    else if (p.startsWith('../')) p = p.slice(3);
    else return p;
  }
}

/** The units this log recompiled (from kbuild's `  CC      mm/memfd_luo.o` lines). */
export function recompiledUnits(log: string): Set<string> {
  const units = new Set<string>();
  for (const line of log.split('\n')) {
    const step = kbuildStep(line);
    if (step === undefined || !/^(CC|AS)$/.test(step.tool)) continue;
    const m = /^(.*)\.(o|s|i|lst)$/.exec(step.target);
    if (m?.[1] !== undefined) units.add(`${m[1]}.${step.tool === 'AS' ? 'S' : 'c'}`);
  }
  return units;
}

/** The compiler warnings in a log, each attributed to the unit being compiled, in tree-relative paths. */
export function warningsByUnit(log: string, srcDir: string): WarningMap {
  const out: WarningMap = {};
  const lines = log.split('\n');
  for (const [i, raw] of lines.entries()) {
    const m = WARNING.exec(raw);
    if (m === null) continue;
    const file = relative(m[1] ?? '', srcDir);
    let unit = file;
    if (!/\.(c|S)$/.test(file)) {
      // A header's warning belongs to the unit that included it: gcc names it just above.
      for (let j = i - 1; j >= Math.max(0, i - 12); j--) {
        const lead = UNIT_LEAD.exec(lines[j] ?? '');
        if (lead?.[1] !== undefined) {
          unit = relative(lead[1], srcDir);
          break;
        }
      }
    }
    const text = `${file}:${m[2] ?? ''}:${m[3] === undefined ? '' : `${m[3]}:`} warning: ${m[4] ?? ''}`;
    (out[unit] ??= []).push(text);
  }
  return out;
}

/** The map after a build whose log is `log`: recompiled units take their new warnings (or none). */
export function updateWarningMap(previous: WarningMap, log: string, srcDir: string): WarningMap {
  const next: WarningMap = { ...previous };
  for (const unit of recompiledUnits(log)) delete next[unit];
  for (const [unit, warnings] of Object.entries(warningsByUnit(log, srcDir))) next[unit] = [...new Set(warnings)];
  return next;
}

/** A warning's identity for comparison: without line and column, which a patch above it shifts. */
function key(warning: string): string {
  return warning.replace(/^(\S+?):\d+:(?:\d+:)? /, '$1: ');
}

/** The warnings of `a` that `b` does not have, compared as multisets of file + message. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const w of b) left.set(key(w), (left.get(key(w)) ?? 0) + 1);
  return a.filter((w) => {
    const n = left.get(key(w)) ?? 0;
    if (n > 0) left.set(key(w), n - 1);
    return n === 0;
  });
}

/** New and gone warnings of `now` against `base`. */
export function diffWarnings(base: WarningMap, now: WarningMap): WarningDiff {
  const before = Object.values(base).flat();
  const after = Object.values(now).flat();
  return { total: after.length, added: minus(after, before), removed: minus(before, after) };
}
