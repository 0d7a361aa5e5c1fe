import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseUsernetPort } from '../../orchestrator/vm/qemu.ts';
import { QmpClient, QmpError } from '../../orchestrator/vm/qmp.ts';

// QEMU 7.2's side of a real session, recorded verbatim on this machine (see the VM-layer notes):
// greeting, replies keyed by command, and the event system_reset produced under -no-reboot.
const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}';
const REPLIES: Record<string, (id: number) => string[]> = {
  qmp_capabilities: (id) => [`{"return": {}, "id": ${id}}`],
  'human-monitor-command': (id) => [
    `{"return": "Hub -1 (n0):\\r\\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\\r\\n  TCP[HOST_FORWARD]   8       127.0.0.1 43227       10.0.2.15    22     0     0\\r\\n", "id": ${id}}`,
  ],
  'no-such-command': (id) => [
    `{"id": ${id}, "error": {"class": "CommandNotFound", "desc": "The command no-such-command has not been found"}}`,
  ],
  'query-status': (id) => [`{"return": {"status": "running", "singlestep": false, "running": true}, "id": ${id}}`],
  system_reset: (id) => [
    '{"timestamp": {"seconds": 1795579300, "microseconds": 661077}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-system-reset"}}',
    `{"return": {}, "id": ${id}}`,
  ],
};

describe('QMP client against a recorded QEMU 7.2 session', () => {
  let dir: string;
  let server: Server;
  let peer: Promise<Socket>;
  let client: QmpClient | undefined;

  // Plays QEMU: greets, answers from the recording, never answers 'stall', resets on 'quit'.
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'handover-qmp-test-'));
    server = createServer();
    // TCP on loopback rather than a unix socket: only TCP can be reset (RST -> ECONNRESET) on purpose.
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    peer = new Promise((resolve) =>
      server.once('connection', (s) => {
        s.on('error', () => {});
        s.write(`${GREETING}\n`);
        let buf = '';
        s.on('data', (b: Buffer) => {
          buf += b.toString();
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const msg = JSON.parse(buf.slice(0, i)) as { execute: string; id: number };
            buf = buf.slice(i + 1);
            if (msg.execute === 'quit') s.resetAndDestroy();
            for (const line of REPLIES[msg.execute]?.(msg.id) ?? []) s.write(`${line}\n`);
          }
        });
        resolve(s);
      }),
    );
  });
  afterEach(async () => {
    client?.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const open = async (): Promise<QmpClient> => {
    const sock = createConnection((server.address() as AddressInfo).port, '127.0.0.1');
    client = await QmpClient.open(sock, 2000);
    return client;
  };

  it('negotiates capabilities, runs commands and reads the forwarded SSH port', async () => {
    const qmp = await open();
    await expect(qmp.execute('query-status')).resolves.toEqual({ status: 'running', singlestep: false, running: true });
    expect(parseUsernetPort(await qmp.hmp('info usernet'))).toBe(43227);
  });

  it('turns a QMP error into a QmpError with its class', async () => {
    const qmp = await open();
    const err: unknown = await qmp.execute('no-such-command').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).errorClass).toBe('CommandNotFound');
  });

  it('delivers and records events, with the SHUTDOWN reason', async () => {
    const qmp = await open();
    const reasons: unknown[] = [];
    qmp.on('SHUTDOWN', (ev) => reasons.push(ev.data.reason));
    await qmp.execute('system_reset');
    expect(reasons).toEqual(['host-qmp-system-reset']);
    expect(qmp.events.map((e) => e.event)).toEqual(['SHUTDOWN']);
  });

  it('survives QEMU resetting the socket at quit: pending and later commands reject, nothing throws', async () => {
    const qmp = await open();
    const stalled = qmp.execute('stall', undefined, 30_000).catch((e: unknown) => e);
    await expect(qmp.execute('quit', undefined, 30_000)).rejects.toThrow(/QMP quit: /);
    expect(await stalled).toBeInstanceOf(Error);
    expect(qmp.closed).toBe(true);
    await expect(qmp.execute('query-status')).rejects.toThrow();
    let closedCalled = false;
    qmp.onClosed(() => (closedCalled = true));
    expect(closedCalled).toBe(true);
  });

  it('times a command out', async () => {
    const qmp = await open();
    await expect(qmp.execute('stall', undefined, 100)).rejects.toThrow('QMP stall: no reply within 100 ms');
    // The session stays usable after a timeout.
    await expect(qmp.execute('query-status')).resolves.toMatchObject({ running: true });
    await peer;
  });

  it('fails open() when nothing greets', async () => {
    const silent = createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => silent.listen(join(dir, 'silent'), r));
    const sock = createConnection(join(dir, 'silent'));
    await expect(QmpClient.open(sock, 100)).rejects.toThrow('no QMP greeting within 100 ms');
    sock.destroy();
    silent.close();
  });
});

describe('info usernet parsing', () => {
  it('ignores forwards to other guest ports', () => {
    expect(parseUsernetPort('  TCP[HOST_FORWARD]   8       127.0.0.1 40000       10.0.2.15    80     0     0')).toBeUndefined();
  });
});
