// Issue 10: a negative control for every check of every shipped scenario. Each control turns a
// shipped scenario into a variant built to break exactly one check step (a tampered expectation,
// a lost preserve, a kernel argument, a kexec through kexec_load…); the e2e test runs them all and
// asserts that this step, and no earlier one, fails, for the stated reason. The README table is
// generated from this data (test/unit/controls-table.test.ts keeps the two equal).
//
// Variants are scenarios only (no Overrides): Overrides apply to a whole runScenarios call, and
// one batched call keeps both VMs busy. A step is found in its variant by its line in the file
// (inserted steps have line 0), so a control may insert steps before its target.

import type { Arch } from '../../orchestrator/host/arch.ts';
import type { Scenario } from '../../orchestrator/scenario/load.ts';
import type { Step } from '../../orchestrator/scenario/schema.ts';

type LinedStep = Scenario['steps'][number];

export interface Control {
  scenario: string;
  /** The check step's index in the shipped scenario (0-based; `checkSteps`). */
  step: number;
  /** What the variant does, for the README. */
  control: string;
  variant: (s: Scenario) => Scenario;
  /** The failing step's own message must match. */
  reason: RegExp;
  /** Run by `npm test` (the rest with HANDOVER_CONTROLS=all). */
  sample?: true;
  /** An architecture this control cannot run on, and why (a difference the README's arm64 section documents). */
  notOn?: { arch: Arch; why: string };
}

/**
 * arm64: a kexec_load from a boot that was itself kexec'd (with KHO) is not a negative control.
 * kexec-tools copies the running kernel's DT (/sys/firmware/fdt): the one kexec_file_load built
 * carries a fresh kaslr-seed (drivers/of/kexec.c), which a kernel without RANDOMIZE_BASE never
 * wipes, so kexec-tools refuses the load ("kaslr-seed is not wiped to 0"); and with the seed wiped,
 * the DT still holds the previous handover's /chosen linux,kho-fdt, and the next kernel panics on
 * it at 0 s (kho_memory_init_early). The kexec_load from the cold boot works as on x86_64.
 */
const KEXEC_LOAD_AFTER_KHO = {
  arch: 'arm64',
  why: "kexec_load from a kexec'd boot: kexec-tools refuses its DT (kaslr-seed not wiped), and the DT carries the previous handover (README, arm64)",
} as const;

// ---- variant builders --------------------------------------------------------------------------

/** A step written into a variant (no line in the file). */
const added = (step: Step): LinedStep => ({ ...step, line: 0 });

/** Changes step i (keeping its line, so it stays the target). */
const change =
  (i: number, f: (st: LinedStep) => LinedStep) =>
  (s: Scenario): Scenario => ({ ...s, steps: s.steps.map((st, j) => (j === i ? f(st) : st)) });

type Body<K extends Step['kind']> = Extract<Step, { kind: K }> extends { [P in K]: infer B } ? B : never;

/** Changes step i's body (the object under its kind), e.g. a debugfs expectation. */
const body = <K extends Step['kind']>(i: number, kind: K, patch: (b: Body<K>) => Body<K>) =>
  change(i, (st) => {
    if (st.kind !== kind) throw new Error(`step ${i + 1} is ${st.kind}, not ${kind}`);
    const own = (st as unknown as Record<string, unknown>)[kind] as Body<K>;
    return { ...st, [kind]: patch(own) };
  });

const insertBefore =
  (i: number, ...steps: Step[]) =>
  (s: Scenario): Scenario => ({ ...s, steps: [...s.steps.slice(0, i), ...steps.map(added), ...s.steps.slice(i)] });

const remove =
  (i: number) =>
  (s: Scenario): Scenario => ({ ...s, steps: s.steps.filter((_, j) => j !== i) });

/** Every boot's command line gets `arg` (after the scenario's own). */
const bootWith =
  (arg: string) =>
  (s: Scenario): Scenario => ({ ...s, boot: { ...s.boot, append: [s.boot?.append ?? '', arg].join(' ').trim() } });

/** Kexec step i loads through kexec_load, which carries no handover. */
const legacyKexec = (i: number) => body(i, 'kexec', (k) => ({ ...k, syscall: 'legacy' as const }));

/** Every kexec through kexec_load with `handover: false`: the kexecs pass, the later checks see nothing arrived. */
const nothingHandedOver = (s: Scenario): Scenario => ({
  ...s,
  steps: s.steps.map((st) => (st.kind === 'kexec' ? { ...st, kexec: { ...st.kexec, syscall: 'legacy' as const, handover: false } } : st)),
});

/** A memfd changed after it was preserved, before the kexec: retrieve must see a hash mismatch. */
const tamperBefore = (i: number, id: string, offset = 0) => insertBefore(i, { kind: 'write_memfd', write_memfd: { id, offset, data: 'tampered' } });

/** A new outgoing session `name` with one memfd, preserved before the kexec at i: it arrives. */
const preserveAgain = (i: number, name: string) =>
  insertBefore(
    i,
    { kind: 'create_session', create_session: name },
    { kind: 'memfd', memfd: { id: `${name}-again`, size: '4K', seed: 99 } },
    { kind: 'preserve', preserve: { session: name, token: 1, memfd: `${name}-again` } },
  );

const expectErrno = (i: number, errno: string) => change(i, (st) => ({ ...st, expect_error: errno }));

/** Fields of agent step i's request (or its `expect`) changed. */
const agentWith = (i: number, patch: Record<string, unknown>) => body(i, 'agent', (a) => ({ ...a, ...patch }));

/** A memfd no step preserves. */
const freshMemfd: Step = { kind: 'memfd', memfd: { id: 'n', size: '4K', seed: 88 } };

