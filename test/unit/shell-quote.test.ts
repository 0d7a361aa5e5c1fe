import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { quoteArg, quoteArgv } from '../../orchestrator/guest/shell-quote.ts';

const NASTY = [
  '',
  ' ',
  '  two  spaces  ',
  "'",
  "''",
  "it's",
  "'\\''",
  '"',
  '"double" and \'single\'',
  '\\',
  '\\n',
  '$HOME',
  '${HOME}',
  '$(id)',
  '`id`',
  '$((1+1))',
  '*',
  '?',
  '[a-z]*',
  '~',
  '~root/x',
  'a b',
  'line1\nline2\n',
  '\t\r\x01\x1b[31m\x7f',
  '!',
  '!!',
  '#not a comment',
  ';',
  '&&',
  '||',
  '|',
  '&',
  '>out',
  '<in',
  '2>&1',
  '{a,b}',
  '(subshell)',
  '-n',
  '-e',
  '--',
  'x=y',
  'if',
  'then',
  '}',
  'ü ✓ 日本',
  'a'.repeat(5000),
  "'".repeat(50),
];

// Every POSIX shell the guest or host might use: busybox ash is what dropbear runs in the guest.
const SHELLS = [
  ['/bin/sh', '-c'],
  ['/bin/bash', '--posix', '-c'],
  ['/bin/busybox', 'sh', '-c'],
].filter(([bin]) => bin !== undefined && existsSync(bin));

describe('quoteArg / quoteArgv', () => {
  it('leaves plainly safe words alone and quotes everything else', () => {
    expect(quoteArg('uname')).toBe('uname');
    expect(quoteArg('/proc/sys/kernel/random/boot_id')).toBe('/proc/sys/kernel/random/boot_id');
    expect(quoteArg('--initrd=/tmp/x')).toBe("'--initrd=/tmp/x'");
    expect(quoteArg('')).toBe("''");
    expect(quoteArg("it's")).toBe("'it'\\''s'");
    expect(quoteArgv(['ls', '-l', 'a b'])).toBe("ls -l 'a b'");
  });

  it('rejects NUL bytes and empty argv', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => quoteArgv([])).toThrow(/empty/);
  });

  it.each(SHELLS)('round-trips nasty strings through %s', async (...shell) => {
    const [bin, ...flags] = shell as [string, ...string[]];
    const cmd = quoteArgv(['printf', '%s\\0', ...NASTY]);
    const { stdout } = await execa(bin, [...flags, cmd], { encoding: 'buffer', env: { HOME: '/nonexistent' } });
    const got = Buffer.from(stdout).toString('utf8').split('\0').slice(0, -1);
    expect(got).toEqual(NASTY);
  });

  it.each(SHELLS)('keeps syntax-looking first words as commands in %s', async (...shell) => {
    const [bin, ...flags] = shell as [string, ...string[]];
    for (const word of ['x=y', 'if', '{', '!', 'a b']) {
      const r = await execa(bin, [...flags, quoteArgv([word, 'arg'])], { reject: false });
      expect(r.exitCode, `${word}: ${r.stderr}`).toBe(127); // "not found", not a parse or assignment
    }
  });
});
