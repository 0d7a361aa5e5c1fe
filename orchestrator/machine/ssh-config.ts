import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunKeys } from '../guest/keys.ts';

/**
 * Files that let a person reach the guest with plain OpenSSH: the run's private key and a
 * known_hosts pinning the run's host key. Returns the ssh command line to print.
 */
export async function writeSshAccess(dir: string, keys: RunKeys, port: number): Promise<string> {
  const key = join(dir, 'id_ed25519');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(key, keys.client.privateKey, { mode: 0o600 });
  const hostPublic = keys.host.publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPublic}\n`, { mode: 0o600 });
  return ['ssh', '-i', key, '-p', String(port), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', 'root@127.0.0.1'].join(' ');
}
