import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { usageError } from '../errors.ts';
import { git } from './git.ts';

/** One patch of a series, as its own file (one mail message or one format-patch file). */
export interface Patch {
  /** 1-based position in the series. */
  index: number;
  subject: string;
  author: string;
  /** The patch alone, ready for git am / git apply. */
  file: string;
  /** Where it came from: `series.mbx #2`, a file name, or a commit. */
  origin: string;
}

export interface Series {
  kind: 'mbox' | 'folder' | 'range';
  /** The SERIES argument as given. */
  text: string;
  patches: Patch[];
  /** Messages that were left out (a 0/N cover letter, a reply without a diff), and why. */
  skipped: string[];
  /** For a git range A..B: A, the commit the series applies to. */
  baseRev?: string;
}

/**
 * Reads SERIES: an mbox (as `b4 am` or `git format-patch --stdout` writes it), a folder of
 * `git format-patch` files, or a git range `A..B` of the base repository. Patches are split into
 * `workDir`, one file each; a cover letter and messages without a diff are skipped.
 */
export async function readSeries(text: string, opts: { workDir: string; baseGitDir?: string }): Promise<Series> {
  const st = await stat(text).catch(() => undefined);
  // git runs in other folders (the scratch tree, the work dir): a relative path must not reach it.
  const path = resolve(text);
  if (st?.isDirectory() === true) return { ...(await readFolder(path)), text };
  if (st?.isFile() === true) return { kind: 'mbox', text, ...(await splitMbox(path, basename(text), opts.workDir)) };
  const range = /^([^.\s][^\s]*?)\.\.([^.\s][^\s]*)$/.exec(text);
  if (range === null) throw usageError(`SERIES '${text}': no such file or folder, and not a git range A..B`);
  if (opts.baseGitDir === undefined) {
    throw usageError(`SERIES '${text}': a git range needs --kernel to name a git checkout (the range is read from it)`);
  }
  const [, from = '', to = ''] = range;
  const base = (await git(['rev-parse', '--verify', `${from}^{commit}`], { cwd: opts.baseGitDir, what: `SERIES ${text}: resolve ${from}`, outcome: 'usage-error' })).trim();
  await git(['rev-parse', '--verify', `${to}^{commit}`], { cwd: opts.baseGitDir, what: `SERIES ${text}: resolve ${to}`, outcome: 'usage-error' });
  const mbox = await git(['format-patch', '--stdout', '--no-signature', '--no-stat', `${from}..${to}`], {
    cwd: opts.baseGitDir,
    what: `SERIES ${text}: export the range`,
    outcome: 'usage-error',
  });
  const file = join(opts.workDir, 'range.mbx');
  await writeFile(file, mbox);
  const split = await splitMbox(file, text, opts.workDir);
  return { kind: 'range', text, baseRev: base, ...split };
}

async function readFolder(dir: string): Promise<Series> {
  const names = (await readdir(dir)).filter((n) => /\.(patch|diff|eml)$/.test(n)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (names.length === 0) throw usageError(`SERIES ${dir}: the folder has no *.patch files`);
  const patches: Patch[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const message = await readFile(file, 'utf8');
    const why = notAPatch(message);
    if (why !== undefined) {
      skipped.push(`${name}: ${why}`);
      continue;
    }
    const h = headers(message);
    patches.push({ index: patches.length + 1, subject: cleanSubject(h.subject ?? name), author: h.from ?? '', file, origin: name });
  }
  if (patches.length === 0) throw usageError(`SERIES ${dir}: no patches in the folder (${skipped.join('; ')})`);
  return { kind: 'folder', text: dir, patches, skipped };
}

/** Splits an mbox with git mailsplit (it knows mbox quoting), keeps the messages that carry a diff. */
async function splitMbox(file: string, label: string, workDir: string): Promise<Pick<Series, 'patches' | 'skipped'>> {
  const out = join(workDir, 'split');
  await mkdir(out, { recursive: true });
  await git(['mailsplit', `-o${out}`, '-b', file], { cwd: workDir, what: `SERIES ${label}: split the mailbox`, outcome: 'usage-error' });
  const names = (await readdir(out)).sort();
  const patches: Patch[] = [];
  const skipped: string[] = [];
  for (const [i, name] of names.entries()) {
    const path = join(out, name);
    const message = await readFile(path, 'utf8');
    const h = headers(message);
    const why = notAPatch(message);
    if (why !== undefined) {
      skipped.push(`${label} #${i + 1} (${h.subject ?? 'no subject'}): ${why}`);
      continue;
    }
    const renamed = join(workDir, `${String(patches.length + 1).padStart(4, '0')}.patch`);
    await writeFile(renamed, message);
    patches.push({ index: patches.length + 1, subject: cleanSubject(h.subject ?? `message ${i + 1}`), author: h.from ?? '', file: renamed, origin: `${label} #${i + 1}` });
  }
  if (patches.length === 0) throw usageError(`SERIES ${label}: no patches in the mailbox${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}`);
  return { patches, skipped };
}

/** Why a message is not a patch to apply, or undefined when it is one. */
export function notAPatch(message: string): string | undefined {
  const subject = headers(message).subject ?? '';
  if (/\[[^\]]*\b0+\/\d+\]/.test(subject)) return 'cover letter (0/N)';
  if (!/^(diff --git |--- \S|Index: )/m.test(message)) return 'no diff in the message';
  return undefined;
}

/** The mail headers that matter here, unfolded (RFC 5322 continuation lines). */
export function headers(message: string): { subject?: string; from?: string } {
  const head = message.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const out: { subject?: string; from?: string } = {};
  for (const line of unfolded.split(/\r?\n/)) {
    const m = /^(Subject|From):\s*(.*)$/i.exec(line);
    if (m === null) continue;
    const key = (m[1] ?? '').toLowerCase() as 'subject' | 'from';
    out[key] ??= decodeWords(m[2] ?? '');
  }
  return out;
}

/** `[PATCH v2 3/4] mm: foo` → `mm: foo`. */
export function cleanSubject(subject: string): string {
  return subject.replace(/^(\s*(\[[^\]]*\]|Re:)\s*)+/i, '').trim();
}

/** RFC 2047 encoded words (=?UTF-8?q?…?= / ?b?), as mail clients write non-ASCII names. */
function decodeWords(text: string): string {
  return text.replace(/=\?([^?]+)\?([qQbB])\?([^?]*)\?=(?:\s+(?==\?))?/g, (_all, _charset: string, enc: string, body: string) => {
    if (enc.toLowerCase() === 'b') return Buffer.from(body, 'base64').toString('utf8');
    const bytes = body.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  });
}
