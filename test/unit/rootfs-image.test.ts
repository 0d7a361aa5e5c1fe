import { describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import { readNewc, writeNewc } from '../../orchestrator/rootfs/cpio.ts';
import { elfInterpreter } from '../../orchestrator/rootfs/libs.ts';
import { parsePackageList, resolvePackageFiles } from '../../orchestrator/rootfs/packages.ts';
import { ImageTree } from '../../orchestrator/rootfs/tree.ts';

describe('packages.txt', () => {
  it('parses package, path and optional guest path, with comments', () => {
    const list = parsePackageList('# c\nbusybox-static /bin/busybox\n\nopenssh-sftp-server /usr/lib/openssh/sftp-server /usr/lib/sftp-server # x\n', 'p.txt');
    expect(list).toEqual([
      { pkg: 'busybox-static', source: '/bin/busybox', guest: '/bin/busybox' },
      { pkg: 'openssh-sftp-server', source: '/usr/lib/openssh/sftp-server', guest: '/usr/lib/sftp-server' },
    ]);
  });

  it('reports bad lines with file:line', () => {
    expect(() => parsePackageList('ok /x\nbroken relative/path\n', 'p.txt')).toThrow(/p\.txt:2:/);
  });

  it('names a package that is not installed as host-missing', async () => {
    const err = await resolvePackageFiles([{ pkg: 'handover-no-such-package', source: '/bin/x', guest: '/bin/x' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandoverError);
    expect(err).toMatchObject({ outcome: 'host-missing', message: /handover-no-such-package/ });
  });
});

describe('ImageTree', () => {
  it('creates parents, keeps explicit modes, and tolerates the same library twice', async () => {
    const tree = new ImageTree()
      .file('/lib/x86_64-linux-gnu/libc.so.6', { data: Buffer.from('libc') }, 0o755)
      .file('/lib/x86_64-linux-gnu/libc.so.6', { data: Buffer.from('libc') }, 0o755)
      .dir('root', 0o700)
      .symlink('/bin/sh', '/bin/busybox');
    const back = readNewc(await writeNewc(tree.entries()));
    expect(back.map((e) => e.path)).toEqual(['bin', 'bin/sh', 'lib', 'lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu/libc.so.6', 'root']);
    expect(back.find((e) => e.path === 'root')?.mode).toBe(0o40700);
  });

  it('refuses conflicting entries', () => {
    const tree = new ImageTree().file('etc/passwd', { data: Buffer.from('a') });
    expect(() => tree.file('etc/passwd', { data: Buffer.from('b') })).toThrow(/conflicting/);
    expect(() => tree.file('etc/passwd/x', { data: Buffer.from('b') })).toThrow(/cannot hold/);
  });
});

describe('elfInterpreter', () => {
  it('finds the loader of a dynamic binary and none in a static one', async () => {
    expect(await elfInterpreter(process.execPath)).toMatch(/^\/lib64\/ld-linux-x86-64\.so\.2$|ld-linux/);
    expect(await elfInterpreter('/bin/busybox')).toBeNull();
  });
});
