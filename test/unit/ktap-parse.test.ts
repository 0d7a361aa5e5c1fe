import { describe, expect, it } from 'vitest';
import { flattenKtap, parseKtap } from '../../orchestrator/scenario/ktap-parse.ts';

describe('KTAP', () => {
  it('reads kselftest output with a plan, diagnostics, directives and totals', () => {
    const doc = parseKtap(
      [
        'TAP version 13',
        '1..3',
        '# Starting 3 tests from 1 test cases.',
        '#  RUN           liveupdate.create_session ...',
        'ok 1 liveupdate.create_session',
        'not ok 2 liveupdate.preserve_memfd',
        'ok 3 liveupdate.hugetlb # SKIP no hugetlbfs',
        '# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0',
      ].join('\n'),
    );
    expect(doc.plan).toBe(3);
    expect(doc.cases.map((c) => [c.number, c.name, c.ok, c.directive])).toEqual([
      [1, 'liveupdate.create_session', true, undefined],
      [2, 'liveupdate.preserve_memfd', false, undefined],
      [3, 'liveupdate.hugetlb', true, 'SKIP'],
    ]);
    expect(doc.cases[0]?.diagnostics).toEqual(['Starting 3 tests from 1 test cases.', ' RUN           liveupdate.create_session ...']);
    expect(doc.cases[2]?.reason).toBe('no hugetlbfs');
    expect(doc.totals).toMatchObject({ pass: 1, fail: 1, skip: 1 });
  });

  it('nests subtests by indentation and ignores console noise and printk prefixes', () => {
    const doc = parseKtap(
      [
        'KTAP version 1',
        '1..1',
        '[    1.234567]     KTAP version 1',
        '    # Subtest: kho',
        '    1..2',
        'random console noise',
        '    ok 1 restore',
        '    not ok 2 abort # TIMEOUT',
        'not ok 1 kho',
      ].join('\n'),
    );
    expect(doc.cases).toHaveLength(1);
    expect(doc.cases[0]?.ok).toBe(false);
    expect(flattenKtap(doc.cases).map((c) => [c.path, c.ok, c.directive])).toEqual([
      ['kho.restore', true, undefined],
      ['kho.abort', false, 'TIMEOUT'],
    ]);
  });
});
