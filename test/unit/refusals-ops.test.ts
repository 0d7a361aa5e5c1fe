// The refusals pieces: an agent step's `expect:` on recorded 7.3 replies (a field the reply lacks
// fails: no pass on absence), the ops' errnos bound to their calls, and the hugetlbfs requirement.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCapabilityProbe, unmetRequirement } from '../../orchestrator/kho/caps.ts';
import type { AgentFailure } from '../../orchestrator/guest/agent-protocol.ts';
import type { AgentReply } from '../../orchestrator/scenario/agent-port.ts';
import type { Step } from '../../orchestrator/scenario/schema.ts';
import { expectOk, expectReply } from '../../orchestrator/scenario/steps.ts';
import { StepFailure } from '../../orchestrator/scenario/step-context.ts';

// Replies as a 7.3.4 guest gave them (scenarios luo-refuses, incoming-sessions, ioctl-contract).
const sameFile = { ok: true, op: 'same-file', session: 'in1', direction: 'incoming', token: 1, fds: [8, 9], ino: [3, 3], dev: [1, 1], sameInode: true, sameFile: true, sameFileBy: 'f_pos' } as AgentReply;
const dupBusy = {
  ok: false,
  op: 'preserve-as',
  session: 'files',
  token: 2,
  as: 'dup',
  ino: 2,
  nlink: 0,
  fileType: 'regular',
  fs: 'tmpfs',
  sameInodeAsMemfd: true,
  errno: 'EBUSY',
  errnoValue: 16,
  call: 'ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)',
  message: 'preserving the fd: Device or resource busy',
} as AgentFailure;
const rawEinval = { ok: false, op: 'ioctl-raw', cmd: 47618, len: 72, argsz: 72, errno: 'EINVAL', errnoValue: 22, call: 'ioctl(raw)', message: 'the raw ioctl: Invalid argument' } as AgentFailure;
const hugetlbFails = { ok: false, op: 'preserve-as', session: 'files', token: 8, as: 'hugetlb', errno: 'ENOSYS', errnoValue: 38, call: 'memfd_create(MFD_HUGETLB)', message: 'creating a hugetlb memfd: Function not implemented' } as AgentFailure;

const agent = (agentBody: Record<string, unknown>, expect_error?: Step['expect_error']): Step =>
  ({ kind: 'agent', agent: { op: 'x', ...agentBody }, ...(expect_error === undefined ? {} : { expect_error }) });

describe("an agent step's expect:", () => {
  it('passes when every field has that value', () => {
    expect(expectReply({ sameInode: true, sameFile: true }, sameFile)).toBe(sameFile);
    expect(expectReply(undefined, sameFile)).toBe(sameFile);
    // on a failed reply too: the refused dup was the memfd's own inode
    expect(expectReply({ sameInodeAsMemfd: true }, dupBusy)).toBe(dupBusy);
  });
  it('fails on another value, and on a field the reply lacks', () => {
    expect(() => expectReply({ sameFile: false }, sameFile)).toThrow(/^the reply's 'sameFile' is true, expected false$/);
    expect(() => expectReply({ ino: [3, 4] }, sameFile)).toThrow(StepFailure);
    expect(() => expectReply({ name: 'in1' }, sameFile)).toThrow(/^the reply has no 'name'/);
  });
});

describe("the refusal ops' errnos", () => {
  it('count only from the call the op makes', () => {
    expect(expectOk(agent({ op: 'preserve-as' }, { errno: 'EBUSY', call: 'PRESERVE_FD' }), dupBusy).errno).toBe('EBUSY');
    expect(expectOk(agent({ op: 'ioctl-raw' }, 'EINVAL'), rawEinval).errno).toBe('EINVAL');
    expect(() => expectOk(agent({ op: 'ioctl-raw' }, 'ENOTTY'), rawEinval)).toThrow(/^expected ENOTTY from ioctl\(raw\), got EINVAL\b/);
  });
  it('a hugetlb memfd that cannot be made never passes for PRESERVE_FD', () => {
    expect(() => expectOk(agent({ op: 'preserve-as' }, { errno: 'ENOENT', call: 'PRESERVE_FD' }), hugetlbFails)).toThrow(/memfd_create\(MFD_HUGETLB\)/);
    expect(() => expectOk(agent({ op: 'preserve-as' }, { errno: 'ENOSYS', call: 'PRESERVE_FD' }), hugetlbFails)).toThrow(/but ENOSYS came from memfd_create/);
  });
});

describe('the hugetlbfs requirement', () => {
  const FIX = resolve(import.meta.dirname, '../fixtures/kho');
  const base = readFileSync(join(FIX, 'caps-cold.txt'), 'utf8');
  it('is met only when /proc/filesystems lists hugetlbfs', () => {
    const without = parseCapabilityProbe(`${base}\nfilesystems=sysfs tmpfs ramfs proc\n`);
    expect(without.hugetlbfs).toBe(false);
    expect(unmetRequirement(without, 'hugetlbfs')).toMatch(/^no hugetlbfs in \/proc\/filesystems/);
    const withIt = parseCapabilityProbe(`${base}\nfilesystems=sysfs tmpfs hugetlbfs\n`);
    expect(unmetRequirement(withIt, 'hugetlbfs')).toBeUndefined();
  });
  it('is unmet when the probe did not say (never a pass on absence)', () => {
    const old = parseCapabilityProbe(base);
    expect(old.hugetlbfs).toBeUndefined();
    expect(unmetRequirement(old, 'hugetlbfs')).toMatch(/no hugetlbfs/);
  });
});