/** Exec step i runs `argv` instead. */
const execInstead = (i: number, argv: string[]) => change(i, (st) => ({ ...st, exec: argv }) as LinedStep);

/** A memfd of `size` that the agent keeps open (its pages are Shmem, not free). */
const bigMemfd = (id: string, size: string): Step => ({ kind: 'memfd', memfd: { id, size, seed: 98 } });

/** A new session `name` with a 32 MiB memfd, preserved before the kexec at i and never retrieved. */
const preserveBig = (i: number, name: string) =>
  insertBefore(i, { kind: 'create_session', create_session: name }, bigMemfd(`${name}-m`, '32M'), { kind: 'preserve', preserve: { session: name, token: 1, memfd: `${name}-m` } });

/** Retrieve (and FINISH) session `name`'s token 1 as memfd `id`, then close it. */
const retrieveAndClose = (name: string, id: string): [Step, Step] => [
  { kind: 'retrieve', retrieve: { session: name, tokens: { '1': id }, finish: true } },
  { kind: 'close_session', close_session: name },
];

// ---- reasons -----------------------------------------------------------------------------------

const noHandover = (boot: number) => new RegExp(`^the handover did not arrive: boot ${boot}'s console has no 'KHO: found kexec handover data'`);
const mismatch = (id: string) => new RegExp(`^memfd '${id}' \\(session '[^']+', token \\d+\\) came back different: SHA-256 mismatch`);
const arrived = (session: string) => new RegExp(`^session '${session}' arrived after the kexec, but it should have been dropped$`);
const succeeded = (errno: string, call: string) => new RegExp(`^expected ${errno} from ${call.replace(/[()]/g, '\\$&')}, but it succeeded$`);
const gotInstead = (want: string, call: string, got: string) => new RegExp(`^expected ${want} from ${call.replace(/[()]/g, '\\$&')}, got ${got}\\b`);
const agentFailed = (errno: string) => new RegExp(`^agent failed: ${errno}\\b`);
const lost = (session: string) => new RegExp(`^session '${session}' was lost across the kexec: RETRIEVE_SESSION → ENOENT`);
/** A memory step's KHO bound broken; `bound` is e.g. 'at most 4\\.0' (MiB). */
const held = (bound: string) => new RegExp(`^KHO holds -?\\d+\\.\\d MiB more than at 'cold' \\(MemTotal down by that\\), ${bound} MiB`);
const smallFolios = /^ShmemHugePages is 0\.0 MiB above 'cold', at least 128\.0 MiB expected: the memfd pages are not in large \(PMD-sized\) folios/;
const lineMissing = (re: string, boot: number) => new RegExp(`^no line matching /${re.replace(/[$()[\]\\^.*+?|{}]/g, '\\$&')}/ on boot ${boot}'s console`);

// ---- the table ---------------------------------------------------------------------------------

