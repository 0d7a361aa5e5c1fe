// Issue 13's `handover fuzz` as a user types it, on the default kernel (cached after the suite's
// first build): a fixed seed and program count, so the run is the same on every machine. Its
// negative control: KHO off on the kexec'd kernel, so nothing preserved can arrive: the model
// expects it to, and the fuzzer must report that divergence (exit 1) with a reproducer.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FuzzResult } from '../../orchestrator/fuzz/fuzz.ts';
import { handover } from '../helpers/cli.ts';

async function fuzz(...args: string[]) {
  const out = await mkdtemp(join(tmpdir(), 'handover-fuzz-'));
  const r = await handover(['fuzz', '--seed', '2', '--programs', '4', '--per-batch', '4', '--accel', 'tcg', '--no-status', '-o', out, ...args], { timeoutMs: 600_000 });
  const result = JSON.parse(await readFile(join(out, 'fuzz.json'), 'utf8')) as FuzzResult;
  const junit = await readFile(join(out, 'fuzz-junit.xml'), 'utf8');
  return { ...r, result, junit, out };
}

describe('handover fuzz on the default kernel', () => {
  it('runs 4 programs of seed 2 in one VM, finds nothing, and reports coverage in console, fuzz.json and JUnit', async () => {
    const r = await fuzz();
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.result).toMatchObject({ seed: 2, programs: 4, findings: [], errors: [] });
    expect(r.result.kexecs).toBeGreaterThan(0);
    // The coverage table: every label with its count, and what was never reached.
    const reached = r.result.coverage.filter((c) => c.count > 0).map((c) => c.label);
    expect(reached).toEqual(expect.arrayContaining(['CREATE_SESSION ok', 'PRESERVE_FD ok', 'RETRIEVE_FD ok', 'kexec', 'retrieve verified']));
    expect(r.result.unreached).toEqual(r.result.coverage.filter((c) => c.count === 0).map((c) => c.label));
    expect(r.stdout).toMatch(/^fuzz seed 2: 4 programs in 1 VMs/m);
    expect(r.stdout).toContain('nothing found in 4 programs');
    expect(r.junit).toMatch(/<testcase [^>]*name="seed 2: 4 programs, \d+ kexecs: nothing found"/);
    expect(r.junit).not.toContain('<failure');
  });

  it('negative control: with KHO off the preserved state cannot survive, and the divergence is a finding with a reproducer', async () => {
    const r = await fuzz('--kexec-append', 'kho=off', '--no-shrink');
    expect(r.exitCode, r.stderr + r.stdout).toBe(1);
    expect(r.result.findings.length).toBeGreaterThan(0);
    const f = r.result.findings[0];
    expect(f?.reproducer).toMatch(/\.yaml$/);
    // After the kexec, where the handover was dropped: not before it (LUO is there in boot 1).
    expect(f?.message).not.toMatch(/LUO is unavailable/);
    expect(f?.message).toMatch(/the handover did not arrive: boot 2/);
    expect(r.stdout).toMatch(/^FINDING 1: /m);
    expect(r.stdout).toContain('reproducer (not shrunk): handover run ');
    expect(r.junit).toContain('<failure');
  });
});

// Issue 16 with 13: coverage-guided fuzzing on the coverage kernel (built by coverage.test.ts).
// Two VMs one after the other: the first batch's programs reach new lines and are kept, so the
// second batch's slots are mutants of them half the time (seed 2: slots chosen by the seed).
describe('handover fuzz --coverage', () => {
  const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'coverage', 'unreached-patch.info');

  it('keeps the programs that reach new kernel lines, mutates them, and writes coverage.info and coverage over time', async () => {
    const r = await fuzz('--coverage', '--programs', '8', '--coverage-against', FIXTURE);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const k = r.result.kernelCoverage;
    expect(k?.tracefile).toBe(join(r.out, 'coverage.info'));
    expect(k?.missed).toEqual([]);
    expect(k?.samples).toHaveLength(2);
    expect(k?.samples[1]?.lines.hit).toBeGreaterThanOrEqual(k?.samples[0]?.lines.hit ?? Infinity);
    expect(k?.samples[0]?.lines.hit).toBeGreaterThan(0);
    expect(k?.corpus).toBeGreaterThanOrEqual(4);
    expect(k?.mutants).toBeGreaterThan(0);
    const total = k?.files.find((f) => f.file === 'total');
    expect(total?.lines.hit).toBe(k?.samples[1]?.lines.hit);
    // Against memfd-round-trip's tracefile: the programs' error paths and sessions reach more.
    expect(k?.beyond?.lines).toBeGreaterThan(0);
    expect(k?.beyond?.newLines.every((l) => /^(kernel\/liveupdate\/|mm\/memfd_luo\.c:)/.test(l))).toBe(true);
    expect(await readFile(join(r.out, 'coverage.info'), 'utf8')).toMatch(/^SF:mm\/memfd_luo\.c$/m);
    expect(await readFile(join(r.out, 'batches', 'batch-0001.yaml'), 'utf8')).toMatch(/^# program \d is a mutant of batch-0000's \(/m);
    expect(r.stdout).toMatch(/^coverage of the live-update code by 2 fuzz VMs \(hit\/found\):$/m);
    expect(r.stdout).toMatch(/^ {2}beyond .*unreached-patch\.info: \d+ lines and \d+ branches it did not reach:$/m);
  });

  it('control: --coverage-against without --coverage, or naming no file, is a usage error before any VM', async () => {
    const a = await handover(['fuzz', '--seed', '2', '--programs', '4', '--coverage-against', FIXTURE, '--no-status', '-o', await mkdtemp(join(tmpdir(), 'handover-fuzz-'))]);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toContain('--coverage-against: needs --coverage');
    const b = await handover(['fuzz', '--seed', '2', '--programs', '4', '--coverage', '--coverage-against', '/nonexistent/coverage.info', '--no-status', '-o', await mkdtemp(join(tmpdir(), 'handover-fuzz-'))]);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toContain('--coverage-against /nonexistent/coverage.info: no such file');
  });
});
