// Issue 10: a negative control for every check of every shipped scenario. Each control turns a
// shipped scenario into a variant built to break exactly one check step (a tampered expectation,
// a lost preserve, a kernel argument, a kexec through kexec_load…); the e2e test runs them all and
// asserts that this step, and no earlier one, fails, for the stated reason. The README table is
// generated from this data (test/unit/controls-table.test.ts keeps the two equal).
//
// Variants are scenarios only (no Overrides): Overrides apply to a whole runScenarios call, and
// one batched call keeps both VMs busy. A step is found in its variant by its line in the file
// (inserted steps have line 0), so a control may insert steps before its target.

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
}

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

// ---- reasons -----------------------------------------------------------------------------------

const noHandover = (boot: number) => new RegExp(`^the handover did not arrive: boot ${boot}'s console has no 'KHO: found kexec handover data'`);
const mismatch = (id: string) => new RegExp(`^memfd '${id}' \\(session '[^']+', token \\d+\\) came back different: SHA-256 mismatch`);
const arrived = (session: string) => new RegExp(`^session '${session}' arrived after the kexec, but it should have been dropped$`);
const lineMissing = (re: string, boot: number) => new RegExp(`^no line matching /${re.replace(/[$()[\]\\^.*+?|{}]/g, '\\$&')}/ on boot ${boot}'s console`);

// ---- the table ---------------------------------------------------------------------------------

export const CONTROLS: readonly Control[] = [
  // chain: each kexec, retrieve and live-update number in turn.
  { scenario: 'chain', step: 3, control: 'this kexec through kexec_load', variant: legacyKexec(3), reason: noHandover(2) },
  { scenario: 'chain', step: 4, control: "write_memfd m1 after its preserve", variant: tamperBefore(3, 'm1'), reason: mismatch('m1') },
  { scenario: 'chain', step: 5, control: 'expect live update number 2 (off by one)', variant: body(5, 'log', (l) => ({ ...l, contains: 'liveupdate number: 2$' })), reason: lineMissing('liveupdate number: 2$', 2) },
  { scenario: 'chain', step: 9, control: 'this kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(3) },
  { scenario: 'chain', step: 10, control: "write_memfd m2 after its preserve", variant: tamperBefore(9, 'm2'), reason: mismatch('m2') },
  { scenario: 'chain', step: 11, control: 'expect live update number 3 (off by one)', variant: body(11, 'log', (l) => ({ ...l, contains: 'liveupdate number: 3$' })), reason: lineMissing('liveupdate number: 3$', 3) },
  { scenario: 'chain', step: 15, control: 'this kexec through kexec_load', variant: legacyKexec(15), reason: noHandover(4) },
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
  { scenario: 'large-memfd', step: 3, control: 'the kexec through kexec_load', variant: legacyKexec(3), reason: noHandover(2) },
  { scenario: 'large-memfd', step: 4, control: 'write_memfd quarter near its end before the kexec', variant: tamperBefore(3, 'quarter', 255 << 20), reason: mismatch('quarter') },

  // load-early
  { scenario: 'load-early', step: 4, control: 'the early kexec_load through kexec_load (legacy)', variant: body(0, 'kexec_load', () => ({ syscall: 'legacy' as const })), reason: noHandover(2), sample: true },
  { scenario: 'load-early', step: 5, control: 'write_memfd m before the kexec', variant: tamperBefore(4, 'm', 4096), reason: mismatch('m'), sample: true },

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

  // multi-session
  { scenario: 'multi-session', step: 9, control: 'the first kexec through kexec_load', variant: legacyKexec(9), reason: noHandover(2) },
  { scenario: 'multi-session', step: 10, control: 'write_memfd ma before the kexec', variant: tamperBefore(9, 'ma'), reason: mismatch('ma') },
  { scenario: 'multi-session', step: 11, control: 'write_memfd mb before the kexec', variant: tamperBefore(9, 'mb'), reason: mismatch('mb') },
  { scenario: 'multi-session', step: 12, control: 'the second kexec through kexec_load', variant: legacyKexec(12), reason: noHandover(3) },
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
    return `| ${c.scenario} | ${c.step + 1} | ${cell(`\`${describeCheck(st)}\``)} | ${cell(c.control)}${c.sample === true ? ' (sample)' : ''} | ${cell(`\`/${c.reason.source}/\``)} |`;
  });
  return [TABLE_START, '| scenario | step | check | control | expected failure of that step |', '|---|---|---|---|---|', ...rows, TABLE_END].join('\n');
}
