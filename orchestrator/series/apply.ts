import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, gitTry } from './git.ts';
import type { Patch } from './parse.ts';
import { resetTo } from './scratch.ts';

export interface ApplyFailure {
  /** The file whose hunk did not apply (or that is missing). */
  file: string;
  /** 1-based number of the first rejected hunk in that file's part of the patch. */
  hunk?: number;
  /** The line of the base file where git looked for that hunk. */
  line?: number;
  message: string;
  evidence: string[];
}

export type ApplyResult = { ok: true; commit: string } | { ok: false; failure: ApplyFailure };

/**
 * Applies one patch as a commit with git am (author, date and subject kept). When it does not
 * apply, finds out where with `git apply --reject --verbose` (which names each rejected hunk),
 * then puts the tree back to where it was.
 */
export async function applyPatch(tree: string, patch: Patch): Promise<ApplyResult> {
  const head = (await git(['rev-parse', 'HEAD'], { cwd: tree, what: 'read HEAD' })).trim();
  const am = await gitTry(['am', '--quiet', '--no-3way', patch.file], { cwd: tree });
  if (am.exitCode === 0) return { ok: true, commit: (await git(['rev-parse', 'HEAD'], { cwd: tree, what: 'read the new commit' })).trim() };
  await gitTry(['am', '--abort'], { cwd: tree });
  await resetTo(tree, head);
  const probe = await gitTry(['apply', '--reject', '--verbose', patch.file], { cwd: tree });
  const failure = diagnoseApply(`${probe.stderr}\n${am.stderr}\n${am.stdout}`);
  if (failure.hunk !== undefined) {
    // The rejected hunk's own header, as the .rej file keeps it.
    const rej = await readFile(join(tree, `${failure.file}.rej`), 'utf8').catch(() => '');
    const headers = rej.split('\n').filter((l) => l.startsWith('@@ '));
    const first = headers[0];
    if (first !== undefined) failure.evidence.unshift(`rejected hunk: ${first}`);
  }
  await resetTo(tree, head);
  return { ok: false, failure };
}

/**
 * Reads git apply's and git am's words: which file, which hunk, which base line, and the context
 * git searched for. Pure, so it is tested on recorded output.
 */
export function diagnoseApply(output: string): ApplyFailure {
  const lines = output.split('\n');
  let current: string | undefined;
  let file: string | undefined;
  let hunk: number | undefined;
  for (const line of lines) {
    const applying = /^Applying patch (\S+) with \d+ rejects?\.\.\.$/.exec(line);
    if (applying !== null) current = applying[1];
    const rejected = /^Rejected hunk #(\d+)\.$/.exec(line);
    if (rejected !== null && file === undefined && current !== undefined) {
      file = current;
      hunk = Number(rejected[1]);
    }
  }
  const failedAt = output.match(/^error: patch failed: (\S+):(\d+)$/m);
  const missing = output.match(/^error: (\S+): (does not exist in index|No such file or directory|already exists in working directory|patch does not apply)$/m);
  const corrupt = output.match(/^error: (corrupt patch at line \d+|patch fragment without header at line \d+: .*|No valid patches in input.*)$/m);
  file ??= failedAt?.[1] ?? missing?.[1];
  const line = failedAt !== null && failedAt[1] === file ? Number(failedAt[2]) : undefined;
  const searched: string[] = [];
  const at = lines.findIndex((l) => l === 'error: while searching for:');
  if (at >= 0) {
    for (const l of lines.slice(at + 1)) {
      if (l.startsWith('error: ')) break;
      searched.push(`  ${l}`);
    }
    while (searched.length > 0 && searched[searched.length - 1]?.trim() === '') searched.pop();
  }
  const where = `${file ?? 'the patch'}${hunk === undefined ? '' : ` hunk #${hunk}`}${line === undefined ? '' : ` (at line ${line})`}`;
  const why = corrupt?.[1] ?? (missing !== null && missing[2] !== 'patch does not apply' ? missing[2] : 'the context does not match');
  return {
    file: file ?? '?',
    ...(hunk === undefined ? {} : { hunk }),
    ...(line === undefined ? {} : { line }),
    message: `does not apply: ${where}: ${why}`,
    evidence: searched.length > 0 ? ['git searched the base for:', ...searched] : lines.filter((l) => l.startsWith('error: ')).slice(0, 5),
  };
}
