import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { generateRunKeys, openSshEd25519ToDropbear, publicKeyBlob } from '../../orchestrator/guest/keys.ts';
import { privateTempDir } from '../../orchestrator/paths.ts';

describe('run keys', () => {
  it('generates distinct ed25519 client and host keys', () => {
    const a = generateRunKeys();
    const b = generateRunKeys();
    expect(a.client.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ handover-client$/);
    expect(a.host.publicKey).toMatch(/^ssh-ed25519 /);
    expect(a.host.publicKey).not.toBe(b.host.publicKey);
    expect(a.host.blob.equals(publicKeyBlob(a.host.publicKey))).toBe(true);
    expect(a.host.blob.subarray(4, 15).toString()).toBe('ssh-ed25519');
  });

  it('never hands out a malformed key (ssh2 drops a leading zero byte of the public key)', () => {
    // About one ed25519 pair in a thousand comes out of ssh2 with a 31-byte public key.
    for (let i = 0; i < 2000; i++) {
      const k = generateRunKeys();
      for (const pub of [k.client.publicKey, k.host.publicKey]) expect(publicKeyBlob(pub).readUInt32BE(15)).toBe(32);
    }
  });

  it("converts the host key to exactly what dropbearconvert writes", async () => {
    const keys = generateRunKeys();
    const dir = await privateTempDir('keys');
    try {
      const src = join(dir, 'host');
      await writeFile(src, keys.host.privateKey, { mode: 0o600 });
      await execa('dropbearconvert', ['openssh', 'dropbear', src, `${src}.db`]);
      expect(keys.host.dropbear.equals(await readFile(`${src}.db`))).toBe(true);
      // and dropbear reads it back to the same public key
      const { stdout } = await execa('dropbearkey', ['-y', '-f', `${src}.db`]);
      expect(stdout).toContain(keys.host.publicKey.split(' ')[1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses keys it cannot convert', () => {
    expect(() => openSshEd25519ToDropbear('not a key')).toThrow(/OpenSSH/);
  });
});
