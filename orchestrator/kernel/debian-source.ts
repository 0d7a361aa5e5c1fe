import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { privateApt } from '../host/apt-sources.ts';
import { runTool } from '../host/run-tool.ts';
import { cacheDir } from '../paths.ts';

export interface DebianSourceTree {
  dir: string;
  package: string;
  version: string;
  suite: string;
  /** Seconds spent fetching and unpacking; 0 when it was already in the cache. */
  fetchSeconds: number;
}

/**
 * Gets a Debian linux-source-X.Y package into the cache, unpacked once. apt-get runs with a
 * private configuration (its own sources, lists and archive cache under the cache dir), built
 * from the host's own Debian entry with the suite that carries the package; the host's apt state
 * is never touched.
 */
export async function fetchDebianSource(pkg: string, suite: string): Promise<DebianSourceTree> {
  const root = await cacheDir('sources', 'debian');
  const cached = await findUnpacked(root, pkg);
  if (cached !== undefined) return cached;

  const started = Date.now();
  const apt = await privateApt(suite);
  await runTool('apt-get', ['update', '-q'], { ...apt.opts, what: `apt-get update for ${suite}` });
  const show = await runTool('apt-cache', ['show', '--no-all-versions', pkg], {
    ...apt.opts,
    what: `${pkg} in ${suite}`,
  });
  const version = /^Version: (.+)$/m.exec(show.stdout)?.[1];
  if (version === undefined) throw new HandoverError('source-failed', `${pkg}: apt-cache show printed no Version`);

  const work = join(root, `.partial-${pkg}-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await runTool('apt-get', ['download', '-q', `${pkg}=${version}`], { ...apt.opts, cwd: work, what: `download ${pkg}` });
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (deb === undefined) throw new HandoverError('source-failed', `apt-get download ${pkg} left no .deb in ${work}`);
    await runTool('dpkg-deb', ['-x', deb, 'deb'], { outcome: 'source-failed', what: `unpack ${deb}`, cwd: work });
    const tarDir = join(work, 'deb', 'usr', 'src');
    const tarball = (await readdir(tarDir)).find((f) => /^linux-source-.*\.tar\.(xz|gz|bz2|zst)$/.test(f));
    if (tarball === undefined) throw new HandoverError('source-failed', `${deb} holds no linux-source tarball in /usr/src`);
    await mkdir(join(work, 'tree'));
    await runTool('tar', ['-xf', join(tarDir, tarball), '-C', join(work, 'tree')], {
      outcome: 'source-failed',
      what: `unpack ${tarball}`,
    });
    const top = (await readdir(join(work, 'tree')))[0];
    if (top === undefined) throw new HandoverError('source-failed', `${tarball} is empty`);
    const final = join(root, `${pkg}_${version}`);
    await rm(join(work, 'deb'), { recursive: true, force: true });
    await rename(join(work, 'tree', top), join(work, 'linux'));
    await writeFile(join(work, 'source.json'), JSON.stringify({ package: pkg, version, suite }, null, 2));
    // Only a complete tree ever appears under its final name.
    await rename(work, final);
    return { dir: join(final, 'linux'), package: pkg, version, suite, fetchSeconds: (Date.now() - started) / 1000 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function findUnpacked(root: string, pkg: string): Promise<DebianSourceTree | undefined> {
  const names = (await readdir(root)).filter((n) => n.startsWith(`${pkg}_`)).sort();
  for (const name of names.reverse()) {
    const meta = join(root, name, 'source.json');
    try {
      const info = JSON.parse(await readFile(meta, 'utf8')) as { package: string; version: string; suite: string };
      await access(join(root, name, 'linux', 'Makefile'));
      return { dir: join(root, name, 'linux'), ...info, fetchSeconds: 0 };
    } catch {
      continue;
    }
  }
  return undefined;
}
