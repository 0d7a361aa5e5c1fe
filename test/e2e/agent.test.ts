// The guest agent end to end on the real default 7.3 kernel under QEMU (TCG): memfds preserved in
// a LUO session survive a kexec_file_load kexec byte for byte, the kernel's errno contract comes
// back through the agent, a holder that exits takes its session with it, and, as the negative
// control, a legacy kexec_load kexec loses the session (observed as ENOENT, so these tests can fail).

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import {
  type Agent,
  type AgentOk,
  type AgentResult,
  agentCaps,
  expectOk,
  memfdContents,
  memfdSha256,
  type MemfdSpec,
  serveAgent,
  startAgent,
} from '../../orchestrator/guest/agent.ts';
import { buildKernel, type KernelBuild } from '../../orchestrator/kernel/build.ts';
import { fireKexec, loadKexec } from '../../orchestrator/machine/kexec.ts';
import { type Machine, startMachine } from '../../orchestrator/machine/start.ts';

// Large enough to cross folio and chunk boundaries, small enough for TCG and for the host's
// BigInt re-derivation of the contents.
const MEMFDS = {
  page: { id: 'page', size: 4096, seed: 1 },
  mib: { id: 'mib', size: 3 << 20, seed: 2, pos: 12345 },
  sparse: { id: 'sparse', size: 2 << 20, seed: 3, sparse: true },
  sealed: { id: 'sealed', size: 65536 + 100, seed: 4, seals: ['seal', 'shrink', 'grow', 'write'] },
  tampered: { id: 'tampered', size: 8192, seed: 5 },
} satisfies Record<string, MemfdSpec>;
const TOKENS = { page: 1, mib: 2, sparse: 3, sealed: 4, tampered: 0xfffffffffffffff0n } as const;
const TAMPER = { offset: 5000, data: 'written after PRESERVE_FD' };
// Set HANDOVER_E2E_LARGE=1 to also carry a quarter of guest RAM (256 MiB of 1 GiB) across.
const LARGE = process.env.HANDOVER_E2E_LARGE === '1';

let kernel: KernelBuild;
const timings: Record<string, number> = {};

beforeAll(async () => {
  kernel = await buildKernel();
});

