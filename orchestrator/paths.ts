import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import envPaths from 'env-paths';

/** The repository (or installed package) root: kernel-config/, rootfs/ and scenarios/ live here. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Cache root: $HANDOVER_CACHE_DIR, else the XDG cache dir (~/.cache/handover). */
export function cacheRoot(): string {
  return process.env.HANDOVER_CACHE_DIR ?? envPaths('handover', { suffix: '' }).cache;
}

export async function cacheDir(...parts: string[]): Promise<string> {
  const dir = join(cacheRoot(), ...parts);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** A private temp dir (mode 0700, as mkdtemp makes it); short, since QEMU sockets live in it. */
export async function privateTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `handover-${prefix}-`));
}
