// Handover between two kernels: scenario fields, requirements on recorded capability probes, the
// incompatible-handover detection and the matrix reports on consoles and results recorded from
// real runs (7.2.13 ↔ 7.3.4, and a 7.3.4 patched to expect luo-v6).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCapabilityProbe, unmetRequirement } from '../../orchestrator/kho/caps.ts';
import { bootReleases, findIncompatibleHandover, parseMarkers, summarizeBoot } from '../../orchestrator/kho/markers.ts';
import { formatMatrix, matrixToJUnit } from '../../orchestrator/report/matrix.ts';
import { formatDiagnostic, parseScenario } from '../../orchestrator/scenario/load.ts';
import { orderedPairs, specLabel, type MatrixResult } from '../../orchestrator/scenario/matrix.ts';

const FIX = resolve(import.meta.dirname, '../fixtures');
const text = (rel: string): string => readFileSync(join(FIX, rel), 'utf8');
const probe = (name: string) => parseCapabilityProbe(text(`kho/caps-${name}.txt`));
const errors = (yaml: string) => parseScenario(yaml, 'x.yaml').diagnostics.map(formatDiagnostic);

describe('scenario fields for a handover between kernels', () => {
  it('takes kexec_into (a kernel spec) and a step-level requires', () => {
    const { scenario, diagnostics } = parseScenario(
      ['description: d', 'kexec_into: debian:linux-source-7.2', 'steps:', '  - kexec: {}', '  - name: n', '    requires: [get-name, in-fdt]', '    agent: {op: get-name, session: s}'].join('\n'),
      'x.yaml',
    );
    expect(diagnostics).toEqual([]);
    expect(scenario?.kexec_into).toBe('debian:linux-source-7.2');
    expect(scenario?.steps[1]).toMatchObject({ kind: 'agent', requires: ['get-name', 'in-fdt'] });
  });

  it('refuses a kexec_into that is not a kernel spec, at its value', () => {
    expect(errors('description: d\nkexec_into: linux-7.2\nsteps:\n  - kexec: {}\n')).toEqual([
      'x.yaml:2:13: error: kexec_into: expected a kernel spec: debian:linux-source-X.Y[@suite], git:<repository>#<ref>, or a path',
    ]);
  });

  it('refuses an unknown requirement, naming the known ones', () => {
    expect(errors('description: d\nsteps:\n  - kexec: {}\n    requires: [get-nmae]\n')[0]).toMatch(/^x\.yaml:4:16: error: requires: .*"kho"\|"liveupdate"/);
  });
});

describe('requirements on recorded capability probes (7.3.4)', () => {
  it('a cold boot has KHO, LUO, the raw luo-v5 state, kexec-metadata and out/fdt, but no in/fdt', () => {
    const cold = probe('cold');
    for (const need of ['kho', 'liveupdate', 'luo-raw', 'kexec-metadata', 'memfd-seals', 'out-fdt'] as const) expect(unmetRequirement(cold, need)).toBeUndefined();
    expect(unmetRequirement(cold, 'in-fdt')).toBe('no kho/in/fdt (this kernel was not booted by a KHO kexec) [kernel 7.3.4]');
  });

  it('after a KHO kexec: in/fdt, no out/fdt; kexec-metadata still known from in/', () => {
    const k = probe('kexec1');
    expect(unmetRequirement(k, 'in-fdt')).toBeUndefined();
    expect(unmetRequirement(k, 'out-fdt')).toMatch(/^no kho\/out\/fdt/);
    expect(unmetRequirement(k, 'memfd-seals')).toBeUndefined();
  });

  it('kho=off: KHO and LUO are missing, each with its reason', () => {
    const off = probe('kho-off');
    expect(unmetRequirement(off, 'kho')).toBe('KHO is disabled in this kernel (no kho/ in debugfs: kho=off, or CONFIG_KEXEC_HANDOVER(_DEBUGFS) unset) [kernel 7.3.4]');
    expect(unmetRequirement(off, 'liveupdate')).toBe('no /dev/liveupdate (LUO disabled: liveupdate=off, KHO off, or CONFIG_LIVEUPDATE unset) [kernel 7.3.4]');
    expect(unmetRequirement(off, 'luo-raw')).toMatch(/format: absent/);
  });

  it('get-name is decided by its runtime probe, never assumed', () => {
    const cold = probe('cold');
    expect(unmetRequirement(cold, 'get-name', { getName: true })).toBeUndefined();
    expect(unmetRequirement(cold, 'get-name', { getName: false })).toBe('LIVEUPDATE_SESSION_GET_NAME is refused (7.2+ only) [kernel 7.3.4]');
  });
});

