// Issue 6's HTML report, as a person sees it: a real run (one scenario that passes, one that fails
// for the right reason after a real kexec) writes report.html, and Debian's Chromium, headless,
// loads it from disk, lays it out and takes a screenshot.
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../orchestrator/scenario/results.ts';
import { handover } from '../helpers/cli.ts';

const CHROMIUM = '/usr/bin/chromium';

// write_memfd after preserve: retrieve must see a SHA-256 mismatch. The description carries markup
// that must show as text (and must not run).
const TAMPERED = `description: 'negative control: a memfd written after PRESERVE must not verify <script>document.title="pwned"</script> & co'
steps:
  - create_session: s1
  - memfd: {id: page, size: 4K, seed: 1}
  - preserve: {session: s1, token: 1, memfd: page}
  - write_memfd: {id: page, data: changed}
  - kexec: {}
  - retrieve: {session: s1, tokens: {"1": page}}
`;

let work = '';
let out = '';
let run: RunResult;
let exitCode: number | undefined;
let context: BrowserContext;
let page: Page;
const requests: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'handover-html-'));
  out = join(work, 'out');
  await writeFile(join(work, 'tampered-memfd.yaml'), TAMPERED);
  const r = await handover(['run', 'memfd-round-trip', join(work, 'tampered-memfd.yaml'), '-r', 'json,html', '-o', out]);
  exitCode = r.exitCode;
  run = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult;
  context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  page = await context.newPage();
  page.on('request', (req) => requests.push(req.url()));
  await page.goto(pathToFileURL(join(out, 'report.html')).href);
});

afterAll(async () => {
  await context?.close();
  // The screenshot and the report stay for a person to look at; the run's other artifacts go.
  if (work !== '') await rm(join(work, 'chromium-profile'), { recursive: true, force: true });
});

/** The timeline bars of a scenario's row, as laid out. */
async function segments(scenario: string) {
  return Promise.all(
    (await page.locator(`tr[data-scenario="${scenario}"] .seg`).all()).map(async (el) => {
      const box = (await el.boundingBox()) ?? { x: 0, width: 0 };
      return { phase: await el.getAttribute('data-phase'), title: await el.getAttribute('title'), width: box.width, right: box.x + box.width };
    }),
  );
}

describe('the HTML report in headless Chromium', () => {
  it('comes from a real run that failed for the right reason', () => {
    expect(exitCode).toBe(1);
    expect(run.scenarios.map((s) => [s.name, s.status])).toEqual([
      ['memfd-round-trip', 'passed'],
      ['tampered-memfd', 'failed'],
    ]);
  });

  it('shows the run metadata, and runs no script from the results', async () => {
    expect(await page.title()).toBe(`handover: ${run.kernel.release} — 1 failed`);
    const meta = async (key: string) => page.locator(`#meta td[data-key="${key}"]`).innerText();
    expect(await meta('kernel')).toBe(`${run.kernel.release} (${run.kernel.describe})`);
    expect(await meta('kernel spec')).toBe(run.kernel.spec);
    expect(await meta('config hash')).toBe(run.kernel.configHash);
    expect(await meta('QEMU')).toMatch(/^QEMU emulator version /);
    expect(await meta('accelerator')).toContain(run.accel.accel);
    expect(await page.locator('#summary').innerText()).toContain('1 passed');
    // The description's <script> is text on the page.
    expect(await page.locator('#s-tampered-memfd summary').innerText()).toContain('<script>document.title="pwned"</script> & co');
    expect(await page.locator('script').count()).toBe(0);
  });

  it('draws each scenario’s timeline with visible boot, preserve, kexec blackout and verify bars', async () => {
    for (const s of run.scenarios) {
      const bars = await segments(s.name);
      expect(bars.map((b) => b.phase)).toEqual(expect.arrayContaining(['boot', 'preserve', 'kexec', 'blackout', 'verify']));
      for (const b of bars) expect(b.width, `${s.name} ${b.phase}`).toBeGreaterThan(0);
      // The blackout bar is as long as the kexec's measured blackout, on the scenario's scale.
      const blackout = bars.find((b) => b.phase === 'blackout');
      expect(blackout?.title).toContain('kexec blackout (kexec 1 blackout)');
      const ms = s.blackoutsMs[0] ?? 0;
      expect(blackout?.title).toContain(`${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);
    }
    // One scale: the longer scenario's bars reach further.
    const reach = async (name: string) => Math.max(...(await segments(name)).map((b) => b.right));
    const [a, b] = run.scenarios;
    if (a === undefined || b === undefined) throw new Error('two scenarios expected');
    expect((await reach(a.name)) > (await reach(b.name))).toBe(a.durationMs > b.durationMs);
  });

  it('shows the failure with its message and console excerpt, and its artifact links open', async () => {
    const failure = page.locator('article.failure#f-tampered-memfd');
    await expect.poll(() => failure.count()).toBe(1);
    const text = await failure.innerText();
    expect(text).toContain('test-failed');
    expect(text).toMatch(/memfd 'page' \(session 's1', token 1\) came back different: SHA-256 mismatch/);
    // The excerpt is the tail of the last boot's console, as written on disk.
    const consoleFile = run.scenarios[1]?.consoles.at(-1) ?? '';
    const lastLine = (await readFile(consoleFile, 'utf8')).trimEnd().split('\n').at(-1) ?? '';
    expect(lastLine).not.toBe('');
    expect(await failure.locator('pre.console').innerText()).toContain(lastLine.trim());
    // Every artifact link resolves to a file beside the report; the console one opens in the browser.
    const hrefs = await Promise.all((await failure.locator('.artifacts a').all()).map(async (a) => new URL((await a.getAttribute('href')) ?? '', page.url()).href));
    expect(hrefs.length).toBeGreaterThanOrEqual(4);
    for (const h of hrefs) await access(fileURLToPath(h));
    const consoleLink = failure.locator('h4 a');
    expect(await consoleLink.getAttribute('href')).toBe('tampered-memfd/console.boot-2.log');
    const [opened] = await Promise.all([page.waitForEvent('framenavigated'), consoleLink.click()]);
    expect(opened.url()).toBe(pathToFileURL(consoleFile).href);
    expect(await page.locator('body').innerText()).toContain('Linux version');
    await page.goBack();
  });

  it('fetched nothing but the report itself, and looks right in a screenshot', async () => {
    const png = join(out, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    const head = (await readFile(png)).subarray(0, 24);
    expect(head.subarray(1, 4).toString()).toBe('PNG');
    expect(head.readUInt32BE(16)).toBe(1400);
    expect(head.readUInt32BE(20)).toBeGreaterThan(900);
    process.stderr.write(`html-report: screenshot ${png}\n`);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
  });
});
