import { watch } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough } from 'node:stream';

/**
 * Follows QEMU's serial log file as a stream. The serial port writes to a regular file, which
 * never blocks: through a socket, QEMU's 16550 drops a byte after a few refused writes whenever
 * the reader is slow for a moment (every byte is its own socket buffer entry), and a dropped byte
 * can hide a panic title or a boot banner. inotify wakes us at once; a short poll covers
 * coalesced events.
 */
export async function tailSerialLog(path: string): Promise<{ stream: PassThrough; stop(): Promise<void> }> {
  const fh = await open(path, 'a+');
  const stream = new PassThrough();
  const buf = Buffer.alloc(64 * 1024);
  let pos = 0;
  let reading: Promise<void> | undefined;
  let again = false;
  const drain = async (): Promise<void> => {
    do {
      again = false;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        stream.write(Buffer.from(buf.subarray(0, bytesRead)));
      }
    } while (again);
  };
  const readMore = (): Promise<void> => {
    if (reading !== undefined) {
      again = true;
      return reading;
    }
    reading = drain().finally(() => {
      reading = undefined;
    });
    return reading;
  };
  const watcher = watch(path, () => void readMore().catch(() => {}));
  watcher.on('error', () => {});
  const poll = setInterval(() => void readMore().catch(() => {}), 100);
  let stopped: Promise<void> | undefined;
  return {
    stream,
    stop: () =>
      (stopped ??= (async () => {
        watcher.close();
        clearInterval(poll);
        await readMore().catch(() => {});
        stream.end();
        await fh.close();
      })()),
  };
}
