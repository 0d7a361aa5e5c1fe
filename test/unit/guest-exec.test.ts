// Guest.exec against a loopback ssh2 Server (127.0.0.1, started here) that ends each command in
// a chosen shape, so how a result is taken when the connection goes away is tested on any host.

import type { AddressInfo } from 'node:net';
import ssh2, { type Connection, type ServerChannel } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { Guest } from '../../orchestrator/guest/guest.ts';
import { generateRunKeys } from '../../orchestrator/guest/keys.ts';
import { ChannelGone, LineChannel } from '../../orchestrator/guest/line-channel.ts';
import { rejection } from '../helpers/rejection.ts';

const { Server } = ssh2;

type Shape = (stream: ServerChannel, conn: Connection, sock: { destroy(): void }) => void;

const keys = generateRunKeys('guest-exec-test');

async function serve(shape: Shape): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new Server({ hostKeys: [keys.host.privateKey] }, (conn) => {
    // The raw socket: ssh2 keeps it on the connection as _sock.
    const sock = (conn as unknown as { _sock: { destroy(): void } })._sock;
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('session', (accept) => {
      accept().on('exec', (acc) => {
        const stream = acc();
        shape(stream, conn, sock);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const BOOT_ID = '0b9e6c8a-4d7e-4b8e-9d0f-6a1c2b3d4e5f';
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

async function guestFor(shape: Shape): Promise<Guest> {
  const s = await serve(shape);
  const guest = await Guest.waitReady({ port: s.port, keys, deadlineMs: 10_000 });
  cleanup.push(async () => {
    await guest.close().catch(() => {});
    await s.close();
  });
  return guest;
}

describe('Guest.exec when the connection goes away', () => {
  // The flake: ssh2 parses the exec's reply, the output, the exit status and the close from one
  // read and emits 'exit' at once; a listener attached after awaiting the channel missed it, and
  // a healthy command ended "connection lost". The server here writes them all in one tick.
  it('a quick command: reply, output, exit status and close in one read', async () => {
    const g = await guestFor((stream) => {
      stream.write(`${BOOT_ID}\n`);
      stream.exit(0);
      stream.end();
    });
    expect(await g.bootId()).toBe(BOOT_ID);
  });

  it('exit status in a later segment than the exec reply', async () => {
    const g = await guestFor((stream) => {
      setTimeout(() => {
        stream.write(`${BOOT_ID}\n`);
        stream.exit(0);
        stream.end();
      }, 100);
    });
    expect(await g.bootId()).toBe(BOOT_ID);
  });

  it('data and exit status arrived, then the socket is destroyed before the channel closes', async () => {
    const g = await guestFor((stream, _conn, sock) => {
      stream.write(`${BOOT_ID}\n`);
      stream.exit(0);
      setTimeout(() => sock.destroy(), 50);
    });
    expect(await g.bootId()).toBe(BOOT_ID);
  });

  it('data and EOF arrived, then the socket is destroyed with no exit status: connection lost', async () => {
    const g = await guestFor((stream, _conn, sock) => {
      stream.write(`${BOOT_ID}\n`);
      stream.eof();
      setTimeout(() => sock.destroy(), 50);
    });
    const err = await rejection(g.exec(['cat', '/proc/sys/kernel/random/boot_id']));
    expect(err.outcome).toBe('ssh-failed');
    expect(err.message).toContain('connection lost while running');
  });

  it('a command killed by a signal reports the signal, even in one read', async () => {
    const g = await guestFor((stream) => {
      stream.exit('KILL', false, '');
      stream.end();
    });
    expect(await g.exec(['sleep', '9'])).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  });
});

describe('Guest.execDetached', () => {
  it('a start that fails is an error, even when its exit status comes in one read', async () => {
    const g = await guestFor((stream) => {
      stream.stderr.write('sh: setsid: not found\n');
      stream.exit(127);
      stream.end();
    });
    const err = await rejection(g.execDetached(['kexec', '-e']));
    expect(err.outcome).toBe('step-failed');
    expect(err.message).toContain('exited 127');
  });

  it('a guest that vanishes before the exit status is what kexec -e is for: no error', async () => {
    const g = await guestFor((_stream, _conn, sock) => {
      setTimeout(() => sock.destroy(), 20);
    });
    await g.execDetached(['kexec', '-e']);
  });

  it('a guest that goes silent without a close is done as soon as `until` (the new banner) says so', async () => {
    // kexec under slirp: no exit status, no close, no FIN; only the console shows the new kernel.
    const g = await guestFor(() => {});
    const t0 = performance.now();
    await g.execDetached(['kexec', '-e'], { until: new Promise((resolve) => setTimeout(resolve, 100)) });
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('LineChannel (the agent’s ctl --stream)', () => {
  /** Answers each request line with {"ok":true,"n":<line number>}, like the daemon; `stopAfter` lines then exits as ctl does when the daemon goes. */
  const daemonLike = (execs: string[], stopAfter = Infinity): Shape => (stream) => {
    execs.push('exec');
    let n = 0;
    let buf = '';
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const _ of lines) {
        n += 1;
        stream.write(`{"ok":true,"n":${n}}\n`);
        if (n === stopAfter) {
          stream.write('{"ok":false,"op":"ctl","errno":"EPIPE","errnoValue":32,"call":"read","message":"the agent closed the connection"}\n');
          stream.exit(2);
          stream.end();
          return;
        }
      }
    });
  };

  it('carries every exchange on one exec, replies in order', async () => {
    const execs: string[] = [];
    const g = await guestFor(daemonLike(execs));
    const ch = new LineChannel(await g.openChannel(['handover-agent', 'ctl', '--stream']));
    expect((await ch.exchange(['{"op":"status"}'], 5000)).replies).toEqual(['{"ok":true,"n":1}']);
    expect((await ch.exchange(['{"op":"a"}', '{"op":"b"}', '{"op":"c"}'], 5000)).replies).toEqual(['{"ok":true,"n":2}', '{"ok":true,"n":3}', '{"ok":true,"n":4}']);
    expect(execs).toHaveLength(1);
    expect(ch.open).toBe(true);
  });

  it('a channel that ends before every reply came fails the exchange with what did come', async () => {
    const g = await guestFor(daemonLike([], 2));
    const ch = new LineChannel(await g.openChannel(['handover-agent', 'ctl', '--stream']));
    const err = await rejection(ch.exchange(['{"op":"a"}', '{"op":"b"}', '{"op":"c"}', '{"op":"d"}'], 5000));
    expect(err).toBeInstanceOf(ChannelGone);
    expect(err.outcome).toBe('step-failed');
    expect((err as ChannelGone).lines.at(-1)).toContain('"op":"ctl"');
    expect(ch.open).toBe(false);
    await expect(ch.exchange(['{"op":"e"}'], 5000)).rejects.toBeInstanceOf(ChannelGone);
  });

  it('a silent channel times out, and is not reused', async () => {
    const g = await guestFor(() => {});
    const ch = new LineChannel(await g.openChannel(['handover-agent', 'ctl', '--stream']));
    const err = await rejection(ch.exchange(['{"op":"status"}'], 200));
    expect(err.message).toMatch(/1 of 1 replies missing after 200 ms/);
    expect(ch.open).toBe(false);
  });
});