describe('consoles of real handovers between 7.2.13 and 7.3.4', () => {
  for (const [file, from, to] of [
    ['kho/console-7.2-to-7.3.log', '7.2.13', '7.3.4'],
    ['kho/console-7.3-to-7.2.log', '7.3.4', '7.2.13'],
  ] as const) {
    it(`${from} → ${to}: the new kernel took the handover; nothing incompatible`, () => {
      const log = text(file);
      const markers = parseMarkers(log);
      expect(findIncompatibleHandover(markers)).toBeUndefined();
      expect(summarizeBoot(markers, 2)).toMatchObject({ khoFound: true, liveupdateNumber: 1, execFrom: { release: from, count: 1 }, failures: [] });
      expect(log).toMatch(new RegExp(`Linux version ${to.replace(/\./g, '\\.')} `));
    });
  }
});

describe('consoles of a 7.3.4 patched to expect luo-v6 (the negative control), recorded', () => {
  it('v5 → v6: boot 2 refuses the LUO state, then panics; both lines are the evidence', () => {
    const found = findIncompatibleHandover(parseMarkers(text('kho/console-luo-v5-to-v6.log')));
    expect(found).toMatchObject({ boot: 2, layer: 'luo', expected: 'luo-v6' });
    expect(found?.markers.map((m) => m.message)).toEqual([
      "luo: LUO state is incompatible with 'luo-v6'",
      'Kernel panic - not syncing: The incoming tree failed to initialize properly [-22], disabling live update',
    ]);
  });

  it('v6 → v5: the unpatched kernel refuses it the same way, expecting luo-v5', () => {
    const found = findIncompatibleHandover(parseMarkers(text('kho/console-luo-v6-to-v5.log')));
    expect(found).toMatchObject({ boot: 2, layer: 'luo', expected: 'luo-v5' });
  });

  it('a handover that went through is never called incompatible (the 7.3 kexec chain)', () => {
    expect(findIncompatibleHandover(parseMarkers(text('kho/console-kexec-chain.log')))).toBeUndefined();
  });

  it('each boot is attributed to its kernel by its banner', () => {
    expect(bootReleases(text('kho/console-7.2-to-7.3.log'))).toEqual(['7.2.13', '7.3.4']);
    expect(bootReleases(text('kho/console-7.3-to-7.2.log'))).toEqual(['7.3.4', '7.2.13']);
    expect(bootReleases(text('kho/console-luo-v5-to-v6.log'))).toEqual(['7.3.4', '7.3.4']);
  });
});

describe('the matrix', () => {
  it('runs every ordered pair of different kernels: both directions', () => {
    expect(orderedPairs(['a', 'b'])).toEqual([['a', 'b'], ['b', 'a']]);
    expect(orderedPairs(['a', 'b', 'c'])).toHaveLength(6);
  });

  it('names a pair’s folder after its specs', () => {
    expect(specLabel('debian:linux-source-7.2')).toBe('linux-source-7.2');
    expect(specLabel('/tmp/trees/linux-luo-v6')).toBe('linux-luo-v6');
  });

  const recorded = JSON.parse(text('matrix/matrix-7.2-7.3.json')) as MatrixResult;

  it('prints a from × to table with each cell’s outcome (recorded 7.2.13 ↔ 7.3.4 run)', () => {
    const lines = formatMatrix(recorded).split('\n');
    expect(lines.slice(0, 3)).toEqual(['from \\ to  7.2.13  7.3.4', '7.2.13     —       passed', '7.3.4      passed  —']);
    expect(lines).toContain('2 passed, 0 failed (2 pair × scenario cells, tcg)');
  });

  it('shows a failed cell’s outcome in the table and its evidence below', () => {
    const cell = recorded.cells[1];
    if (cell === undefined) throw new Error('fixture has two cells');
    const failed: MatrixResult = {
      ...recorded,
      cells: [recorded.cells[0] as MatrixResult['cells'][number], { ...cell, status: 'failed', outcome: 'incompatible-handover', message: 'boot 2 refused', evidence: ["luo: LUO state is incompatible with 'luo-v6'"] }],
      summary: { ...recorded.summary, passed: 1, failed: 1 },
    };
    const out = formatMatrix(failed);
    expect(out).toContain('7.3.4      incompatible-handover  —');
    expect(out).toContain("    luo: LUO state is incompatible with 'luo-v6'");
    expect(matrixToJUnit(failed)).toContain('<failure type="incompatible-handover" message="incompatible-handover: boot 2 refused">');
  });

  it('JUnit: one testsuite per ordered pair, one testcase per scenario', () => {
    const xml = matrixToJUnit(recorded);
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml).toContain('<testsuite name="7.2.13 -&gt; 7.3.4" tests="1" failures="0" errors="0" skipped="0">');
    expect(xml.match(/<testcase classname="[^"]*" name="memfd-round-trip"/g)).toHaveLength(2);
  });

  it('the JSON carries build seconds, cache hits, blackouts and per-boot releases for each cell', () => {
    for (const c of recorded.cells) {
      expect(c.build.from.seconds).toBeGreaterThan(0);
      expect(c.build.to.seconds).toBeGreaterThan(0);
      expect(typeof c.build.to.cacheHit).toBe('boolean');
      expect(c.blackoutsMs).toHaveLength(1);
      expect(c.releases.boots).toEqual([c.releases.from, c.releases.to]);
    }
  });
});
