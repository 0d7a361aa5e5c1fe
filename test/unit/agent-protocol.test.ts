// The agent protocol against lines recorded from the real agent on the default 7.3 kernel
// (test/fixtures/agent/agent-7.3.jsonl: a cold boot, a kexec_file_load kexec, and a boot with
// liveupdate=off). Requests must re-encode byte for byte, every reply must decode, and the host's
// re-derivation of the memfd contents must give the agent's SHA-256.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import {
  type AgentRequest,
  type AgentResult,
  decodeCaps,
  decodeReply,
  decodeServe,
  encodeRequest,
  ERRNO_NAMES,
  isErrno,
  memfdContents,
  memfdSha256,
  type Op,
  parseLine,
  patternPageWritten,
} from '../../orchestrator/guest/agent-protocol.ts';

interface Exchange {
  kind: 'exchange';
  boot: 'cold' | 'kexec';
  request: string;
  reply: string;
}
interface Command {
  kind: 'command';
  what: string;
  boot: string;
  argv: string[];
  exitCode: number;
  stdout: string;
}

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'agent', 'agent-7.3.jsonl');
const records = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => JSON.parse(l) as Exchange | Command | { kind: 'meta' });
const exchanges = records.filter((r): r is Exchange => r.kind === 'exchange');
const commands = records.filter((r): r is Command => r.kind === 'command');

function request(x: Exchange): AgentRequest {
  return parseLine(x.request) as AgentRequest;
}

function decoded(x: Exchange): AgentResult {
  return decodeReply(request(x).op, x.reply);
}