afterAll(() => {
  console.log(`agent timings (ms):\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${Math.round(v)}`).join('\n')}`);
});

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[label] = performance.now() - t0;
  }
}

function failure<O extends AgentResult['op']>(r: AgentResult<O>): { errno: string; call: string } {
  expect(r.ok, JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).toBe(false);
  return r.ok ? { errno: '', call: '' } : { errno: r.errno, call: r.call };
}

describe('kexec_file_load carries a LUO session', () => {
  let m: Machine;
  let agent: Agent;
  const created = new Map<string, AgentOk<'create-memfd'>>();

  beforeAll(async () => {
    m = await startMachine({ kernel, accel: 'tcg' });
  });

  afterAll(async () => {
    await m?.stop();
  });

  it('reports the capabilities of a cold boot', async () => {
    const caps = await agentCaps(m.guest);
    expect(caps.release).toBe(kernel.metadata.release);
    expect(caps.device).toMatchObject({ present: true, chardev: true, mode: 0o600, openable: true, errno: null });
    expect(caps.uapi.getName).toBe(true);
    expect(caps.cmdline.liveupdate).toBe('on');
    expect(caps.debugfs.kho).toBe(true);
    // 7.1+: no finalize; a cold boot has an outgoing FDT and nothing incoming.
    expect(caps.debugfs.entries).toMatchObject({ 'out/fdt': true, 'out/finalize': false, 'in/fdt': false });
    expect(caps.debugfs.outSubFdts).toContain('LUO');
  });

  it('a holder that exits before the kexec takes its session with it', async () => {
    const doomed = await startAgent(m.guest);
    const r = await doomed.batch([
      { op: 'create-session', name: 'doomed' },
      { op: 'create-memfd', id: 'd', size: 4096, seed: 9 },
      { op: 'preserve', session: 'doomed', token: 1, memfd: 'd' },
      { op: 'exit' },
    ]);
    expect(r.map((x) => x.ok)).toEqual([true, true, true, true]);
    expect(r[3]).toMatchObject({ closedSessions: 1, closedMemfds: 1 });
    // Gone means gone: the next request is a transport failure, not a reply.
    await expect(doomed.status()).rejects.toSatisfy((e) => e instanceof HandoverError && e.outcome === 'step-failed');
  });

  it('holds /dev/liveupdate alone', async () => {
    agent = await timed('serve', () => startAgent(m.guest));
    expect(agent.served.socket).toBe('/run/handover/agent.sock');
    const second = await serveAgent(m.guest);
    expect(second).toMatchObject({ ok: false, errno: 'EBUSY', call: 'open(/dev/liveupdate)' });
    expect((await agentCaps(m.guest)).device).toMatchObject({ openable: false, errno: 'EBUSY' });
  });

  it('answers requests in one SSH exec each, or many in one batch', async () => {
    for (let i = 0; i < 5; i++) await timed(`single request #${i + 1}`, () => agent.status().then(expectOk));
    const many = await timed('batch of 20 requests', () => agent.batch(Array.from({ length: 20 }, () => ({ op: 'status' as const }))));
    expect(many.every((r) => r.ok)).toBe(true);
  });

  it('creates memfds whose contents the host re-derives', async () => {
    const r = await timed('create 5 memfds (~5 MiB)', () =>
      agent.batch([
        { op: 'create-memfd', ...MEMFDS.page },
        { op: 'create-memfd', ...MEMFDS.mib },
        { op: 'create-memfd', ...MEMFDS.sparse },
        { op: 'create-memfd', ...MEMFDS.sealed },
        { op: 'create-memfd', ...MEMFDS.tampered },
      ]),
    );
    for (const [i, spec] of Object.values(MEMFDS).entries()) {
      const c = expectOk(r[i] as AgentResult<'create-memfd'>);
      expect(c.size).toBe(spec.size);
      expect(c.sha256).toBe(memfdSha256(spec));
      created.set(spec.id, c);
    }
    expect(created.get('sealed')?.seals).toEqual(['seal', 'shrink', 'grow', 'write']);
    expect(created.get('mib')?.pos).toBe(MEMFDS.mib.pos);
    const sparse = created.get('sparse');
    expect(sparse?.allocated).toBeLessThan(MEMFDS.sparse.size / 2); // holes really are holes
  });

  it('gives back the kernel errno contract', async () => {
    const [keep, dupName, empty, unterminated, other] = await agent.batch([
      { op: 'create-session', name: 'keep' },
      { op: 'create-session', name: 'keep' },
      { op: 'create-session', name: '' },
      { op: 'create-session', name: 'n'.repeat(64) },
      { op: 'create-session', name: 'closed' },
    ]);
    expect(keep).toMatchObject({ ok: true, direction: 'outgoing' });
    expect(failure(dupName)).toEqual({ errno: 'EEXIST', call: 'ioctl(LIVEUPDATE_IOCTL_CREATE_SESSION)' });
    expect(failure(empty).errno).toBe('EINVAL');
    expect(failure(unterminated).errno).toBe('EINVAL');
    expect(other.ok).toBe(true);

    const preserved = await timed('preserve 5 memfds', () =>
      agent.batch([
        { op: 'preserve', session: 'keep', token: TOKENS.page, memfd: 'page' },
        { op: 'preserve', session: 'keep', token: TOKENS.mib, memfd: 'mib' },
        // LUO holds its own reference: the agent's fd can go right away.
        { op: 'preserve', session: 'keep', token: TOKENS.sparse, memfd: 'sparse', closeMemfd: true },
        { op: 'preserve', session: 'keep', token: TOKENS.sealed, memfd: 'sealed' },
        { op: 'preserve', session: 'keep', token: TOKENS.tampered, memfd: 'tampered' },
      ]),
    );
    expect(preserved.map((r) => r.ok)).toEqual([true, true, true, true, true]);

    const [, dupToken, twice, devNull, badFd, unknown, wrongKind, grow, gname] = await agent.batch([
      { op: 'create-memfd', id: 'spare', size: 4096 },
      { op: 'preserve', session: 'keep', token: TOKENS.page, memfd: 'spare' },
      { op: 'preserve', session: 'closed', token: 1, memfd: 'page' },
      { op: 'preserve-fd', session: 'keep', token: 100, path: '/dev/null' },
      { op: 'preserve-fd', session: 'keep', token: 101, fd: 999 },
      { op: 'retrieve-session', name: 'no-such-session' },
      { op: 'retrieve-fd', session: 'keep', token: TOKENS.page },
      { op: 'truncate', memfd: 'page', size: 8192 },
      { op: 'get-name', session: 'keep' },
    ]);
    expect(failure(dupToken)).toEqual({ errno: 'EEXIST', call: 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)' });
    expect(failure(twice)).toEqual({ errno: 'EBUSY', call: 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)' }); // same inode, other session
    expect(failure(devNull)).toEqual({ errno: 'ENOENT', call: 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)' }); // no handler
    expect(failure(badFd).errno).toBe('EBADF');
    expect(failure(unknown)).toEqual({ errno: 'ENOENT', call: 'ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)' });
    expect(failure(wrongKind).errno).toBe('EINVAL'); // RETRIEVE_FD on an outgoing session
    expect(failure(grow)).toEqual({ errno: 'EPERM', call: 'ftruncate' }); // a preserved memfd's size is frozen
    expect(gname).toMatchObject({ ok: true, name: 'keep' });

    // Written after PRESERVE_FD, within the size: the same pinned folios go across.
    expectOk(await agent.writeMemfd({ memfd: 'tampered' }, TAMPER.data, TAMPER.offset));
    // Closed before the kexec: its files are unpreserved, it must not arrive.
    expectOk(await agent.closeSession('closed'));
    const list = expectOk(await agent.list());
    expect(list.sessions.map((s) => s.name)).toEqual(['keep']);
    expect(list.sessions[0]?.tokens.map((t) => t.token)).toEqual(Object.values(TOKENS));
  });

  it('carries every memfd across the kexec byte for byte, then FINISH succeeds', async () => {
    if (LARGE) {
      const big = await timed('create-memfd 256 MiB (fill + hash)', () => agent.createMemfd({ id: 'big', size: 256 << 20, seed: 7 }).then(expectOk));
      created.set('big', big);
      expectOk(await agent.preserve('keep', 7, 'big'));
    }
    await loadKexec(m);
    const k = await fireKexec(m, { expectRelease: kernel.metadata.release });
    timings['kexec blackout'] = k.blackoutMs;
    expect(k.boot).toBe(2);

    agent = await timed('serve after kexec', () => startAgent(m.guest));
    const caps = await agentCaps(m.guest, { open: false });
    expect(caps.debugfs.entries['in/fdt']).toBe(true);

    const [doomed, closed, keep] = await agent.batch([
      { op: 'retrieve-session', name: 'doomed' },
      { op: 'retrieve-session', name: 'closed' },
      { op: 'retrieve-session', name: 'keep' },
    ]);
    expect(failure(doomed)).toEqual({ errno: 'ENOENT', call: 'ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)' });
    expect(failure(closed).errno).toBe('ENOENT');
    expect(keep).toMatchObject({ ok: true, name: 'keep', direction: 'incoming' });

    const want = (id: keyof typeof MEMFDS) => {
      const c = created.get(id);
      if (c === undefined) throw new Error(`memfd ${id} was not created`);
      return { size: c.size, sha256: c.sha256, seals: (c.seals ?? []).filter((s) => !s.startsWith('0x')) as ('seal' | 'shrink' | 'grow' | 'write')[] };
    };
    const ids = ['page', 'mib', 'sparse', 'sealed'] as const;
    const verified = await timed('retrieve-fd + verify 4 memfds', () =>
      agent.batch(ids.flatMap((id) => [
        { op: 'retrieve-fd' as const, session: 'keep', token: TOKENS[id] },
        { op: 'verify' as const, session: 'keep', token: TOKENS[id], ...want(id) },
      ])),
    );
    for (const [i, id] of ids.entries()) {
      expect(verified[2 * i]?.ok, id).toBe(true);
      const v = expectOk(verified[2 * i + 1] as AgentResult<'verify'>);
      expect({ id, match: v.match, mismatches: v.mismatches }).toEqual({ id, match: true, mismatches: [] });
    }
    const v = (i: number) => expectOk(verified[2 * i + 1] as AgentResult<'verify'>);
    expect(v(1).pos).toBe(MEMFDS.mib.pos); // f_pos is preserved too
    expect(v(2).allocated).toBe(MEMFDS.sparse.size); // LUO filled the holes
    expect(v(3).seals).toEqual(['seal', 'shrink', 'grow', 'write']);

    // The check can fail: the memfd written after PRESERVE_FD no longer matches its creation hash,
    // and matches the host's own hash of the modified bytes instead.
    const t = expectOk(await agent.retrieveFd('keep', TOKENS.tampered));
    expect(t.token).toBe(TOKENS.tampered);
    const tampered = expectOk(await agent.verify({ session: 'keep', token: TOKENS.tampered, ...want('tampered') }));
    expect(tampered.match).toBe(false);
    expect(tampered.mismatches.map((x) => x.field)).toEqual(['sha256']);
    const bytes = memfdContents(MEMFDS.tampered);
    bytes.write(TAMPER.data, TAMPER.offset);
    expect(tampered.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));

    if (LARGE) {
      const big = created.get('big');
      const r = await timed('retrieve + verify 256 MiB', () =>
        agent.batch([
          { op: 'retrieve-fd', session: 'keep', token: 7 },
          { op: 'verify', session: 'keep', token: 7, size: big?.size ?? 0, sha256: big?.sha256 ?? '' },
        ]),
      );
      expect(r[1]).toMatchObject({ ok: true, match: true });
    }

    const [reserved, fin, again, after] = await agent.batch([
      { op: 'finish', session: 'keep', reserved: 1 },
      { op: 'finish', session: 'keep' },
      { op: 'finish', session: 'keep' },
      { op: 'retrieve-fd', session: 'keep', token: TOKENS.page },
    ]);
    expect(failure(reserved)).toEqual({ errno: 'EINVAL', call: 'ioctl(LIVEUPDATE_SESSION_FINISH)' }); // 7.3
    expect(fin.ok).toBe(true);
    expect(again.ok).toBe(true); // idempotent
    expect(failure(after).errno).toBe('ENOENT'); // nothing left to retrieve
    // The retrieved fds outlive FINISH.
    expect(expectOk(await agent.verify({ session: 'keep', token: TOKENS.page, ...want('page') })).match).toBe(true);
  });
});

describe('negative control: kexec_load (legacy) drops the handover', () => {
  let m: Machine;

  beforeAll(async () => {
    m = await startMachine({ kernel, accel: 'tcg' });
  });

  afterAll(async () => {
    await m?.stop();
  });

  it('loses a session that kexec_file_load would have carried', async () => {
    const agent = await startAgent(m.guest);
    const before = await agent.batch([
      { op: 'create-session', name: 'keep' },
      { op: 'create-memfd', ...MEMFDS.page },
      { op: 'preserve', session: 'keep', token: 1, memfd: 'page' },
    ]);
    expect(before.map((r) => r.ok)).toEqual([true, true, true]);

    await loadKexec(m, { syscall: 'legacy' });
    await fireKexec(m, { expectRelease: kernel.metadata.release });

    const after = await startAgent(m.guest);
    const caps = await agentCaps(m.guest, { open: false });
    expect(caps.debugfs.entries['in/fdt']).toBe(false); // no KHO data reached the new kernel
    expect(failure(await after.retrieveSession('keep'))).toEqual({ errno: 'ENOENT', call: 'ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)' });
  });
});
