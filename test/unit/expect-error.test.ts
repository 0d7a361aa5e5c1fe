// expect_error is satisfied only by the kernel's errno from the step's own call: on agent replies
// recorded from a real 7.3 guest (test/fixtures/agent/agent-7.3.jsonl).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentFailure, AgentResult } from '../../orchestrator/guest/agent-protocol.ts';
import type { Step } from '../../orchestrator/scenario/schema.ts';
import { expectOk } from '../../orchestrator/scenario/steps.ts';

const recorded = readFileSync(join(resolve(import.meta.dirname, '../fixtures/agent'), 'agent-7.3.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => JSON.parse(l) as { kind: string; request?: string; reply?: string })
  .filter((x) => x.kind === 'exchange')
  .map((x) => ({ request: JSON.parse(x.request ?? '{}') as { op: string }, reply: JSON.parse(x.reply ?? '{}') as AgentResult }));
/** The first recorded failure of `op` whose call is `call`. */
const reply = (op: string, call: string): AgentFailure => {
  const r = recorded.map((x) => x.reply).find((y): y is AgentFailure => y.op === op && !y.ok && y.call === call);
  if (r === undefined) throw new Error(`no recorded ${op} failing in ${call}`);
  return r;
};
const preserve = (expect_error: Step['expect_error']): Step =>
  ({ kind: 'preserve', preserve: { session: 's1', token: 3, path: '/x' }, ...(expect_error === undefined ? {} : { expect_error }) });

describe('expect_error', () => {
  it("passes on the kernel's errno from the step's own ioctl", () => {
    expect(expectOk(preserve('ENOENT'), reply('preserve-fd', 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)')).errno).toBe('ENOENT');
    expect(expectOk(preserve({ errno: 'ENOENT', call: 'PRESERVE_FD' }), reply('preserve-fd', 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)')).errno).toBe('ENOENT');
  });

  it("fails on the agent's own ENOENT (a memfd or session it does not hold)", () => {
    const r = reply('preserve', 'lookup');
    expect(r.errno).toBe('ENOENT');
    expect(() => expectOk(preserve('ENOENT'), r)).toThrow(/^expected ENOENT from PRESERVE_FD from the kernel, but the agent itself refused \(lookup\): ENOENT/);
  });

  it('fails on the same errno from another call of the step (open of a missing path, not PRESERVE_FD)', () => {
    const r = reply('preserve-fd', 'open');
    expect(r.errno).toBe('ENOENT');
    expect(() => expectOk(preserve('ENOENT'), r)).toThrow('expected ENOENT from PRESERVE_FD, but ENOENT came from open');
    // Naming the call the step means accepts it.
    expect(expectOk(preserve({ errno: 'ENOENT', call: 'open' }), r).errno).toBe('ENOENT');
  });

  it('names the real errno and its call when it differs, and a success when an error was expected', () => {
    expect(() => expectOk(preserve('EBUSY'), reply('preserve', 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)'))).toThrow(
      'expected EBUSY from PRESERVE_FD, got EEXIST (preserving the fd: File exists) from ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)',
    );
    expect(() => expectOk(preserve('EBUSY'), { ok: true, op: 'preserve-fd', session: 's1', token: 3 })).toThrow('expected EBUSY from PRESERVE_FD, but it succeeded');
  });

  it('a raw agent step takes the call of its op', () => {
    const step = { kind: 'agent', agent: { op: 'retrieve-session', name: 'nobody' }, expect_error: 'ENOENT' } as Step;
    expect(expectOk(step, reply('retrieve-session', 'ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)')).errno).toBe('ENOENT');
    expect(() => expectOk(step, { ok: false, op: 'retrieve-session', errno: 'ENOENT', errnoValue: 2, call: 'connect', message: 'no socket' })).toThrow('but ENOENT came from connect');
  });
});
