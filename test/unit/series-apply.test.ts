import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, diagnoseApply } from '../../orchestrator/series/apply.ts';

const RECORDED = join(import.meta.dirname, '..', 'fixtures', 'series', 'recorded');

describe('diagnosing a patch that does not apply (git apply output recorded on 7.3.4)', () => {
  it('names the file, the rejected hunk, the base line and the context git searched for', async () => {
    const d = diagnoseApply(await readFile(join(RECORDED, 'apply-reject-hunk2.txt'), 'utf8'));
    expect(d.file).toBe('kernel/liveupdate/luo_core.c');
    expect(d.hunk).toBe(2);
    expect(d.line).toBe(337);
    expect(d.message).toBe('does not apply: kernel/liveupdate/luo_core.c hunk #2 (at line 337): the context does not match');
    expect(d.evidence[0]).toBe('git searched the base for:');
    expect(d.evidence).toContain('  \t/* Deserialization failures reach userspace as -EIO */');
  });

  it('names a file the base does not have', async () => {
    const d = diagnoseApply(await readFile(join(RECORDED, 'apply-missing-file.txt'), 'utf8'));
    expect(d.file).toBe('nope.c');
    expect(d.hunk).toBeUndefined();
    expect(d.message).toBe('does not apply: nope.c: No such file or directory');
  });
});

describe('applying with real git', () => {
  let repo: string;
  const git = (...args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo });
  const lines = (n: number, tag = '') => Array.from({ length: n }, (_, i) => `line ${i + 1}${i === 29 ? tag : ''}`).join('\n') + '\n';
  let good: string;
  let bad: string;

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'handover-series-apply-'));
    await git('init', '-q');
    await writeFile(join(repo, 'f.txt'), lines(40));
    await git('add', 'f.txt');
    await git('commit', '-qm', 'base');
    // A patch made on a tree where line 30 differs: hunk 1 (line 3) applies, hunk 2 (line 30) does not.
    await git('checkout', '-qb', 'elsewhere');
    await writeFile(join(repo, 'f.txt'), lines(40, ' (elsewhere)'));
    await git('commit', '-qam', 'elsewhere');
    await writeFile(join(repo, 'f.txt'), lines(40, ' (elsewhere)').replace('line 3\n', 'line three\n').replace('line 31\n', 'line thirty-one\n'));
    await git('commit', '-qam', 'f: spell out two numbers');
    bad = join(repo, '..', `${repo.split('/').pop() ?? ''}-bad.patch`);
    await writeFile(bad, (await git('format-patch', '-1', '--stdout')).stdout + '\n');
    await git('checkout', '-q', 'master').catch(() => git('checkout', '-q', 'main'));
    await writeFile(join(repo, 'f.txt'), lines(40).replace('line 40\n', 'line forty\n'));
    await git('commit', '-qam', 'f: spell out forty');
    good = join(repo, '..', `${repo.split('/').pop() ?? ''}-good.patch`);
    await writeFile(good, (await git('format-patch', '-1', '--stdout')).stdout + '\n');
    await git('reset', '-q', '--hard', 'HEAD~1');
  });
  afterAll(async () => {
    await rm(repo, { recursive: true, force: true });
    await rm(good, { force: true });
    await rm(bad, { force: true });
  });

  it('commits a patch that applies, keeping its subject and author', async () => {
    const r = await applyPatch(repo, { index: 1, subject: 'f: spell out forty', author: 't', file: good, origin: 'good' });
    expect(r.ok).toBe(true);
    expect((await git('log', '-1', '--format=%s|%an')).stdout).toBe('f: spell out forty|t');
  });

  it('reports the rejected hunk of a patch that does not apply and leaves the tree as it was', async () => {
    const head = (await git('rev-parse', 'HEAD')).stdout;
    const r = await applyPatch(repo, { index: 2, subject: 'f: spell out two numbers', author: 't', file: bad, origin: 'bad' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure.file).toBe('f.txt');
    expect(r.failure.hunk).toBe(2);
    expect(r.failure.line).toBe(28);
    expect(r.failure.evidence[0]).toMatch(/^rejected hunk: @@ -28,/);
    expect((await git('rev-parse', 'HEAD')).stdout).toBe(head);
    expect((await git('status', '--porcelain', '--ignored')).stdout).toBe('');
  });
});