export const CONTROLS: readonly Control[] = [
  // chain: each kexec, retrieve and live-update number in turn.
  { scenario: 'chain', step: 3, control: 'this kexec through kexec_load', variant: legacyKexec(3), reason: noHandover(2) },
  { scenario: 'chain', step: 4, control: "write_memfd m1 after its preserve", variant: tamperBefore(3, 'm1'), reason: mismatch('m1') },
  { scenario: 'chain', step: 5, control: 'expect live update number 2 (off by one)', variant: body(5, 'log', (l) => ({ ...l, contains: 'liveupdate number: 2$' })), reason: lineMissing('liveupdate number: 2$', 2) },
  { scenario: 'chain', step: 9, control: 'this kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(3), notOn: KEXEC_LOAD_AFTER_KHO },
  { scenario: 'chain', step: 10, control: "write_memfd m2 after its preserve", variant: tamperBefore(9, 'm2'), reason: mismatch('m2') },
  { scenario: 'chain', step: 11, control: 'expect live update number 3 (off by one)', variant: body(11, 'log', (l) => ({ ...l, contains: 'liveupdate number: 3$' })), reason: lineMissing('liveupdate number: 3$', 3) },
  { scenario: 'chain', step: 15, control: 'this kexec through kexec_load', variant: legacyKexec(15), reason: noHandover(4), notOn: KEXEC_LOAD_AFTER_KHO },
  { scenario: 'chain', step: 16, control: "write_memfd m3 after its preserve", variant: tamperBefore(15, 'm3'), reason: mismatch('m3') },
  { scenario: 'chain', step: 17, control: 'expect live update number 4 (off by one)', variant: body(17, 'log', (l) => ({ ...l, contains: 'liveupdate number: 4$' })), reason: lineMissing('liveupdate number: 4$', 4) },

  // dynamic-updates
  { scenario: 'dynamic-updates', step: 11, control: 'the early kexec_load through kexec_load (legacy)', variant: body(0, 'kexec_load', () => ({ syscall: 'legacy' as const })), reason: noHandover(2) },
  { scenario: 'dynamic-updates', step: 12, control: 'write_memfd ma before the kexec', variant: tamperBefore(11, 'ma'), reason: mismatch('ma') },
  { scenario: 'dynamic-updates', step: 13, control: 'close_session c before the kexec', variant: insertBefore(11, { kind: 'close_session', close_session: 'c' }), reason: /^session 'c' was lost across the kexec: RETRIEVE_SESSION → ENOENT/ },
  { scenario: 'dynamic-updates', step: 14, control: 'b is not closed (close_session removed)', variant: remove(7), reason: arrived('b') },

  // holder-dies
  { scenario: 'holder-dies', step: 7, control: 'the kexec through kexec_load', variant: legacyKexec(7), reason: noHandover(2) },
  { scenario: 'holder-dies', step: 8, control: 'the holder is not killed (kill_holder removed)', variant: remove(3), reason: arrived('doomed'), sample: true },
  { scenario: 'holder-dies', step: 9, control: 'write_memfd keep before the kexec', variant: tamperBefore(7, 'keep'), reason: mismatch('keep') },

  // session-lifetimes: the holder made to lose the session (killed, or exec()ing), or made to keep it.
  { scenario: 'session-lifetimes', step: 17, control: 'the kexec through kexec_load', variant: legacyKexec(17), reason: noHandover(2) },
  { scenario: 'session-lifetimes', step: 18, control: 'the forked holder killed before the kexec (kill_holder after its hold)', variant: insertBefore(4, { kind: 'kill_holder', kill_holder: {} }), reason: lost('forked') },
  { scenario: 'session-lifetimes', step: 19, control: 'the SCM_RIGHTS holder replaced by one that exec()s', variant: body(7, 'hold', (h) => ({ ...h, mode: 'exec' as const })), reason: lost('passed') },
  { scenario: 'session-lifetimes', step: 20, control: 'the exec()ing holder replaced by a forked one that keeps the fd', variant: body(11, 'hold', (h) => ({ ...h, mode: 'fork' as const })), reason: arrived('execd'), sample: true },
  { scenario: 'session-lifetimes', step: 21, control: 'write_memfd kept before the kexec', variant: tamperBefore(17, 'kept'), reason: mismatch('kept') },
  { scenario: 'session-lifetimes', step: 22, control: 'the token asked is one the session has (1)', variant: body(22, 'agent', (a) => ({ ...a, token: 1 })), reason: succeeded('ENOENT', 'RETRIEVE_FD') },
  { scenario: 'session-lifetimes', step: 24, control: 'the FINISH removed: token 2 is still there', variant: remove(23), reason: succeeded('ENOENT', 'RETRIEVE_FD') },

  // no-leaks: each bound made to see memory held (preserved and not retrieved, not finished, not closed) or none.
  { scenario: 'no-leaks', step: 12, control: 'the first kexec through kexec_load', variant: legacyKexec(12), reason: noHandover(2) },
  { scenario: 'no-leaks', step: 13, control: 'kexec_load with handover: false: nothing is held', variant: nothingHandedOver, reason: held('at least 96\\.0') },
  { scenario: 'no-leaks', step: 14, control: 'write_memfd w before the kexec', variant: tamperBefore(12, 'w'), reason: mismatch('w') },
  { scenario: 'no-leaks', step: 16, control: 'write_memfd h1 before the kexec', variant: tamperBefore(12, 'h1'), reason: mismatch('h1') },
  {
    scenario: 'no-leaks',
    step: 18,
    control: 'halves retrieved without FINISH and left open: its token 2 is not discarded',
    variant: (s) => remove(17)(body(16, 'retrieve', (r) => ({ ...r, finish: false }))(s)),
    reason: held('at most 33\\.0'),
    sample: true,
  },
  { scenario: 'no-leaks', step: 19, control: 'dropped retrieved and closed too: nothing is held', variant: insertBefore(19, ...retrieveAndClose('dropped', 'd')), reason: held('at least 32\\.0') },
  { scenario: 'no-leaks', step: 20, control: 'a 16 MiB memfd created (and kept) before it', variant: insertBefore(20, bigMemfd('extra', '16M')), reason: /^Shmem is \d+\.\d MiB above 'cold', at most 2\.0 MiB allowed/ },
  { scenario: 'no-leaks', step: 21, control: 'the second kexec through kexec_load', variant: legacyKexec(21), reason: noHandover(3), notOn: KEXEC_LOAD_AFTER_KHO },
  { scenario: 'no-leaks', step: 22, control: 'dropped preserved again before the second kexec', variant: preserveAgain(21, 'dropped'), reason: arrived('dropped') },
  { scenario: 'no-leaks', step: 23, control: 'a 32 MiB session preserved before the second kexec and never retrieved', variant: preserveBig(21, 'stray'), reason: held('at most 1\\.0') },
  { scenario: 'no-leaks', step: 27, control: 'the third kexec through kexec_load', variant: legacyKexec(27), reason: noHandover(4), notOn: KEXEC_LOAD_AFTER_KHO },
  { scenario: 'no-leaks', step: 28, control: 'write_memfd m before the kexec', variant: tamperBefore(27, 'm'), reason: mismatch('m') },
  { scenario: 'no-leaks', step: 30, control: 'a 32 MiB session preserved before the third kexec and never retrieved', variant: preserveBig(27, 'stray'), reason: held('at most 1\\.0') },
  { scenario: 'no-leaks', step: 31, control: 'hop not closed (close_session removed): its memfd stays', variant: remove(29), reason: /^Shmem is \d+\.\d MiB above 'cold', at most 2\.0 MiB allowed/ },
  { scenario: 'no-leaks', step: 32, control: 'a 32 MiB memfd created (and kept) before it', variant: insertBefore(32, bigMemfd('extra', '32M')), reason: /^MemFree is \d+\.\d MiB below 'cold', at most 24\.0 MiB allowed/ },

  // stress (scenarios/stress/, not in the default suite)
  { scenario: 'many-sessions', step: 1, control: 'the kexec through kexec_load', variant: legacyKexec(1), reason: noHandover(2) },
  { scenario: 'many-sessions', step: 2, control: 'the holder killed before the kexec: every session is lost', variant: insertBefore(1, { kind: 'kill_holder', kill_holder: {} }), reason: /^bulk set 's': 0 of 2000 sessions and 0 of 2000 memfds came back before session 's0': ENOENT/ },
  { scenario: 'many-files', step: 1, control: 'the kexec through kexec_load', variant: legacyKexec(1), reason: noHandover(2) },
  { scenario: 'many-files', step: 2, control: 'the holder killed before the kexec: the session is lost', variant: insertBefore(1, { kind: 'kill_holder', kill_holder: {} }), reason: /^bulk set 'f': 0 of 1 sessions and 0 of 500 memfds came back before session 'f0': ENOENT/ },

  // incoming-sessions: one kexec, then the incoming sessions' contract; a second kexec.
  { scenario: 'incoming-sessions', step: 6, control: 'the kexec through kexec_load', variant: legacyKexec(6), reason: noHandover(2) },
  {
    scenario: 'incoming-sessions',
    step: 9,
    control: 'to an outgoing session of that name (created first) instead',
    variant: (s) => insertBefore(9, { kind: 'create_session', create_session: 'in1' })(agentWith(9, { direction: 'outgoing' })(s)),
    reason: succeeded('EINVAL', 'PRESERVE_FD'),
    sample: true,
  },
  {
    scenario: 'incoming-sessions',
    step: 10,
    control: 'the retrieved session closed first (then it is gone: ENOENT)',
    variant: insertBefore(10, { kind: 'agent', agent: { op: 'close-session', session: 'in1', direction: 'incoming' } }),
    reason: gotInstead('EINVAL', 'RETRIEVE_SESSION', 'ENOENT'),
  },
  { scenario: 'incoming-sessions', step: 11, control: 'a token never preserved (2): RETRIEVE_FD is ENOENT', variant: agentWith(11, { token: 2 }), reason: agentFailed('ENOENT') },
  { scenario: 'incoming-sessions', step: 12, control: 'expect the name in2', variant: agentWith(12, { expect: { name: 'in2' } }), reason: /^the reply's 'name' is "in1", expected "in2"$/ },
  {
    scenario: 'incoming-sessions',
    step: 13,
    control: 'an outgoing in1 created before it (the outgoing name taken)',
    variant: insertBefore(13, { kind: 'create_session', create_session: 'in1' }),
    reason: /^create session failed: EEXIST\b/,
  },
  { scenario: 'incoming-sessions', step: 14, control: 'reserved 0', variant: agentWith(14, { reserved: 0 }), reason: succeeded('EINVAL', 'FINISH') },
  { scenario: 'incoming-sessions', step: 16, control: 'the second FINISH sent to the outgoing in1 (EINVAL)', variant: agentWith(16, { direction: 'outgoing' }), reason: agentFailed('EINVAL') },
  { scenario: 'incoming-sessions', step: 19, control: 'in2 not closed (close-session removed): still open, EINVAL', variant: remove(18), reason: gotInstead('ENOENT', 'RETRIEVE_SESSION', 'EINVAL') },
  { scenario: 'incoming-sessions', step: 20, control: 'the second kexec through kexec_load', variant: legacyKexec(20), reason: noHandover(3), notOn: KEXEC_LOAD_AFTER_KHO },
  { scenario: 'incoming-sessions', step: 21, control: 'in2 preserved again before the second kexec', variant: preserveAgain(20, 'in2'), reason: arrived('in2') },

  // ioctl-contract: cold boot; each call made to succeed, to hit another rule, or the errno expectation tampered.
  { scenario: 'ioctl-contract', step: 1, control: 'expect ENOTTY (what the uapi DOC says) instead of EINVAL', variant: expectErrno(1, 'ENOTTY'), reason: gotInstead('ENOTTY', 'ioctl(raw)', 'EINVAL') },
  { scenario: 'ioctl-contract', step: 2, control: 'nr 0x43 (GET_NAME, in range)', variant: agentWith(2, { nr: 0x43 }), reason: succeeded('EINVAL', 'ioctl(raw)') },
  { scenario: 'ioctl-contract', step: 3, control: 'nr 0x43 (GET_NAME, in range)', variant: agentWith(3, { nr: 0x43 }), reason: succeeded('EINVAL', 'ioctl(raw)') },
  { scenario: 'ioctl-contract', step: 4, control: 'type 0xBA: CREATE_SESSION itself, refusing the empty name (EINVAL)', variant: agentWith(4, { type: 0xba }), reason: gotInstead('ENOTTY', 'ioctl(raw)', 'EINVAL') },
  { scenario: 'ioctl-contract', step: 5, control: 'no size or direction bits: CREATE_SESSION itself, refusing the empty name (EINVAL)', variant: agentWith(5, { dir: 0, bits: 0 }), reason: gotInstead('ENOTTY', 'ioctl(raw)', 'EINVAL') },
  { scenario: 'ioctl-contract', step: 6, control: 'no size or direction bits: GET_NAME itself', variant: agentWith(6, { dir: 0, bits: 0 }), reason: succeeded('ENOTTY', 'ioctl(raw)') },
  { scenario: 'ioctl-contract', step: 7, control: 'structSize 72', variant: agentWith(7, { structSize: 72 }), reason: succeeded('EINVAL', 'CREATE_SESSION') },
  { scenario: 'ioctl-contract', step: 8, control: 'len 72', variant: agentWith(8, { len: 72 }), reason: succeeded('EINVAL', 'ioctl(raw)') },
  { scenario: 'ioctl-contract', step: 9, control: 'a non-zero extra byte (junk)', variant: agentWith(9, { junk: true }), reason: agentFailed('E2BIG') },
  { scenario: 'ioctl-contract', step: 10, control: 'the extra bytes zero (no junk)', variant: agentWith(10, { junk: false }), reason: succeeded('E2BIG', 'CREATE_SESSION') },
  { scenario: 'ioctl-contract', step: 11, control: 'the last byte non-zero (tail 1)', variant: agentWith(11, { tail: 1 }), reason: agentFailed('E2BIG') },
  { scenario: 'ioctl-contract', step: 12, control: 'the extra bytes zero (tail 0)', variant: agentWith(12, { tail: 0 }), reason: succeeded('E2BIG', 'ioctl(raw)') },
  { scenario: 'ioctl-contract', step: 13, control: 'expect ENOENT (an unknown token) instead of EINVAL', variant: expectErrno(13, 'ENOENT'), reason: gotInstead('ENOENT', 'RETRIEVE_FD', 'EINVAL') },
  { scenario: 'ioctl-contract', step: 14, control: 'expect EBUSY instead of EINVAL', variant: expectErrno(14, 'EBUSY'), reason: gotInstead('EBUSY', 'FINISH', 'EINVAL') },
  { scenario: 'ioctl-contract', step: 15, control: 'expect the name d', variant: agentWith(15, { expect: { name: 'd' } }), reason: /^the reply's 'name' is "c", expected "d"$/, sample: true },
  { scenario: 'ioctl-contract', step: 16, control: 'reserved 0', variant: agentWith(16, { reserved: 0 }), reason: succeeded('EINVAL', 'GET_NAME') },
  { scenario: 'ioctl-contract', step: 17, control: 'expect ENOENT (no device) instead of EBUSY', variant: expectErrno(17, 'ENOENT'), reason: gotInstead('ENOENT', 'open', 'EBUSY') },
  { scenario: 'ioctl-contract', step: 18, control: 'a name of 64 bytes', variant: agentWith(18, { name: 'a'.repeat(64) }), reason: agentFailed('EINVAL') },
  { scenario: 'ioctl-contract', step: 19, control: 'expect 62 of the 63 bytes', variant: agentWith(19, { expect: { name: 'a'.repeat(62) } }), reason: /^the reply's 'name' is "a{63}", expected "a{62}"$/ },
  { scenario: 'ioctl-contract', step: 20, control: 'a name of 63 bytes', variant: agentWith(20, { name: 'b'.repeat(63) }), reason: succeeded('EINVAL', 'CREATE_SESSION') },
  // in-sub-fdt-luo: its xfail is narrow, so a blob that is not there is a failure, not the known bug.
  { scenario: 'in-sub-fdt-luo', step: 3, control: 'the kexec through kexec_load', variant: legacyKexec(3), reason: noHandover(2) },
  {
    scenario: 'in-sub-fdt-luo',
    step: 4,
    control: 'kexec_load with handover: false (no kho/in): a failure other than the known freed page',
    variant: nothingHandedOver,
    reason: /^kho\/in\/sub_fdts\/LUO is absent, expected present \(not the known bug this step expects: /,
    sample: true,
  },

  // ioctl-errors: cold boot only; each call made to succeed, or the errno expectation tampered.
  { scenario: 'ioctl-errors', step: 0, control: 'expect EEXIST instead of ENOENT', variant: expectErrno(0, 'EEXIST'), reason: /^expected EEXIST from RETRIEVE_SESSION, got ENOENT\b/, sample: true },
  { scenario: 'ioctl-errors', step: 1, control: 'a valid session name instead of ""', variant: body(1, 'agent', (a) => ({ ...a, name: 'valid' })), reason: /^expected EINVAL from CREATE_SESSION, but it succeeded$/ },
  { scenario: 'ioctl-errors', step: 3, control: 'a new name (s2) instead of the duplicate', variant: body(3, 'create_session', () => 's2'), reason: /^expected EEXIST from CREATE_SESSION, but it succeeded$/, sample: true },
  { scenario: 'ioctl-errors', step: 7, control: 'a free token (5) instead of the duplicate', variant: body(7, 'preserve', (p) => ({ ...p, token: 5 })), reason: /^expected EEXIST from PRESERVE_FD, but it succeeded$/ },
  { scenario: 'ioctl-errors', step: 8, control: 'expect EEXIST instead of EBUSY', variant: expectErrno(8, 'EEXIST'), reason: /^expected EEXIST from PRESERVE_FD, got EBUSY\b/ },
  { scenario: 'ioctl-errors', step: 9, control: 'a path that does not exist: ENOENT from open(), not from PRESERVE_FD', variant: body(9, 'preserve', (p) => ({ ...p, path: '/nonexistent' })), reason: /^expected ENOENT from PRESERVE_FD, (but ENOENT came from open|got ENOENT .* from open)/, sample: true },

  // kho-off
  { scenario: 'kho-off', step: 0, control: 'booted without kho=off', variant: (s) => ({ ...s, boot: {} }), reason: /^kho\/ is present, expected absent$/ },
  { scenario: 'kho-off', step: 1, control: 'kernel argument liveupdate=off too (LUO then has nothing to disable)', variant: bootWith('liveupdate=off'), reason: lineMissing('luo: Disabling liveupdate because KHO is disabled', 1), sample: true },
  { scenario: 'kho-off', step: 2, control: 'expect EBUSY instead of ENOENT', variant: expectErrno(2, 'EBUSY'), reason: /^expected EBUSY from open, got ENOENT\b/, sample: true },

  // kho-on-by-default
  { scenario: 'kho-on-by-default', step: 0, control: 'kernel argument kho=on', variant: bootWith('kho=on'), reason: /^sh -c .* exited 1, expected 0$/, sample: true },
  { scenario: 'kho-on-by-default', step: 1, control: 'expect kho/ absent', variant: body(1, 'debugfs', (d) => ({ ...d, exists: false })), reason: /^kho\/ is present, expected absent$/ },
  { scenario: 'kho-on-by-default', step: 2, control: 'expect at least 1 GiB', variant: body(2, 'debugfs', (d) => ({ ...d, min_size: 2 ** 30 })), reason: /^kho\/out\/scratch_len is \d+ bytes, expected at least 1073741824$/, sample: true },
  { scenario: 'kho-on-by-default', step: 3, control: "a regex every boot's log matches (Linux version)", variant: body(3, 'log', (l) => ({ ...l, absent: 'Linux version' })), reason: /^boot 1's console has a line matching \/Linux version\/: / },

  // kho-selftest-debug (the debug-profile kernel)
  { scenario: 'kho-selftest-debug', step: 0, control: 'kernel argument kho=off', variant: bootWith('kho=off'), reason: /^kho\/out\/sub_fdts\/kho_test is absent, expected present$/ },
  { scenario: 'kho-selftest-debug', step: 1, control: 'the kexec through kexec_load', variant: legacyKexec(1), reason: noHandover(2) },
  { scenario: 'kho-selftest-debug', step: 2, control: 'kexec_load with handover: false', variant: nothingHandedOver, reason: lineMissing('test_kho: KHO restore succeeded', 2) },
  { scenario: 'kho-selftest-debug', step: 3, control: 'absent: the success line instead', variant: body(3, 'log', (l) => ({ ...l, absent: 'test_kho: KHO restore succeeded' })), reason: /^boot 2's console has a line matching \/test_kho: KHO restore succeeded\/: / },

  // large-memfd (slow: a quarter of guest RAM)
  {
    scenario: 'large-memfd',
    step: 3,
    control: 'booted without transparent_hugepage_shmem=always: the memfd is in small folios',
    variant: (s) => ({ ...s, boot: { memory: 1024 } }),
    reason: smallFolios,
  },
  { scenario: 'large-memfd', step: 5, control: 'the kexec through kexec_load', variant: legacyKexec(5), reason: noHandover(2) },
  { scenario: 'large-memfd', step: 6, control: 'write_memfd quarter near its end before the kexec', variant: tamperBefore(5, 'quarter', 255 << 20), reason: mismatch('quarter') },
  { scenario: 'large-memfd', step: 7, control: 'the retrieve removed: the preserved folios are not in the page cache', variant: remove(6), reason: smallFolios },

  // load-early
  { scenario: 'load-early', step: 4, control: 'the early kexec_load through kexec_load (legacy)', variant: body(0, 'kexec_load', () => ({ syscall: 'legacy' as const })), reason: noHandover(2), sample: true },
  { scenario: 'load-early', step: 5, control: 'write_memfd m before the kexec', variant: tamperBefore(4, 'm', 4096), reason: mismatch('m'), sample: true },

  // luo-refuses: cold boot only; the refused file made acceptable, the accepted one refused.
  { scenario: 'luo-refuses', step: 3, control: 'm not preserved before (preserve removed): the dup is the first', variant: remove(2), reason: succeeded('EBUSY', 'PRESERVE_FD'), sample: true },
  { scenario: 'luo-refuses', step: 4, control: 'a memfd never preserved (n) reopened instead', variant: (s) => insertBefore(4, freshMemfd)(agentWith(4, { memfd: 'n' })(s)), reason: succeeded('EBUSY', 'PRESERVE_FD') },
  { scenario: 'luo-refuses', step: 6, control: 'a memfd never preserved (n) instead', variant: (s) => insertBefore(6, freshMemfd)(body(6, 'preserve', (p) => ({ ...p, memfd: 'n' }))(s)), reason: succeeded('EBUSY', 'PRESERVE_FD') },
  { scenario: 'luo-refuses', step: 7, control: 'an O_TMPFILE in /tmp instead of the pipe', variant: agentWith(7, { as: 'tmpfile', dir: '/tmp' }), reason: succeeded('ENOENT', 'PRESERVE_FD') },
  { scenario: 'luo-refuses', step: 8, control: 'an O_TMPFILE (unlinked) instead of the linked file', variant: agentWith(8, { as: 'tmpfile' }), reason: succeeded('ENOENT', 'PRESERVE_FD') },
  { scenario: 'luo-refuses', step: 9, control: 'a linked file instead of the O_TMPFILE', variant: agentWith(9, { as: 'linked' }), reason: agentFailed('ENOENT') },
  { scenario: 'luo-refuses', step: 10, control: 'mkdir below /proc', variant: execInstead(10, ['mkdir', '-p', '/proc/refuses-ramfs']), reason: /^mkdir -p \/proc\/refuses-ramfs exited \d+, expected 0$/ },
  { scenario: 'luo-refuses', step: 11, control: 'mount on a directory that does not exist', variant: execInstead(11, ['mount', '-t', 'ramfs', 'ramfs', '/run/no-such-dir']), reason: /^mount -t ramfs ramfs \/run\/no-such-dir exited \d+, expected 0$/ },
  { scenario: 'luo-refuses', step: 12, control: 'an O_TMPFILE on the tmpfs /tmp instead', variant: agentWith(12, { as: 'tmpfile', dir: '/tmp', fs: 'tmpfs' }), reason: succeeded('ENOENT', 'PRESERVE_FD') },
  {
    scenario: 'luo-refuses',
    step: 13,
    control: 'an O_TMPFILE on the tmpfs /tmp instead of the hugetlb memfd',
    variant: agentWith(13, { as: 'tmpfile', dir: '/tmp', fs: 'tmpfs', expect: { fs: 'tmpfs' } }),
    reason: succeeded('ENOENT', 'PRESERVE_FD'),
  },

  // memfd-round-trip
  { scenario: 'memfd-round-trip', step: 9, control: 'the kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(2) },
  { scenario: 'memfd-round-trip', step: 10, control: 'write_memfd mib before the kexec', variant: tamperBefore(9, 'mib', 4096), reason: mismatch('mib') },
  {
    scenario: 'memfd-round-trip',
    step: 11,
    control: 'expect blob-size 33',
    variant: body(11, 'debugfs', (d) => ({ ...d, fdt_property: { node: '/LUO', name: 'blob-size', u64: 33 } })),
    reason: /^kho\/in\/fdt: \/LUO blob-size is 32 \(little-endian u64\), expected 33$/,
  },
  { scenario: 'memfd-round-trip', step: 12, control: 'expect kho/out/fdt present', variant: body(12, 'debugfs', (d) => ({ ...d, exists: true })), reason: /^kho\/out\/fdt is absent, expected present$/ },
  { scenario: 'memfd-round-trip', step: 13, control: 'a regex no line matches', variant: body(13, 'log', (l) => ({ ...l, contains: 'KHO: found kexec handover data, tampered' })), reason: lineMissing('KHO: found kexec handover data, tampered', 2) },
  { scenario: 'memfd-round-trip', step: 14, control: 'expect live update number 2 (off by one)', variant: body(14, 'log', (l) => ({ ...l, contains: 'luo: Retrieved live update data, liveupdate number: 2' })), reason: lineMissing('luo: Retrieved live update data, liveupdate number: 2', 2) },
  { scenario: 'memfd-round-trip', step: 15, control: 'retrieve without FINISH', variant: body(10, 'retrieve', (r) => ({ ...r, finish: false })), reason: /^expected ENOENT from RETRIEVE_FD, but it succeeded$/ },

  // memfd-attributes
  { scenario: 'memfd-attributes', step: 9, control: 'the kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(2) },
  { scenario: 'memfd-attributes', step: 10, control: 'write_memfd odd in its middle hole before the kexec', variant: tamperBefore(9, 'odd', 8192), reason: mismatch('odd'), sample: true },

  // memfd-frozen: without the preserve the mapping is not frozen, so the size changes succeed.
  { scenario: 'memfd-frozen', step: 3, control: 'the memfd is not preserved (preserve removed)', variant: remove(2), reason: /^expected EPERM from ftruncate, but it succeeded$/, sample: true },
  { scenario: 'memfd-frozen', step: 4, control: 'the memfd is not preserved (preserve removed), ftruncate step too', variant: (s) => remove(2)(remove(3)(s)), reason: /^expected EPERM from pwrite, but it succeeded$/ },
  { scenario: 'memfd-frozen', step: 5, control: 'the memfd is not preserved (preserve and earlier EPERM steps removed)', variant: (s) => remove(2)(remove(3)(remove(4)(s))), reason: /^expected EPERM from fallocate, but it succeeded$/ },
  { scenario: 'memfd-frozen', step: 6, control: 'the memfd is not preserved (preserve and earlier EPERM steps removed)', variant: (s) => remove(2)(remove(3)(remove(4)(remove(5)(s)))), reason: /^expected EPERM from fallocate, but it succeeded$/ },
  // A write-sealed memfd: the frozen-mapping EPERMs stay, the legal writes now fail.
  { scenario: 'memfd-frozen', step: 7, control: 'memfd f created with the write seal', variant: body(1, 'memfd', (m) => ({ ...m, seals: ['write' as const] })), reason: /^mutate memfd failed: .*EPERM/ },
  { scenario: 'memfd-frozen', step: 8, control: 'memfd f created with the write seal, the write() step removed', variant: (s) => remove(7)(body(1, 'memfd', (m) => ({ ...m, seals: ['write' as const] }))(s)), reason: /^mutate memfd failed: .*EPERM/ },
  { scenario: 'memfd-frozen', step: 9, control: 'the kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(2) },
  { scenario: 'memfd-frozen', step: 10, control: 'write_memfd f before the kexec (a write the check does not know of)', variant: tamperBefore(9, 'f', 200), reason: mismatch('f') },

  // memfd-seals
  { scenario: 'memfd-seals', step: 20, control: 'the kexec through kexec_load', variant: legacyKexec(20), reason: noHandover(2) },
  { scenario: 'memfd-seals', step: 21, control: 'write_memfd seal before the kexec', variant: tamperBefore(20, 'seal'), reason: mismatch('seal'), sample: true },
  {
    scenario: 'memfd-seals',
    step: 22,
    control: 'expect the seals it was created with ([exec]: no widening)',
    variant: body(22, 'retrieve', (r) => ({ session: r.session, tokens: r.tokens, finish: r.finish })),
    reason: /^memfd 'noexec' \(session 'noexec', token 1\) came back different: seals: preserved \[exec\], retrieved \[shrink,grow,write,future-write,exec\]$/,
  },

  // multi-session
  { scenario: 'multi-session', step: 9, control: 'the first kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(2) },
  { scenario: 'multi-session', step: 10, control: 'write_memfd ma before the kexec', variant: tamperBefore(9, 'ma'), reason: mismatch('ma') },
  { scenario: 'multi-session', step: 11, control: 'write_memfd mb before the kexec', variant: tamperBefore(9, 'mb'), reason: mismatch('mb') },
  { scenario: 'multi-session', step: 12, control: 'the second kexec through kexec_load', variant: legacyKexec(12), reason: noHandover(3), notOn: KEXEC_LOAD_AFTER_KHO },
  { scenario: 'multi-session', step: 13, control: 'b preserved again before the second kexec', variant: preserveAgain(12, 'b'), reason: arrived('b') },
  { scenario: 'multi-session', step: 14, control: 'c preserved again before the second kexec', variant: preserveAgain(12, 'c'), reason: arrived('c') },
  { scenario: 'multi-session', step: 15, control: 'a preserved again before the second kexec', variant: preserveAgain(12, 'a'), reason: arrived('a') },

  // out-fdt-always
  { scenario: 'out-fdt-always', step: 0, control: 'kernel argument kho=off', variant: bootWith('kho=off'), reason: /^kho\/out\/fdt is absent, expected present$/, sample: true },
  { scenario: 'out-fdt-always', step: 1, control: 'a kexec before it (then kho/in exists)', variant: insertBefore(1, { kind: 'kexec', kexec: { count: 1, handover: true } }), reason: /^kho\/in is present, expected absent$/ },
  {
    scenario: 'out-fdt-always',
    step: 2,
    control: 'a blob that is no FDT (kho/out/scratch_len): a failure other than the known truncation',
    variant: body(2, 'debugfs', (d) => ({ ...d, path: 'kho/out/scratch_len' })),
    reason: /^kho\/out\/scratch_len is not a valid FDT: (?!FDT truncated).* \(not the known bug this step expects: /,
    sample: true,
  },

  // upstream-kselftests: /dev/liveupdate opens once at a time, so a holder started before a test takes it.
  { scenario: 'upstream-kselftests', step: 0, control: 'the agent holds /dev/liveupdate (open_liveupdate) first', variant: insertBefore(0, { kind: 'open_liveupdate', open_liveupdate: {} }), reason: /^liveupdate failed \(exit \d+\): not ok /, sample: true },
  { scenario: 'upstream-kselftests', step: 1, control: 'the agent holds /dev/liveupdate (open_liveupdate) first', variant: insertBefore(1, { kind: 'open_liveupdate', open_liveupdate: {} }), reason: /^luo_kexec_simple stage 1 skipped itself \(exit 4\)$/ },
  { scenario: 'upstream-kselftests', step: 2, control: 'the agent holds /dev/liveupdate (open_liveupdate) first', variant: insertBefore(2, { kind: 'open_liveupdate', open_liveupdate: {} }), reason: /^luo_multi_session stage 1 skipped itself \(exit 4\)$/ },
  { scenario: 'upstream-kselftests', step: 3, control: 'the kexec through kexec_load', variant: legacyKexec(3), reason: noHandover(2) },
  { scenario: 'upstream-kselftests', step: 4, control: 'kexec_load with handover: false', variant: nothingHandedOver, reason: /^luo_kexec_simple stage 2 failed \(exit \d+\)/ },
  { scenario: 'upstream-kselftests', step: 5, control: 'luo_multi_session stage 1 removed', variant: remove(2), reason: /^luo_multi_session stage 2 failed \(exit \d+\)/ },
];

/** Where the control's target step is in its variant (found by its line), or -1. */
export function targetIndex(shipped: Scenario, variant: Scenario, step: number): number {
  const line = shipped.steps[step]?.line;
  if (line === undefined) return -1;
  const hits = variant.steps.flatMap((st, i) => (st.line === line ? [i] : []));
  return hits.length === 1 ? (hits[0] ?? -1) : -1;
}

/** The variant as a scenario of its own: a unique name, the same file (messages point at it). */
export function controlScenario(shipped: Scenario, c: Control): Scenario {
  return { ...c.variant(shipped), name: `${shipped.name}--control-${c.step + 1}` };
}

// ---- the README table --------------------------------------------------------------------------

export const TABLE_START = '<!-- controls-table: generated from test/controls/controls.ts; test/unit/controls-table.test.ts checks it -->';
export const TABLE_END = '<!-- /controls-table -->';

/** What a check step checks, in a few words (its name when it has one). */
export function describeCheck(st: LinedStep): string {
  if (st.name !== undefined) return st.name;
  const b = (st as unknown as Record<string, unknown>)[st.kind];
  const text = typeof b === 'string' ? b : Array.isArray(b) ? b.join(' ') : flow(b);
  return `${st.kind}${text === '' ? '' : ` ${text}`}${st.expect_error === undefined ? '' : ` → ${JSON.stringify(st.expect_error)}`}`;
}

/** Fields left at the schema's default say nothing: shown as in a scenario file, without them. */
const DEFAULTS: Readonly<Record<string, unknown>> = { count: 1, handover: true, finish: true, boot: 'current', exists: true };
function flow(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  const parts = Object.entries(v).filter(([k, x]) => DEFAULTS[k] !== x).map(([k, x]) => `${k}: ${flow(x)}`);
  return parts.length === 0 ? '' : `{${parts.join(', ')}}`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The README's "Checks and their negative controls" table, from CONTROLS and the shipped scenarios. */
export function controlsTable(shipped: readonly Scenario[]): string {
  const rows = CONTROLS.map((c) => {
    const s = shipped.find((x) => x.name === c.scenario);
    const st = s?.steps[c.step];
    if (s === undefined || st === undefined) throw new Error(`${c.scenario} step ${c.step + 1}: not shipped`);
    const notOn = c.notOn === undefined ? '' : ` (not on ${c.notOn.arch})`;
    return `| ${c.scenario} | ${c.step + 1} | ${cell(`\`${describeCheck(st)}\``)} | ${cell(c.control)}${c.sample === true ? ' (sample)' : ''}${notOn} | ${cell(`\`/${c.reason.source}/\``)} |`;
  });
  return [TABLE_START, '| scenario | step | check | control | expected failure of that step |', '|---|---|---|---|---|', ...rows, TABLE_END].join('\n');
}
