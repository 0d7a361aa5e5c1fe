// Per-run SSH keys: an ed25519 client key (its public half goes into the guest's
// authorized_keys) and an ed25519 host key baked into every initrd of the run, so the client can
// pin it across reboots and kexecs. Nothing is written to disk here; the caller decides where.

// ssh2 is CommonJS: Node's ESM loader gives it only a default export.
import ssh2 from 'ssh2';

const { utils } = ssh2;

export interface KeyPair {
  /** OpenSSH private key ("-----BEGIN OPENSSH PRIVATE KEY-----"), unencrypted. */
  readonly privateKey: string;
  /** One-line public key, "ssh-ed25519 AAAA... comment". */
  readonly publicKey: string;
}

export interface RunKeys {
  readonly client: KeyPair;
  readonly host: KeyPair & {
    /** The host key in dropbear's own format, for `dropbear -r`. */
    readonly dropbear: Buffer;
    /** The public key blob (SSH wire format) the server presents; what `hostVerifier` pins. */
    readonly blob: Buffer;
  };
}

export function generateRunKeys(comment = 'handover'): RunKeys {
  const client = ed25519Pair(`${comment}-client`);
  const host = ed25519Pair(`${comment}-host`);
  return {
    client: { privateKey: client.private, publicKey: client.public },
    host: {
      privateKey: host.private,
      publicKey: host.public,
      dropbear: openSshEd25519ToDropbear(host.private),
      blob: publicKeyBlob(host.public),
    },
  };
}

/**
 * ssh2's keygen strips leading zero bytes from the ed25519 public key it reads out of the DER
 * BIT STRING, so a key whose public half starts with 0x00 comes out 31 bytes long and malformed
 * (seen about once in a thousand; one scenario run makes two keys). Such a pair is drawn again.
 */
function ed25519Pair(comment: string): { private: string; public: string } {
  for (let i = 0; ; i++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    try {
      openSshEd25519ToDropbear(pair.private);
      return pair;
    } catch (err) {
      if (i >= 8) throw err;
    }
  }
}

/** The SSH wire-format blob of a one-line public key. */
export function publicKeyBlob(publicKey: string): Buffer {
  const parsed = utils.parseKey(publicKey);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
}

class WireReader {
  private off = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  uint32(): number {
    if (this.off + 4 > this.buf.length) throw new Error('openssh key: truncated');
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(): Buffer {
    const len = this.uint32();
    if (this.off + len > this.buf.length) throw new Error('openssh key: truncated');
    const v = this.buf.subarray(this.off, this.off + len);
    this.off += len;
    return v;
  }
  string(): string {
    return this.bytes().toString('latin1');
  }
}

function wireString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/**
 * Convert an unencrypted OpenSSH ed25519 private key to dropbear's key file format:
 * string "ssh-ed25519", string (32-byte seed || 32-byte public key). Same bytes as
 * `dropbearconvert openssh dropbear`, without a subprocess or a temp file holding the key.
 */
export function openSshEd25519ToDropbear(pem: string): Buffer {
  const b64 = pem
    .replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '')
    .replace(/\s+/g, '');
  const raw = Buffer.from(b64, 'base64');
  const magic = 'openssh-key-v1\0';
  if (raw.subarray(0, magic.length).toString('latin1') !== magic) throw new Error('not an OpenSSH private key');
  const r = new WireReader(raw.subarray(magic.length));
  if (r.string() !== 'none' || r.string() !== 'none') throw new Error('encrypted OpenSSH keys are not supported');
  r.bytes(); // kdf options
  if (r.uint32() !== 1) throw new Error('expected exactly one key');
  r.bytes(); // public key blob
  const priv = new WireReader(r.bytes());
  if (priv.uint32() !== priv.uint32()) throw new Error('OpenSSH key check words differ (corrupt or encrypted)');
  const type = priv.string();
  if (type !== 'ssh-ed25519') throw new Error(`expected an ssh-ed25519 key, got ${type}`);
  const pub = priv.bytes();
  const secret = priv.bytes(); // seed || public
  if (pub.length !== 32 || secret.length !== 64 || !secret.subarray(32).equals(pub)) {
    throw new Error('malformed ed25519 key');
  }
  return Buffer.concat([wireString('ssh-ed25519'), wireString(secret)]);
}
