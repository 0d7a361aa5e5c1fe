import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { type CpioEntry, gzipCpio, readNewc, writeNewc } from '../../orchestrator/rootfs/cpio.ts';

const FIXTURE = join(import.meta.dirname, '../fixtures/cpio');

/** The subset of gen_init_cpio's list format the fixture uses: dir, file, slink, nod. */
function parseList(text: string): CpioEntry[] {
  const out: CpioEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [kind, ...f] = line.trim().split(/\s+/);
    const num = (i: number, radix = 10): number => parseInt(f[i] ?? 'x', radix);
    const path = f[0] ?? '';
    switch (kind) {
      case 'dir':
        out.push({ type: 'dir', path, mode: num(1, 8), uid: num(2), gid: num(3) });
        break;
      case 'file':
        out.push({ type: 'file', path, source: join(FIXTURE, f[1] ?? ''), mode: num(2, 8), uid: num(3), gid: num(4) });
        break;
      case 'slink':
        out.push({ type: 'symlink', path, target: f[1] ?? '', mode: num(2, 8), uid: num(3), gid: num(4) });
        break;
      case 'nod':
        out.push({
          type: 'nod',
          path,
          mode: num(1, 8),
          uid: num(2),
          gid: num(3),
          dev: f[4] === 'b' ? 'b' : 'c',
          major: num(5),
          minor: num(6),
        });
        break;
      default:
        throw new Error(`unexpected list line: ${line}`);
    }
  }
  return out;
}

async function fixtureEntries(): Promise<CpioEntry[]> {
  return parseList(await readFile(join(FIXTURE, 'list.txt'), 'utf8'));
}

describe('newc cpio writer', () => {
  it('is byte-identical to the kernel gen_init_cpio -t 0 for the same spec', async () => {
    const expected = await readFile(join(FIXTURE, 'gen_init_cpio.cpio'));
    const ours = await writeNewc(await fixtureEntries());
    expect(ours.length).toBe(expected.length);
    expect(ours.equals(expected)).toBe(true);
  });

  it('sorts entries so the order of the spec does not matter', async () => {
    const entries = await fixtureEntries();
    const a = await writeNewc(entries);
    const b = await writeNewc([...entries].reverse());
    expect(b.equals(a)).toBe(true);
  });

  it('is listed by GNU cpio with types, device numbers and symlink targets', async () => {
    const archive = await writeNewc(await fixtureEntries());
    const { stdout } = await execa('cpio', ['-tv', '--numeric-uid-gid', '--quiet'], { input: archive });
    const lines = stdout.split('\n');
    expect(lines.map((l) => l.split(/\s+/).slice(-1)[0])).toContain('../../etc/hello.txt');
    expect(lines.find((l) => l.endsWith(' dev/console'))).toMatch(/^crw------- +1 0 +0 +5, +1 /);
    expect(lines.find((l) => l.endsWith(' dev/vda'))).toMatch(/^brw-rw---- +1 0 +6 +253, +0 /);
    expect(lines.find((l) => l.endsWith(' setuid'))).toMatch(/^-rwsr-xr-x /);
    expect(lines.find((l) => l.endsWith(' tmp'))).toMatch(/^drwxrwxrwt /);
    const names = (await execa('cpio', ['-t', '--quiet'], { input: archive })).stdout.split('\n');
    expect(names).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(names).toHaveLength(18);
  });

  it('reads back what it wrote, and gzip round-trips', async () => {
    const archive = await writeNewc([
      { type: 'dir', path: '/etc/', mode: 0o755 },
      { type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0::/root:/bin/sh\n') },
      { type: 'nod', path: '/dev/console', mode: 0o600, dev: 'c', major: 5, minor: 1 },
      { type: 'dir', path: 'dev', mode: 0o755 },
    ]);
    expect(archive.length % 512).toBe(0);
    const back = readNewc(gunzipSync(await gzipCpio(archive)));
    expect(back.map((e) => [e.path, e.type])).toEqual([
      ['dev', 'dir'],
      ['dev/console', 'nod'],
      ['etc', 'dir'],
      ['etc/passwd', 'file'],
    ]);
    expect(back[1]).toMatchObject({ rmajor: 5, rminor: 1, mode: 0o020600 });
    expect(back[3]?.data.toString()).toBe('root:x:0:0::/root:/bin/sh\n');
  });

  it('gzips deterministically', async () => {
    const archive = await writeNewc(await fixtureEntries());
    expect((await gzipCpio(archive)).equals(await gzipCpio(archive))).toBe(true);
  });

  it('rejects duplicates, bad paths and file-type bits in modes', async () => {
    await expect(
      writeNewc([
        { type: 'dir', path: 'a', mode: 0o755 },
        { type: 'dir', path: '/a/', mode: 0o755 },
      ]),
    ).rejects.toThrow(/duplicate/);
    await expect(writeNewc([{ type: 'dir', path: '../x', mode: 0o755 }])).rejects.toThrow(/bad cpio path/);
    await expect(writeNewc([{ type: 'dir', path: 'x', mode: 0o40755 }])).rejects.toThrow(/file-type bits/);
  });
});