/** The decoded reply of the first exchange (on `boot`) whose request has these fields. */
function replyTo<O extends Op>(boot: Exchange['boot'], fields: { op: O } & Record<string, unknown>): AgentResult<O> {
  const x = exchanges.find((e) => e.boot === boot && Object.entries(fields).every(([k, v]) => (request(e) as Record<string, unknown>)[k] === v));
  if (x === undefined) throw new Error(`no recorded request like ${JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  return decodeReply(fields.op, x.reply);
}

function command(what: string): Command {
  const c = commands.find((r) => r.what === what);
  if (c === undefined) throw new Error(`no recorded command "${what}"`);
  return c;
}

const BIG_TOKEN = 18446744073709551614n;

describe('requests', () => {
  it('re-encode byte for byte, u64 tokens and seeds included', () => {
    expect(exchanges.length).toBeGreaterThan(60);
    for (const x of exchanges) expect(encodeRequest(request(x))).toBe(x.request);
    const big = exchanges.find((x) => x.request.includes('18446744073709551615'));
    expect(big && request(big)).toMatchObject({ op: 'create-memfd', seed: 18446744073709551615n });
  });

  it('refuse a bigint that is not a u64', () => {
    expect(() => encodeRequest({ op: 'retrieve-fd', session: 's', token: 1n << 64n })).toThrow(HandoverError);
    expect(() => encodeRequest({ op: 'retrieve-fd', session: 's', token: -1n })).toThrow(/not a u64/);
    expect(encodeRequest({ op: 'retrieve-fd', session: 's', token: (1n << 64n) - 1n })).toBe('{"op":"retrieve-fd","session":"s","token":18446744073709551615}');
  });
});

describe('replies', () => {
  it('all decode, with ok where the agent said ok and a known errno where it did not', () => {
    for (const x of exchanges) {
      const r = decoded(x);
      expect(r.ok).toBe(x.reply.startsWith('{"ok":true'));
      if (!r.ok) {
        expect(ERRNO_NAMES).toContain(r.errno);
        expect(r.errnoValue).toBeGreaterThan(0);
        expect(r.message).not.toBe('');
      }
    }
  });

  it('keep u64 tokens exact as bigints and small ones as numbers', () => {
    expect(replyTo('cold', { op: 'preserve', token: BIG_TOKEN })).toMatchObject({ ok: true, token: BIG_TOKEN });
    expect(replyTo('cold', { op: 'preserve', token: 1 })).toMatchObject({ ok: true, token: 1 });
    expect(replyTo('kexec', { op: 'retrieve-fd', token: BIG_TOKEN })).toMatchObject({ ok: true, token: BIG_TOKEN, size: 1 << 20 });
    const list = replyTo('cold', { op: 'list' });
    expect(list.ok && list.sessions[0]?.tokens.map((t) => t.token)).toEqual([1, BIG_TOKEN, 3, 4, 5]);
  });

  it('carry the 7.3 errno contract as the kernel answered it', () => {
    const ioctl = (name: string) => `ioctl(${name})`;
    const cases: [Exchange['boot'], { op: Op } & Record<string, unknown>, string, string][] = [
      ['cold', { op: 'create-session', name: 'keep' }, 'ok', ''],
      ['cold', { op: 'create-session', name: '' }, 'EINVAL', ioctl('LIVEUPDATE_IOCTL_CREATE_SESSION')],
      ['cold', { op: 'create-session', name: 'x'.repeat(64) }, 'EINVAL', ioctl('LIVEUPDATE_IOCTL_CREATE_SESSION')],
      ['cold', { op: 'create-session', name: 'x'.repeat(65) }, 'EINVAL', 'request'],
      ['cold', { op: 'create-session', name: 'junk' }, 'E2BIG', ioctl('LIVEUPDATE_IOCTL_CREATE_SESSION')],
      ['cold', { op: 'create-session', name: 'small' }, 'EINVAL', ioctl('LIVEUPDATE_IOCTL_CREATE_SESSION')],
      ['cold', { op: 'get-name', reserved: 1 }, 'EINVAL', ioctl('LIVEUPDATE_SESSION_GET_NAME')],
      ['cold', { op: 'preserve', memfd: 'nosealing' }, 'EEXIST', ioctl('LIVEUPDATE_SESSION_PRESERVE_FD')],
      ['cold', { op: 'preserve', session: 'closed', memfd: 'page' }, 'EBUSY', ioctl('LIVEUPDATE_SESSION_PRESERVE_FD')],
      ['cold', { op: 'preserve', session: 'nowhere' }, 'ENOENT', 'lookup'],
      ['cold', { op: 'preserve-fd', path: '/dev/null' }, 'ENOENT', ioctl('LIVEUPDATE_SESSION_PRESERVE_FD')],
      ['cold', { op: 'preserve-fd', fd: 999 }, 'EBADF', ioctl('LIVEUPDATE_SESSION_PRESERVE_FD')],
      ['cold', { op: 'preserve-fd', path: '/nonexistent' }, 'ENOENT', 'open'],
      ['cold', { op: 'retrieve-session', name: 'unknown' }, 'ENOENT', ioctl('LIVEUPDATE_IOCTL_RETRIEVE_SESSION')],
      ['cold', { op: 'retrieve-fd', session: 'keep' }, 'EINVAL', ioctl('LIVEUPDATE_SESSION_RETRIEVE_FD')],
      ['cold', { op: 'finish', session: 'keep' }, 'EINVAL', ioctl('LIVEUPDATE_SESSION_FINISH')],
      ['cold', { op: 'write-memfd', memfd: 'sealed' }, 'EPERM', 'pwrite'],
      ['cold', { op: 'truncate', memfd: 'page' }, 'EPERM', 'ftruncate'],
      ['cold', { op: 'create-memfd', id: 'huge' }, 'ENOSYS', 'memfd_create'],
      ['cold', { op: 'no-such-op' as Op }, 'EINVAL', 'request'],
      ['kexec', { op: 'retrieve-session', name: 'closed' }, 'ENOENT', ioctl('LIVEUPDATE_IOCTL_RETRIEVE_SESSION')],
      ['kexec', { op: 'retrieve-session', name: 'keep' }, 'ok', ''],
      ['kexec', { op: 'preserve', session: 'keep' }, 'EINVAL', ioctl('LIVEUPDATE_SESSION_PRESERVE_FD')],
      ['kexec', { op: 'retrieve-fd', token: 42 }, 'ENOENT', ioctl('LIVEUPDATE_SESSION_RETRIEVE_FD')],
      ['kexec', { op: 'finish', reserved: 1 }, 'EINVAL', ioctl('LIVEUPDATE_SESSION_FINISH')],
      ['kexec', { op: 'finish', session: 'keep', reserved: undefined }, 'ok', ''],
    ];
    for (const [boot, fields, errno, call] of cases) {
      const r = replyTo(boot, fields);
      expect({ fields, got: r.ok ? 'ok' : [r.errno, r.call] }).toEqual({ fields, got: errno === 'ok' ? 'ok' : [errno, call] });
    }
    // The second RETRIEVE_SESSION of a name already retrieved: EINVAL, not ENOENT.
    const again = exchanges.filter((x) => x.boot === 'kexec' && x.request === '{"op":"retrieve-session","name":"keep"}').map(decoded);
    expect(again.map((r) => (r.ok ? 'ok' : r.errno))).toEqual(['ok', 'EINVAL']);
  });

  it('report what verify compared, and what differed', () => {
    const v = replyTo('cold', { op: 'verify', memfd: 'page', pos: 1 });
    expect(v.ok && v.match).toBe(false);
    expect(v.ok && v.mismatches.map((m) => m.field)).toEqual(['sha256', 'seals', 'pos']);
    expect(v.ok && v.mismatches[1]).toEqual({ field: 'seals', expected: ['grow'], actual: [] });
    // F_SEAL_EXEC comes back write-sealed after the kexec (reference §2.4, observed on 7.3).
    const exec = replyTo('kexec', { op: 'verify', token: 5 });
    expect(exec.ok && exec.seals).toEqual(['shrink', 'grow', 'write', 'future-write', 'exec']);
    // A sparse memfd comes back with its holes filled.
    const sparse = replyTo('kexec', { op: 'retrieve-fd', token: BIG_TOKEN });
    expect(sparse.ok && sparse.allocated).toBe(sparse.ok && sparse.size);
  });

  it('are refused when they do not fit the protocol', () => {
    const create = exchanges.find((x) => request(x).op === 'create-session');
    expect(create).toBeDefined();
    const line = create?.reply ?? '';
    expect(() => decodeReply('status', line)).toThrow(/reply to "create-session", expected "status"/);
    expect(() => decodeReply('status', 'not json')).toThrow(HandoverError);
    expect(() => decodeReply('status', '{"ok":true,"op":"status"}')).toThrow(/no "pid"/);
    expect(() => decodeReply('status', '{"ok":false,"op":"status","errno":"EWHAT","errnoValue":1,"call":"x","message":"m"}')).toThrow(/unknown errno/);
    try {
      decodeReply('list', '[1]');
    } catch (err) {
      expect(err).toMatchObject({ outcome: 'internal-error', evidence: ['[1]'] });
    }
  });

  it('name errnos by the table, with E<n> for numbers glibc has no name for', () => {
    expect(isErrno('EBUSY')).toBe(true);
    expect(isErrno('E512')).toBe(true);
    expect(isErrno('EBUSYX')).toBe(false);
    expect(isErrno(16)).toBe(false);
  });
});

describe('serve and caps lines', () => {
  it('decode the daemon start, held device and LUO-off answers', () => {
    expect(decodeServe(command('serve').stdout)).toMatchObject({ ok: true, socket: '/run/handover/agent.sock', device: '/dev/liveupdate' });
    expect(decodeServe(command('serve while held').stdout)).toMatchObject({ ok: false, errno: 'EBUSY', call: 'open(/dev/liveupdate)' });
    expect(decodeServe(command('serve, liveupdate=off').stdout)).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect(command('serve while held').exitCode).toBe(1);
  });

  it('decode the capability probe of each boot', () => {
    const cold = decodeCaps(command('caps, cold boot').stdout);
    expect(cold).toMatchObject({ release: '7.3.4', uapi: { getName: true }, device: { present: true, openable: true, errno: null } });
    expect(cold.debugfs.entries).toMatchObject({ 'out/fdt': true, 'out/finalize': false, 'in/fdt': false });
    expect(decodeCaps(command('caps while held').stdout).device).toMatchObject({ openable: false, errno: 'EBUSY' });
    const warm = decodeCaps(command('caps after kexec, no open').stdout);
    expect(warm.device.openable).toBeNull();
    expect(warm.debugfs.entries).toMatchObject({ 'out/fdt': false, 'in/fdt': true }); // no out/fdt on a KHO boot
    expect(warm.debugfs.inSubFdts).toContain('LUO');
    const off = decodeCaps(command('caps, liveupdate=off').stdout);
    expect(off.device).toMatchObject({ present: false, errno: 'ENOENT' });
    expect(off.cmdline.liveupdate).toBe('off');
    expect(() => decodeCaps(command('serve').stdout)).toThrow(/not a caps reply/);
  });

  it('ctl says when there is no daemon, and answers malformed lines in order', () => {
    const none = command('ctl with no daemon');
    expect(none.exitCode).toBe(2);
    expect(parseLine(none.stdout)).toMatchObject({ ok: false, op: 'ctl', errno: 'ENOENT', call: 'connect' });
    const mixed = command('ctl with a malformed line');
    const lines = mixed.stdout.split('\n').map((l) => parseLine(l));
    expect(mixed.exitCode).toBe(1);
    expect(lines).toMatchObject([{ ok: true, op: 'status' }, { ok: false, op: null, errno: 'EINVAL' }, { ok: false, op: null, errno: 'EINVAL' }]);
  });
});

describe('memfd contents re-derived on the host', () => {
  it('give the SHA-256 the agent reported for every memfd it created', () => {
    let checked = 0;
    for (const x of exchanges) {
      const req = request(x);
      if (req.op !== 'create-memfd') continue;
      const r = decodeReply('create-memfd', x.reply);
      if (!r.ok || req.size > 4 << 20) continue;
      expect({ id: req.id, sha256: memfdSha256(req) }).toEqual({ id: req.id, sha256: r.sha256 });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(7);
  });

  it('leave holes where the sparse pattern skips pages', () => {
    const spec = { size: 64 * 4096, seed: 3, sparse: true };
    const bytes = memfdContents(spec);
    for (let page = 0; page < 64; page++) {
      const p = bytes.subarray(page * 4096, (page + 1) * 4096);
      expect(p.some((b) => b !== 0)).toBe(patternPageWritten(3, page));
    }
    // The same offsets hold the same bytes whether the file is sparse or not.
    const dense = memfdContents({ size: spec.size, seed: 3 });
    const written = Array.from({ length: 64 }, (_, i) => i).filter((i) => patternPageWritten(3, i));
    expect(written.length).toBeGreaterThan(4);
    for (const i of written) expect(bytes.subarray(i * 4096, (i + 1) * 4096).equals(dense.subarray(i * 4096, (i + 1) * 4096))).toBe(true);
    // A tail shorter than a word is cut, not padded.
    expect(memfdContents({ size: 13, seed: 9 }).equals(memfdContents({ size: 16, seed: 9 }).subarray(0, 13))).toBe(true);
  });
});
