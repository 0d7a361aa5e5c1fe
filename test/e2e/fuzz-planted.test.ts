// Issue 13's planted bugs, end to end (test:full only: each is a kernel build and a fuzz run of a
// few minutes): the default tree with one bug of the kinds the contract covers, as a hard-linked
// copy whose patched files are new files (the cached tree is never written). `handover fuzz` must
// find it within its budget and shrink it to a small scenario file that fails on the planted
// kernel and passes on the default one, each run with `handover run`.
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { FuzzResult } from '../../orchestrator/fuzz/fuzz.ts';
import { cacheDir } from '../../orchestrator/paths.ts';
import { handover } from '../helpers/cli.ts';
import { kernelTreeForTests } from '../helpers/tree.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'fuzz');
const full = process.env.HANDOVER_FULL === '1';

/** The default tree with `patch` applied, at a fixed place so a second run is a cache hit. */
async function plantedTree(patch: string): Promise<string> {
  const tree = join(await cacheDir('test-trees'), `linux-planted-${patch.replace(/\.patch$/, '')}`);
  const diff = await readFile(join(FIXTURES, patch), 'utf8');
  const marker = join(tree, '.handover-planted');
  if ((await readFile(marker, 'utf8').catch(() => '')) === diff) return tree;
  const source = await kernelTreeForTests();
  await rm(tree, { recursive: true, force: true });
  await execa('cp', ['-al', source, tree]);
  // Break the hard links of the files the patch edits before patching them.
  for (const m of diff.matchAll(/^\+\+\+ b\/(\S+)$/gm)) {
    const file = join(tree, m[1] as string);
    const text = await readFile(file);
    await unlink(file);
    await writeFile(file, text);
  }
  await execa('git', ['apply', '-p1', '-'], { cwd: tree, input: diff });
  await writeFile(marker, diff);
  return tree;
}

const PLANTED = [
  { patch: 'wrong-errno.patch', what: 'a duplicate token is EBUSY instead of EEXIST', signature: /^test-failed: preserve: expected EEXIST from PRESERVE_FD, got EBUSY/ },
  { patch: 'lost-file.patch', what: 'the second file of a session is lost on deserialize', signature: /^test-failed: retrieve: .*RETRIEVE_FD → ENOENT/ },
  { patch: 'seal-dropped.patch', what: 'F_SEAL_GROW is not restored on retrieve', signature: /^test-failed: retrieve: .*came back different: seals: preserved \[[^\]]*grow[^\]]*\], retrieved \[/ },
];

describe.skipIf(!full)('handover fuzz finds planted bugs', () => {
  for (const p of PLANTED) {
    it(`${p.patch}: ${p.what}: found, shrunk under 15 steps, the reproducer fails there and passes on the default kernel`, async () => {
      const tree = await plantedTree(p.patch);
      const out = await mkdtemp(join(tmpdir(), 'handover-fuzz-planted-'));
      const t0 = Date.now();
      const r = await handover(['fuzz', '--kernel', tree, '--seed', '1', '--programs', '40', '--duration', '8m', '--jobs', '2', '--shrink-budget', '6m', '--accel', 'tcg', '--no-status', '-o', out], {
        timeoutMs: 40 * 60_000,
      });
      expect(r.exitCode, r.stderr + r.stdout).toBe(1);
      const result = JSON.parse(await readFile(join(out, 'fuzz.json'), 'utf8')) as FuzzResult;
      const f = result.findings[0];
      console.log(`${p.patch}: ${result.findings.length} finding(s) in ${((Date.now() - t0) / 1000).toFixed(0)} s; first: ${f?.signature}; shrunk to ${f?.steps} steps in ${f?.shrink?.tries} tries (${((f?.shrink?.ms ?? 0) / 1000).toFixed(0)} s)`);
      expect(f?.signature).toMatch(p.signature);
      expect(f?.shrink?.reproduced).toBe(true);
      expect(f?.steps).toBeLessThan(15);
      const onPlanted = await handover(['run', f?.reproducer as string, '--kernel', tree, '--accel', 'tcg', '--no-status', '-o', join(out, 'repro-planted')]);
      expect(onPlanted.exitCode, onPlanted.stdout).toBe(1);
      const onDefault = await handover(['run', f?.reproducer as string, '--accel', 'tcg', '--no-status', '-o', join(out, 'repro-default')]);
      expect(onDefault.exitCode, onDefault.stdout + onDefault.stderr).toBe(0);
    });
  }
});
