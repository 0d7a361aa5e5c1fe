// The connect loop's failure kinds, on a real socket: a port that accepts and never speaks SSH.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import { ConnectError, connectWithRetry, openWithBanner, SshNotReadyError } from '../../orchestrator/guest/connect.ts';
import { generateRunKeys } from '../../orchestrator/guest/keys.ts';

describe('connecting to a guest that never answers', () => {
  let server: Server;
  let port = 0;
  const socks: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => socks.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of socks) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('a missing banner is a transient banner timeout', async () => {
    const err: unknown = await openWithBanner(port, 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ kind: 'transient', timeout: 'banner' });
  });

  it('the deadline running out is SshNotReadyError, an ssh-failed HandoverError', async () => {
    const err: unknown = await connectWithRetry({ port, keys: generateRunKeys() }, { deadlineMs: 300, bannerTimeoutMs: 50, retryDelayMs: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshNotReadyError);
    expect(err).toBeInstanceOf(HandoverError);
    expect((err as HandoverError).outcome).toBe('ssh-failed');
  });
});
