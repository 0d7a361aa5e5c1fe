import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { htmlReport, toHtml } from '../../orchestrator/report/html.ts';
import type { RunResult } from '../../orchestrator/scenario/results.ts';

// Recorded from a real run (`handover run memfd-round-trip tampered-memfd.yaml -r json,html -o
// /tmp/html-fixture/out`): memfd-round-trip passed; tampered-memfd (a write_memfd after preserve,
// with markup in its description) failed with a SHA-256 mismatch after the kexec.
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'results', 'html-run.json');
const REPORT_DIR = '/tmp/html-fixture/out';
const load = (): RunResult => JSON.parse(readFileSync(FIXTURE, 'utf8')) as RunResult;

/** The attribute values of every element matching a tag and class in the HTML text. */
function segments(html: string, scenario: string): { phase: string; left: number; width: number }[] {
  const row = new RegExp(`<tr data-scenario="${scenario}">(.*?)</tr>`).exec(html)?.[1] ?? '';
  return [...row.matchAll(/data-phase="(\w+)" style="left:([\d.]+)%;width:([\d.]+)%"/g)].map((m) => ({
    phase: m[1] as string,
    left: Number(m[2]),
    width: Number(m[3]),
  }));
}

describe('HTML report', () => {
  it('shows the run metadata and the summary', () => {
    const run = load();
    const html = toHtml(run, { reportDir: REPORT_DIR });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<td data-key="kernel">7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1 (trixie-backports))</td>');
    expect(html).toContain(`<td data-key="config hash">${run.kernel.configHash}</td>`);
    expect(html).toContain(run.qemu.version);
    expect(html).toContain('<td data-key="accelerator">tcg: ');
    expect(html).toContain('1 passed');
    expect(html).toContain('1 failed');
    expect(html).toContain('<title>handover: 7.3.4 — 1 failed</title>');
  });

  it('names each known kernel bug seen (XFAIL) or not (XPASS), with its scenario and step', () => {
    const run = load();
    const sc = run.scenarios[0];
    const st = sc?.steps[0];
    if (sc === undefined || st === undefined) throw new Error('fixture');
    st.status = 'xfail';
    st.xfail = { reason: '7.3: <truncated> blob', seen: true };
    const html = toHtml(run, { reportDir: REPORT_DIR });
    expect(html).toContain(`<li class="xfail"><b>XFAIL</b> <a href="#s-${sc.name}">${sc.name}</a> step 1 (`);
    expect(html).toContain('7.3: &lt;truncated&gt; blob</li>');
    st.xfail = { reason: 'gone', seen: false };
    expect(toHtml(run, { reportDir: REPORT_DIR })).toMatch(/<li class="xpass"><b>XPASS<\/b> .*step 1 .*: gone<\/li>/);
    expect(toHtml(load(), { reportDir: REPORT_DIR })).not.toContain('Known kernel bugs');
  });

  it('draws a timeline per scenario on one scale, with boot, preserve, kexec blackout and verify', () => {
    const html = toHtml(load());
    for (const name of ['memfd-round-trip', 'tampered-memfd']) {
      const segs = segments(html, name);
      expect(segs.map((s) => s.phase)).toEqual(['boot', 'preserve', 'kexec', 'blackout', 'kexec', 'verify', ...(name === 'memfd-round-trip' ? ['other'] : [])]);
      for (const s of segs) expect(s.width).toBeGreaterThan(0);
      // In time order, never past the end of the track.
      for (const [i, s] of segs.entries()) {
        if (i > 0) expect(s.left).toBeGreaterThanOrEqual((segs[i - 1]?.left ?? 0) - 0.01);
        expect(s.left + s.width).toBeLessThanOrEqual(100.01);
      }
    }
    // The longer scenario fills the track; the shorter one does not.
    const last = (n: string) => segments(html, n).at(-1) ?? { left: 0, width: 0 };
    expect(last('memfd-round-trip').left + last('memfd-round-trip').width).toBeGreaterThan(99);
    expect(last('tampered-memfd').left + last('tampered-memfd').width).toBeLessThan(70);
  });

  it('shows the kernel build once, apart, never on a scenario’s row or the common scale', () => {
    const run = load();
    const first = run.scenarios[0];
    if (first === undefined) throw new Error('fixture has no scenario');
    const before = segments(toHtml(run), 'memfd-round-trip');
    first.kernelBuildMs = 663_000;
    const html = toHtml(run);
    expect(segments(html, 'memfd-round-trip')).toEqual(before);
    expect(/<p class="build-once">[^]*?<\/p>/.exec(html)?.[0]).toContain('kernel build, once before the scenarios: 663');
  });

  it('shows the failure with its message, evidence, console excerpt and relative artifact links', () => {
    const html = toHtml(load(), {
      reportDir: REPORT_DIR,
      artifacts: {
        'tampered-memfd': {
          files: ['tampered-memfd/console.boot-1.log', 'tampered-memfd/console.boot-2.log', 'tampered-memfd/agent.jsonl'],
          consoleExcerpt: { file: 'tampered-memfd/console.boot-2.log', lines: ['[    1.0] handover: sshd up', '\x1b[1;31mred\x1b[0m </pre><img src=x onerror=alert(1)>'] },
        },
      },
    });
    const failure = /<article class="failure" id="f-tampered-memfd">([\s\S]*?)<\/article>/.exec(html)?.[1] ?? '';
    expect(failure).toContain('test-failed');
    expect(failure).toContain('came back different: SHA-256 mismatch: preserved 276c10c86aa9b9ba5575128554e181e036ac203a3df34143d9d175927312b924');
    expect(failure).toContain('at <code>/tmp/html-fixture/tampered-memfd.yaml:8</code>');
    expect(failure).toContain('<pre class="evidence">SHA-256 mismatch');
    expect(failure).toContain('<a href="tampered-memfd/console.boot-2.log">tampered-memfd/console.boot-2.log</a>');
    expect(failure).toContain('<a href="tampered-memfd/agent.jsonl">');
    // The console is quoted as text: no terminal escapes, no markup.
    expect(failure).toContain('red &lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(failure).not.toContain('\x1b');
    expect(html).not.toContain('<img');
    // memfd-round-trip passed: it is not among the failures.
    expect(html).not.toContain('id="f-memfd-round-trip"');
  });

  it('links the recorded consoles relative to the report folder when it has no listing', () => {
    const html = toHtml(load(), { reportDir: REPORT_DIR });
    expect(html).toContain('<a href="tampered-memfd/">tampered-memfd/</a>');
    expect(html).toContain('<a href="memfd-round-trip/console.boot-2.log">');
    expect(html).not.toContain('href="/tmp/');
  });

  it('maps artifacts recorded on another machine (merged shards) to <scenario>/ beside the report', () => {
    const run = load();
    for (const r of run.scenarios) {
      r.consoles = r.consoles.map((c) => c.replace(REPORT_DIR, '/builds/shard-2/out'));
      r.artifactsDir = r.artifactsDir.replace(REPORT_DIR, '/builds/shard-2/out');
    }
    const html = toHtml(run, { reportDir: '/srv/merged' });
    expect(html).toContain('<a href="tampered-memfd/console.boot-1.log">');
    expect(html).not.toContain('href="../');
  });

  it('escapes everything that came from a scenario or a guest, and fetches nothing', () => {
    const run = load();
    const bad = run.scenarios[1];
    if (bad === undefined) throw new Error('fixture has two scenarios');
    bad.steps[0] = { ...(bad.steps[0] as (typeof bad.steps)[number]), name: 'x" onmouseover="alert(1)' };
    bad.evidence = ['<iframe src="http://example.invalid/">', "it's & done"];
    const html = toHtml(run, { reportDir: REPORT_DIR });
    // The recorded description carries a <script> element: it shows as text.
    expect(bad.description).toContain('<script>document.title="pwned"</script>');
    expect(html).toContain('&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt; &amp; co');
    expect(html).toContain('x&quot; onmouseover=&quot;alert(1)');
    expect(html).toContain('&lt;iframe src=&quot;http://example.invalid/&quot;&gt;');
    expect(html).toContain('it&#39;s &amp; done');
    expect(html).not.toMatch(/<script|<iframe|onmouseover="/i);
    // Self-contained: no external stylesheet, script, image or font.
    expect(html).not.toMatch(/<link|src="http|url\(http|@import/i);
    expect(html).toContain("default-src 'none'");
  });

  it('shows the comparison with a baseline when the run has one, new failures first', () => {
    const run = load();
    run.comparison = {
      baseline: 'nightly/previous/results.json',
      baselineStartedAt: '2026-11-24T02:00:00.000Z',
      scenarios: [
        { name: 'memfd-round-trip', previous: 'passed', current: 'passed', class: 'still-passing' },
        { name: 'tampered-memfd', previous: 'passed', current: 'failed', class: 'new-failure' },
        { name: 'chain', previous: 'passed', current: 'skipped', class: 'removed' },
      ],
      counts: { 'still-passing': 1, 'new-failure': 1, fixed: 0, 'still-failing': 0, flaky: 0, new: 0, removed: 1, skipped: 0 },
    };
    const html = toHtml(run);
    const section = /<section id="comparison">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    expect(section).toContain('<code>nightly/previous/results.json</code> from 2026-11-24T02:00:00.000Z');
    expect(section).toContain('<span class="cmp new-failure">1 new-failure</span>');
    expect(section).not.toContain('0 fixed');
    const rows = [...section.matchAll(/<tr class="cmp-row ([\w-]+)"><td>([^<]+)<\/td>/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([
      ['new-failure', 'tampered-memfd'],
      ['removed', 'chain'],
      ['still-passing', 'memfd-round-trip'],
    ]);
    expect(toHtml(load())).not.toContain('id="comparison"');
  });

  it('shows the shard, the parallel VMs and the retried attempts when the run has them', () => {
    const run = load();
    run.shard = { index: 2, total: 3, suite: ['a', 'b', 'c', 'd', 'e'] };
    run.jobs = 2;
    const r = run.scenarios[1];
    if (r === undefined) throw new Error('fixture has two scenarios');
    r.attempts = [
      { attempt: 1, status: 'error', outcome: 'boot-timeout', message: 'no banner', durationMs: 60_000, artifactsDir: `${r.artifactsDir}/attempt-1` },
      { attempt: 2, status: 'failed', outcome: 'test-failed', message: 'mismatch', durationMs: 8_500, artifactsDir: r.artifactsDir },
    ];
    const html = toHtml(run);
    expect(html).toContain('<td data-key="shard">2/3 (suite of 5)</td>');
    expect(html).toContain('<td data-key="parallel VMs">2</td>');
    expect(html).toContain('(2 attempts)');
    expect(html).toContain('attempt 1: <span class="badge error">ERROR</span> boot-timeout no banner (60.0 s)');
  });

  it('finds the artifacts on disk: beside merged shards, or in <scenario>/ when recorded elsewhere', async () => {
    const work = await mkdtemp(join(tmpdir(), 'handover-html-unit-'));
    try {
      // A real console (test/fixtures/console) stands in for the failed scenario's last boot.
      const console = join(import.meta.dirname, '..', 'fixtures', 'console', 'kexec-two-boots.log');
      const lastLine = readFileSync(console, 'utf8').trimEnd().split('\n').at(-1)?.trim() ?? '';
      const place = async (dir: string) => {
        await mkdir(join(dir, 'debugfs-boot-2', 'in'), { recursive: true });
        await copyFile(console, join(dir, 'console.boot-2.log'));
        await writeFile(join(dir, 'debugfs-boot-2', 'in', 'fdt'), 'x');
      };
      // 1. Merged shards: the shard folders sit under the merged report's folder.
      const merged = join(work, 'handover-report');
      const run = load();
      for (const r of run.scenarios) {
        const dir = join(merged, 'shard-2', r.name);
        r.consoles = r.consoles.map((c) => c.replace(r.artifactsDir, dir));
        r.artifactsDir = dir;
        await place(dir);
      }
      const html = await htmlReport(run, merged);
      const failure = /<article class="failure" id="f-tampered-memfd">([\s\S]*?)<\/article>/.exec(html)?.[1] ?? '';
      expect(failure).toContain('<a href="shard-2/tampered-memfd/console.boot-2.log">');
      expect(failure).toContain('<a href="shard-2/tampered-memfd/debugfs-boot-2/in/fdt">');
      expect(failure).toMatch(/Console \(last 40 lines of <a href="shard-2\/tampered-memfd\/console.boot-2.log">/);
      expect(failure).toContain(lastLine);
      // 2. Recorded on another machine: the artifacts were copied beside the report.
      const elsewhere = join(work, 'copied');
      await place(join(elsewhere, 'tampered-memfd'));
      const recorded = load();
      for (const r of recorded.scenarios) {
        r.consoles = r.consoles.map((c) => c.replace(REPORT_DIR, join(work, 'gone')));
        r.artifactsDir = r.artifactsDir.replace(REPORT_DIR, join(work, 'gone'));
      }
      const html2 = await htmlReport(recorded, elsewhere);
      expect(html2).toContain('<a href="tampered-memfd/console.boot-2.log">');
      expect(html2).toContain(lastLine);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
