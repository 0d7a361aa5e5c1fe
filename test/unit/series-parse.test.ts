import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import { cleanSubject, headers, notAPatch, readSeries } from '../../orchestrator/series/parse.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'series');
const SUBJECTS = [
  'liveupdate: luo_core: debug-log where the incoming state lives',
  'liveupdate: luo_session: name the token of a preserved fd',
  'mm: memfd_luo: zero restored folios before inserting them',
  'mm: memfd_luo: say that preservation does not copy',
];

describe('reading a series', () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'handover-series-parse-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('splits a b4-style mbox, skips the 0/4 cover letter, and keeps subjects and authors', async () => {
    const s = await readSeries(join(FIXTURES, 'series.mbx'), { workDir: work });
    expect(s.kind).toBe('mbox');
    expect(s.patches.map((p) => p.subject)).toEqual(SUBJECTS);
    expect(s.patches.map((p) => p.index)).toEqual([1, 2, 3, 4]);
    expect(s.patches[0]?.author).toBe('Handover Fixture <fixture@handover.invalid>');
    expect(s.skipped).toEqual(['series.mbx #1 ([PATCH v2 0/4] handover series fixture: four small patches against 7.3.4): cover letter (0/N)']);
    // Each patch is its own file, the message as it was in the mailbox.
    const third = await readFile(s.patches[2]?.file ?? '', 'utf8');
    expect(third).toContain('+\t\tfolio_zero_range(folio, 0, folio_size(folio));');
    expect(third).not.toContain('say that preservation');
  });

  it('reads a folder of format-patch files in order, without the cover letter', async () => {
    const s = await readSeries(join(FIXTURES, 'patches'), { workDir: work });
    expect(s.kind).toBe('folder');
    expect(s.patches.map((p) => p.subject)).toEqual(SUBJECTS);
    expect(s.patches[1]?.origin).toBe('v2-0002-liveupdate-luo_session-name-the-token-of-a-preser.patch');
    expect(s.skipped).toEqual(['v2-0000-cover-letter.patch: cover letter (0/N)']);
  });

  it('reads an mbox and a folder named relative to the current directory (git runs elsewhere)', async () => {
    const here = process.cwd();
    process.chdir(join(FIXTURES, '..'));
    try {
      const mbox = await readSeries('series/series.mbx', { workDir: work });
      expect(mbox.text).toBe('series/series.mbx');
      expect(mbox.patches.map((p) => p.subject)).toEqual(SUBJECTS);
      const folder = await readSeries('series/patches', { workDir: work });
      expect(folder.text).toBe('series/patches');
      // git am gets these files from the scratch tree: they must not be relative.
      expect(folder.patches.every((p) => p.file.startsWith('/'))).toBe(true);
    } finally {
      process.chdir(here);
    }
  });

  it('reads a git range of a repository with git format-patch; the range start is the base', async () => {
    const repo = join(work, 'repo');
    const git = (...args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo });
    await execa('git', ['init', '-q', repo]);
    await writeFile(join(repo, 'a.txt'), 'one\n');
    await git('add', 'a.txt');
    await git('commit', '-qm', 'base');
    const base = (await git('rev-parse', 'HEAD')).stdout.trim();
    for (const n of ['two', 'three']) {
      await writeFile(join(repo, 'a.txt'), `${n}\n`);
      await git('commit', '-qam', `a: say ${n}`);
    }
    const s = await readSeries('HEAD~2..HEAD', { workDir: join(work), baseGitDir: repo });
    expect(s.kind).toBe('range');
    expect(s.baseRev).toBe(base);
    expect(s.patches.map((p) => p.subject)).toEqual(['a: say two', 'a: say three']);
    // The last patch keeps its final newline: it applies (here in reverse, on the range's end).
    const last = s.patches[1]?.file ?? '';
    expect((await readFile(last, 'utf8')).endsWith('\n')).toBe(true);
    expect((await git('apply', '--check', '-R', last)).exitCode).toBe(0);
  });

  it('refuses what is neither a file, a folder nor a range, and a range without a git base (usage errors)', async () => {
    const e1 = await readSeries(join(work, 'nope.mbx'), { workDir: work }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(HandoverError);
    expect((e1 as HandoverError).outcome).toBe('usage-error');
    expect((e1 as HandoverError).message).toContain('no such file or folder, and not a git range A..B');
    const e2 = await readSeries('v7.3..mine', { workDir: work }).catch((e: unknown) => e);
    expect((e2 as HandoverError).message).toContain('needs --kernel to name a git checkout');
  });

  it('refuses a mailbox with no patch in it', async () => {
    const file = join(work, 'cover.mbx');
    const cover = (await readFile(join(FIXTURES, 'patches', 'v2-0000-cover-letter.patch'), 'utf8'));
    await writeFile(file, cover);
    const e = await readSeries(file, { workDir: work }).catch((err: unknown) => err);
    expect((e as HandoverError).outcome).toBe('usage-error');
    expect((e as HandoverError).message).toContain('no patches in the mailbox');
  });
});

describe('mail headers', () => {
  it('unfolds a long subject and strips the [PATCH vN i/n] prefix', () => {
    const h = headers('From: A <a@b>\nSubject: [PATCH v2 3/4] mm: memfd_luo: zero restored folios before inserting\n them\n\nbody\n');
    expect(h.subject).toBe('[PATCH v2 3/4] mm: memfd_luo: zero restored folios before inserting them');
    expect(cleanSubject(h.subject ?? '')).toBe('mm: memfd_luo: zero restored folios before inserting them');
    expect(cleanSubject('Re: [PATCH] x: y')).toBe('x: y');
  });

  it('decodes RFC 2047 names', () => {
    expect(headers('From: =?UTF-8?q?J=C3=B6rg_M=C3=BCller?= <j@m>\n\n').from).toBe('Jörg Müller <j@m>');
  });

  it('tells cover letters and replies without a diff from patches', () => {
    expect(notAPatch('Subject: [PATCH 00/12] big\n\nblurb\n')).toBe('cover letter (0/N)');
    expect(notAPatch('Subject: Re: [PATCH 1/2] x\n\nlooks good\n')).toBe('no diff in the message');
    expect(notAPatch('Subject: [PATCH 1/2] x\n\n---\ndiff --git a/x b/x\n')).toBeUndefined();
  });
});
