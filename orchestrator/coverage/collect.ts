// Reads a coverage kernel's gcov counters (<debugfs>/gcov/<build dir>/…/*.gcda) from a guest in
// one SSH exec and keeps them per boot. A kexec'd kernel starts its counters from zero, so each
// boot is read before its kexec and the last one at the end: the boots are summed on the host.
//
// What runs after the last read of a boot (the reboot path itself: liveupdate_reboot, the
// freeze and serialize callbacks, KHO's finalization) is not counted: see docs/coverage.md.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HandoverError } from '../errors.ts';
import type { GuestExec } from '../kho/debugfs.ts';

export type { GuestExec } from '../kho/debugfs.ts';
export const GCOV_ROOT = '/sys/kernel/debug/gcov';

export interface GcdaFile {
  /** The path the kernel serves it at, below GCOV_ROOT (the build dir's absolute path, then the object's). */
  readonly guestPath: string;
  readonly data: Buffer;
}

// $1 = the gcov root. "@@nogcov" when it does not exist (not a coverage kernel, or no debugfs);
// else one "@@file <path>" record per .gcda, its base64 lines, "@@end".
const READ_SCRIPT = `
root="$1"
[ -d "$root" ] || { echo "@@nogcov"; exit 0; }
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find "$root" -name '*.gcda' >"$list" || exit 1
sort "$list" | while IFS= read -r f; do
	printf '@@file %s\\n' "\${f#"$root"/}"
	base64 "$f" || exit 1
	echo "@@end"
done
`;

/** The guest's .gcda files; a kernel without gcov in debugfs is an error that says so. */
export async function readGcda(guest: GuestExec, opts: { root?: string; timeoutMs?: number } = {}): Promise<GcdaFile[]> {
  const root = opts.root ?? GCOV_ROOT;
  const r = await guest.exec(['sh', '-c', READ_SCRIPT, 'sh', root], { timeoutMs: opts.timeoutMs ?? 30_000 });
  if (r.truncated) throw new HandoverError('step-failed', `reading ${root}: the output exceeded the exec's cap`);
  if (r.exitCode !== 0) {
    throw new HandoverError('step-failed', `reading the gcov counters in ${root} failed (exit ${String(r.exitCode ?? r.signal)})`, {
      evidence: r.stderr.split('\n').filter((l) => l !== '').slice(-10),
    });
  }
  return parseGcdaDump(r.stdout, root);
}

/** Parses the read script's output (pure; exported for tests). */
export function parseGcdaDump(text: string, root: string = GCOV_ROOT): GcdaFile[] {
  if (text.split('\n').includes('@@nogcov')) {
    throw new HandoverError(
      'step-failed',
      `no gcov counters: ${root} does not exist in the guest (a kernel without CONFIG_GCOV_KERNEL, or debugfs not mounted); --coverage needs the coverage profile's kernel`,
    );
  }
  const out: GcdaFile[] = [];
  let current: { path: string; b64: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('@@file ')) current = { path: line.slice(7), b64: [] };
    else if (line === '@@end' && current !== undefined) {
      out.push({ guestPath: current.path, data: Buffer.from(current.b64.join(''), 'base64') });
      current = undefined;
    } else if (current !== undefined) current.b64.push(line.trim());
  }
  return out;
}

/**
 * The object path of a served .gcda (e.g. `kernel/liveupdate/luo_core.gcda`) among the notes a
 * kernel has, matched by suffix: the served path starts with wherever the kernel was built.
 */
export function objectPathOf(guestPath: string, notes: readonly string[]): string | undefined {
  const gcda = `/${guestPath}`;
  return notes.map((n) => n.replace(/\.gcno$/, '.gcda')).find((n) => gcda.endsWith(`/${n}`));
}

/** Writes one boot's counters to `<dir>/<object path>.gcda`; returns the object paths written. */
export async function saveBoot(files: readonly GcdaFile[], notes: readonly string[], dir: string): Promise<string[]> {
  const written: string[] = [];
  for (const f of files) {
    const rel = objectPathOf(f.guestPath, notes);
    if (rel === undefined) continue;
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), f.data);
    written.push(rel);
  }
  return written;
}
