import { describe, expect, it } from 'vitest';
import { junitXml, xmlEscape } from '../../orchestrator/report/junit-xml.ts';

describe('the JUnit serialiser', () => {
  it('counts failures, errors and skips from the cases, per suite and in total', () => {
    const xml = junitXml({
      name: 'handover',
      durationMs: 2500,
      suites: [
        {
          name: 'a',
          durationMs: 1000,
          cases: [
            { classname: 'a', name: 'ok', durationMs: 10 },
            { classname: 'a', name: 'bad', outcome: { kind: 'failure', message: 'no', body: 'why' } },
            { classname: 'a', name: 'later', outcome: { kind: 'skipped', message: 'not reached' } },
          ],
        },
        { name: 'b', properties: [['kernel', '7.3.4']], cases: [{ classname: 'b', name: 'boot', outcome: { kind: 'error', type: 'vm-failed', message: 'qemu', body: '' } }] },
      ],
    });
    expect(xml).toContain('<testsuites name="handover" tests="4" failures="1" errors="1" skipped="1" time="2.500">');
    expect(xml).toContain('<testsuite name="a" tests="3" failures="1" errors="0" skipped="1" time="1.000">');
    expect(xml).toContain('<testsuite name="b" tests="1" failures="0" errors="1" skipped="0">');
    expect(xml).toContain('<properties><property name="kernel" value="7.3.4"/></properties>');
    expect(xml).toContain('<testcase classname="a" name="ok" time="0.010">\n    </testcase>');
    expect(xml).toContain('<failure message="no">why</failure>');
    expect(xml).toContain('<error type="vm-failed" message="qemu"></error>');
    expect(xml).toContain('<skipped message="not reached"/>');
  });

  it('escapes markup and drops terminal escapes and characters XML cannot carry', () => {
    expect(xmlEscape('\x1b[31m<a & "b">\x00\x07')).toBe('&lt;a &amp; &quot;b&quot;&gt;');
    const xml = junitXml({ name: 'n', durationMs: 0, suites: [{ name: 's<1>', cases: [{ classname: 's', name: 'c', systemOut: 'x\x1b[0m & y' }] }] });
    expect(xml).toContain('<testsuite name="s&lt;1&gt;"');
    expect(xml).toContain('<system-out>x &amp; y</system-out>');
  });
});
