// Per-run secrets as a small uncompressed cpio appended after the cached base image (the kernel
// unpacks concatenated archives in order). The same base + overlay file boots the VM and is what
// gets uploaded for `kexec -s --initrd`, so every boot of a run presents the same host key.

import { readFile, writeFile } from 'node:fs/promises';
import type { RunKeys } from '../guest/keys.ts';
import { AUTHORIZED_KEYS_GUEST_PATH, HOST_KEY_GUEST_PATH } from './build.ts';
import { writeNewc } from './cpio.ts';
import { ImageTree } from './tree.ts';

/** Uncompressed newc archive with the run's authorized_keys and dropbear host key. */
export async function buildOverlay(keys: RunKeys): Promise<Buffer> {
  const tree = new ImageTree()
    .dir('root', 0o700)
    .dir('root/.ssh', 0o700)
    .dir('etc', 0o755)
    .dir('etc/dropbear', 0o700)
    .file(AUTHORIZED_KEYS_GUEST_PATH, { data: Buffer.from(`${keys.client.publicKey}\n`) }, 0o600)
    .file(HOST_KEY_GUEST_PATH, { data: keys.host.dropbear }, 0o600);
  return writeNewc(tree.entries());
}

/**
 * Write base + overlay as one initrd file (mode 0600: it holds the host's private key), usable as
 * QEMU's -initrd and, uploaded to the guest, as `kexec -s --initrd=`. Returns outPath.
 */
export async function writeInitrd(outPath: string, basePath: string, keys: RunKeys): Promise<string> {
  const base = await readFile(basePath);
  if (base.length % 4 !== 0) throw new Error(`${basePath}: base image is not 4-byte padded`);
  await writeFile(outPath, Buffer.concat([base, await buildOverlay(keys)]), { mode: 0o600 });
  return outPath;
}

/** Where the cold boot's initramfs holds the images of the first kexec (see `writeBootInitrd`). */
export const PRELOADED_KEXEC_DIR = '/kexec';

/**
 * The cold boot's initrd: the run's initrd (what every kexec'd kernel gets) followed by one more
 * uncompressed cpio holding that initrd and the bzImage under PRELOADED_KEXEC_DIR, so the first
 * `kexec -s -l` reads them from the guest's rootfs instead of an SFTP upload of every byte over
 * slirp. Unpacking an uncompressed cpio is a copy; the kexec'd kernel gets the lean initrd.
 */
export async function writeBootInitrd(outPath: string, runInitrd: string, bzImage: string): Promise<string> {
  const initrd = await readFile(runInitrd);
  if (initrd.length % 4 !== 0) throw new Error(`${runInitrd}: initrd is not 4-byte padded`);
  const dir = PRELOADED_KEXEC_DIR.slice(1);
  const tree = new ImageTree()
    .dir(dir, 0o700)
    .file(`${dir}/bzImage`, { data: await readFile(bzImage) }, 0o600)
    .file(`${dir}/initrd`, { data: initrd }, 0o600);
  await writeFile(outPath, Buffer.concat([initrd, await writeNewc(tree.entries())]), { mode: 0o600 });
  return outPath;
}
