// The agent's kho-dump and kho-caps (rootfs/agent/khodump.c), compiled for the host and run on a
// tree rebuilt from a recorded guest's files: they must print what the shell scripts they replaced
// printed in that guest (test/fixtures/kho: dump-kexec1.txt, caps-kexec1.txt, the same boot), so
// the parsers keep reading what they were tested on.

import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKhoDump, parseKhoDump, type KhoDump } from '../../orchestrator/kho/debugfs.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/kho');
const AGENT = resolve(import.meta.dirname, '../../rootfs/agent');
// khodump.c needs nothing but agent.h's types: a main of its own runs it without the uapi headers.
const MAIN = `int cmd_kho_dump(int, char **); int cmd_kho_caps(int, char **);
#include <string.h>
int main(int argc, char **argv) { return !strcmp(argv[1], "kho-dump") ? cmd_kho_dump(argc - 2, argv + 2) : cmd_kho_caps(argc - 2, argv + 2); }
`;

let work = '';
let bin = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'handover-khodump-'));
  bin = join(work, 'khodump');
  await writeFile(join(work, 'main.c'), MAIN);
  await execa('gcc', ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-I', AGENT, '-o', bin, join(work, 'main.c'), join(AGENT, 'khodump.c')]);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** `<root>/kho` holding the dump's directories and files, byte for byte. */
async function materialize(dump: KhoDump, root: string): Promise<void> {
  for (const d of dump.dirs) await mkdir(join(root, 'kho', d), { recursive: true });
  for (const f of dump.files.values()) {
    await mkdir(dirname(join(root, 'kho', f.path)), { recursive: true });
    await writeFile(join(root, 'kho', f.path), f.data);
  }
}

const run = (...args: string[]) => execa(bin, args, { reject: false });

describe('the agent’s kho-dump and kho-caps print what the recorded guest’s scripts printed', () => {
  it('kho-dump: the same records, base64 lines and order as dump-kexec1.txt', async () => {
    const root = join(work, 'kexec1');
    await materialize(await loadKhoDump(join(FIX, 'kexec1')), root);
    const r = await run('kho-dump', root);
    expect(r.exitCode).toBe(0);
    const recorded = await readFile(join(FIX, 'dump-kexec1.txt'), 'utf8');
    // What differs by nature: this root is no debugfs mount, and its files have real stat sizes
    // (every debugfs file reports 0).
    expect(r.stdout.split('\n')[0]).toBe('@@debugfs absent');
    const norm = (t: string) => t.trimEnd().split('\n').slice(1).map((l) => l.replace(/^@@file \d+ /, '@@file 0 ')).join('\n');
    expect(norm(r.stdout)).toBe(norm(recorded));
  });

  it('kho-dump: file sizes on the 57-byte base64 line boundaries come back whole, with their stat size', async () => {
    const root = join(work, 'sizes');
    const sizes = [0, 1, 56, 57, 58, 114, 3647, 4096];
    for (const n of sizes) {
      await mkdir(join(root, 'kho', 'sub'), { recursive: true });
      await writeFile(join(root, 'kho', 'sub', `f${n}`), Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)));
    }
    const r = await run('kho-dump', root);
    const dump = parseKhoDump(r.stdout, root);
    expect(dump.dirs).toEqual(['sub']);
    for (const n of sizes) {
      const f = dump.files.get(`sub/f${n}`);
      expect(f?.statSize).toBe(n);
      expect(f?.data.equals(Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)))).toBe(true);
      expect(f?.error).toBeUndefined();
    }
  });

  it('control: no kho/ is "@@nokho"; a kho/ that cannot be entered fails, never an empty tree', async () => {
    const none = join(work, 'none');
    await mkdir(none, { recursive: true });
    expect((await run('kho-dump', none)).stdout.split('\n')).toEqual(['@@debugfs absent', '@@nokho']);
    const blocked = join(work, 'blocked');
    await mkdir(blocked, { recursive: true });
    await writeFile(join(blocked, 'kho'), 'not a directory');
    const r = await run('kho-dump', blocked);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).not.toContain('@@kho');
    expect(r.stderr).toContain('kho-dump: cd');
  });

  it('kho-caps: the KHO lines of caps-kexec1.txt, byte for byte (release, cmdline and the device are the host’s)', async () => {
    const root = join(work, 'kexec1');
    const r = await run('kho-caps', root);
    expect(r.exitCode).toBe(0);
    const keys = ['kho_dir', 'out_fdt', 'in_fdt', 'finalize', 'out_subtrees', 'in_subtrees', 'out_luo', 'in_luo', 'out_fdt_b64', 'in_fdt_b64'];
    const pick = (t: string) => t.split('\n').filter((l) => keys.includes(l.slice(0, l.indexOf('='))));
    const recorded = pick(await readFile(join(FIX, 'caps-kexec1.txt'), 'utf8'));
    expect(recorded).toHaveLength(keys.length);
    expect(pick(r.stdout)).toEqual(recorded);
    // Every field the parser requires is there, once.
    for (const k of ['release', 'cmdline', 'debugfs', 'liveupdate_dev', 'filesystems']) expect(r.stdout.split('\n').filter((l) => l.startsWith(`${k}=`))).toHaveLength(1);
  });

  it('control: without kho/ every KHO field says absent', async () => {
    const r = await run('kho-caps', join(work, 'none'));
    expect(r.stdout).toContain('\nkho_dir=0\nout_fdt=0\nin_fdt=0\nfinalize=0\n');
    expect(r.stdout).toContain('\nout_subtrees=\nin_subtrees=\nout_luo=\nin_luo=\nout_fdt_b64=\nin_fdt_b64=\n');
  });
});
