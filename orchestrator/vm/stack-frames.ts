// The stack frames of a crash report, as the kernel prints them: `func+0x1a/0x40` in a call trace
// (optionally after `? ` when the unwinder is unsure, or after an `[<ffffffff…>]` address on old
// kernels), `RIP: 0010:func+0x…/0x…`, the title's `in func+…` / `at func+…`, and the stacks KASAN and
// page_owner print (allocated, freed, last alloc/free of the page). Pure: lines in, frames out.

import { printkMessage } from './crash-catalogue.ts';

export interface StackFrame {
  /** 0-based index of the line in the report's lines. */
  readonly line: number;
  /** The line as it was on the console. */
  readonly raw: string;
  readonly func: string;
  readonly offset: number;
  /** The function's size as kallsyms printed it (`/0x40`). */
  readonly size: number;
  /** A module frame (`[mod]`): only built-in code is symbolized, so it stays as printed. */
  readonly module?: string;
  /**
   * The address is the instruction itself (RIP, a WARNING's location), not a return address: a
   * return address is decoded one byte back, inside the call, as decode_stacktrace.sh and syzkaller do.
   */
  readonly exact: boolean;
  /** `? func+…`: a stale word on the stack the unwinder could not prove is a frame. */
  readonly unreliable: boolean;
  /** The stack it belongs to: the title, `Call Trace`, `Allocated by task 59`, `RIP`… */
  readonly stack: string;
}

// One frame per line: the first `name+0xoff/0xsize` that starts a word (or follows a segment).
const FRAME = /(?:^|[\s(])(?:\[<[0-9a-f]+>\]\s*)?(\?\s+)?(?:[0-9a-f]{4}:)?([A-Za-z_.][\w.$]*)\+0x([0-9a-f]+)\/0x([0-9a-f]+)(?:\s+\[([\w-]+)\])?/;
// Lines that start a new stack in a report.
const STACK_HEADERS: readonly RegExp[] = [
  /^Call Trace:/,
  /^(?:Allocated|Freed) by task \d+(?: on cpu \d+)?/,
  /^(?:Last|Second to last) potentially related work creation/,
  /^page last allocated via/,
  /^page last free .*stack trace/,
  /^(?:allocated|freed) by task \d+ on cpu \d+/, // KFENCE
  /^(?:\S+: )?(?:BUG|WARNING|Kernel panic|Oops|general protection fault|UBSAN|kernel BUG)/,
];

/** Every frame of a report's lines (a crash excerpt), in order. */
export function parseStackFrames(lines: readonly string[]): StackFrame[] {
  const frames: StackFrame[] = [];
  let stack = '';
  lines.forEach((raw, i) => {
    const msg = printkMessage(raw).trimEnd();
    const header = STACK_HEADERS.find((re) => re.test(msg.trimStart()));
    if (header !== undefined) stack = msg.trim().replace(/:$/, '');
    const m = FRAME.exec(msg);
    if (m === null) return;
    const [, question, func = '', off = '0', size = '0', module] = m;
    const rip = /^(?:RIP|IP): /.test(msg);
    // "WARNING: CPU: 0 PID: 1 at kernel/x.c:12 f+0x1/0x2" and "WARNING: kernel/x.c:12 at f+…": the
    // WARN's own instruction.
    const warnAt = msg.startsWith('WARNING: ');
    frames.push({
      line: i,
      raw,
      func,
      offset: Number.parseInt(off, 16),
      size: Number.parseInt(size, 16),
      ...(module === undefined ? {} : { module }),
      exact: rip || warnAt,
      unreliable: question !== undefined,
      stack: rip ? 'RIP' : stack,
    });
  });
  return frames;
}
