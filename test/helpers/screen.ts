/**
 * A minimal terminal for checking in-place redraws: applies text with the few escape codes the
 * live status writes (cursor up `ESC[nA`, clear line `ESC[K`, clear below `ESC[J`, `\r`, `\n`)
 * and gives back what is left on the screen. Any other escape code is an error: output that uses
 * codes this does not know about is not checked, so it fails loudly.
 */
export function screenOf(text: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (ch: string) => {
    const line = rows[row] ?? '';
    rows[row] = line.padEnd(col).slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\x1b') {
      // eslint-disable-next-line no-control-regex -- escape codes are what this parses
      const m = /^\x1b\[(?:(\d*)A|K|J)/.exec(text.slice(i));
      if (m === null) throw new Error(`unknown escape at ${i}: ${JSON.stringify(text.slice(i, i + 8))}`);
      const code = m[0].at(-1);
      if (code === 'A') row = Math.max(0, row - (m[1] === undefined || m[1] === '' ? 1 : Number(m[1])));
      else if (code === 'K') rows[row] = (rows[row] ?? '').slice(0, col);
      else {
        rows.length = row + 1;
        rows[row] = (rows[row] ?? '').slice(0, col);
      }
      i += m[0].length - 1;
    } else if (ch === '\r') {
      col = 0;
    } else if (ch === '\n') {
      row++;
      col = 0;
      if (rows[row] === undefined) rows[row] = '';
    } else {
      put(ch);
    }
  }
  // The cursor's empty last line is not content.
  while (rows.length > 0 && rows.at(-1) === '') rows.pop();
  return rows;
}
