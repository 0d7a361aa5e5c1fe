// A decoded crash report as text, one frame a line in the style of syzkaller's symbolized reports
// (inlined callees first, marked `[inline]`), shared by the console, JUnit and HTML reports. The
// raw report lines are the scenario's evidence; this is printed beside them, never instead.

import type { DecodedFrame } from '../kernel/symbolize.ts';
import type { CrashDecoding } from '../scenario/results.ts';

/** A heading line with the report, its boot and how it was decoded, then the frames. */
export function decodedLines(d: CrashDecoding): string[] {
  const out = [`decoded frames of "${d.title}" (boot ${d.boot}): ${d.note}`];
  if (d.status === 'not-decoded') return out;
  let stack: string | undefined;
  for (const f of d.frames) {
    if (f.stack !== stack) {
      stack = f.stack;
      out.push(`  ${stack}:`);
    }
    out.push(...frameLines(f));
  }
  return out;
}

function frameLines(f: DecodedFrame): string[] {
  const printed = `${f.unreliable ? '? ' : ''}${f.func}+0x${f.offset.toString(16)}/0x${f.size.toString(16)}`;
  if (f.locations.length === 0) return [`    ${printed}${f.note === undefined ? '' : ` (${f.note})`}`];
  const where = (l: DecodedFrame['locations'][number]) => (l.file === undefined ? (f.address ?? '') : `${l.file}:${l.line ?? 0}`);
  const inner = f.locations.slice(0, -1).map((l) => `    ${l.func} ${where(l)} [inline]`);
  const own = f.locations.at(-1);
  return [...inner, `    ${printed} ${own === undefined ? '' : where(own)}`.trimEnd()];
}
