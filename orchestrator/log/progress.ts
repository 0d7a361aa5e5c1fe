/**
 * Live progress for long steps. On a TTY: one line redrawn in place. Otherwise (CI logs): a plain
 * line when a phase starts and then at most one every `intervalMs`, so logs stay readable.
 */
export interface Progress {
  phase(name: string): void;
  tick(detail: string): void;
  info(line: string): void;
  end(): void;
}

export function createProgress(opts: { stream?: NodeJS.WriteStream; tty?: boolean; intervalMs?: number; quiet?: boolean } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? stream.isTTY;
  const interval = opts.intervalMs ?? (tty ? 100 : 15_000);
  let phase = '';
  let phaseStart = Date.now();
  let lastDraw = 0;
  let drawn = false;
  const clear = () => {
    if (tty && drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  const elapsed = () => formatSeconds((Date.now() - phaseStart) / 1000);
  if (opts.quiet === true) return { phase: () => {}, tick: () => {}, info: () => {}, end: () => {} };
  return {
    phase(name) {
      clear();
      phase = name;
      phaseStart = Date.now();
      // Off a TTY a phase shows up with its first tick: quick phases (a cache hit) stay silent.
      lastDraw = 0;
    },
    tick(detail) {
      const now = Date.now();
      if (now - lastDraw < interval) return;
      lastDraw = now;
      const text = `[${phase} ${elapsed()}] ${detail}`;
      if (tty) {
        stream.write(`\r\x1b[K${text.slice(0, (stream.columns || 100) - 1)}`);
        drawn = true;
      } else {
        stream.write(`${text}\n`);
      }
    },
    info(line) {
      clear();
      stream.write(`${line}\n`);
    },
    end() {
      clear();
    },
  };
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
