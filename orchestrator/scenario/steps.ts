import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { dumpKhoDebugfs, saveKhoDump, type KhoDump } from '../kho/debugfs.ts';
import { writeFile } from 'node:fs/promises';
import { probeKhoCapabilities, unmetRequirement, type KhoCapabilities, type Requirement } from '../kho/caps.ts';
import { fireKexec, loadKexec, type KexecOptions } from '../machine/kexec.ts';
import { parseMarkers, summarizeBoot } from '../kho/markers.ts';
import { flattenKtap, parseKtap } from './ktap-parse.ts';
import { kselftestBinary } from './kselftest.ts';
import { createHash } from 'node:crypto';
import { isOp, isSealName, memfdContents, PATTERN_PAGE, type AgentRequest, type AgentResult } from '../guest/agent-protocol.ts';
import type { AgentReply } from './agent-port.ts';
import { parseMilestone } from '../rootfs/milestones.ts';
import { PRELOADED_KEXEC_DIR } from '../rootfs/overlay.ts';
import { checkDebugfs } from './debugfs-check.ts';
import { handoverDiagnosis } from './diagnose.ts';
import { checkLog } from './log-check.ts';
import { memoryDelta, memoryProblems } from './memory-check.ts';
import type { Step } from './schema.ts';
import { describeReply, StepFailure, type StepContext } from './step-context.ts';

/** Runs one step; returns what it observed. A failed check throws StepFailure. */
export async function runStep(ctx: StepContext, step: Step & { line: number }): Promise<unknown> {
  if (step.kind !== 'debugfs') delete ctx.lastDump;
  switch (step.kind) {
    case 'exec':
      return execStep(ctx, step);
    case 'open_liveupdate': {
      const r = await ctx.agent.start();
      ctx.agentUp = r.ok;
      return expectOk(step, r.ok ? r : { ...r, message: `open(/dev/liveupdate): ${describeReply(r)}` });
    }
    case 'create_session':
      return expectOk(step, await call(ctx, { op: 'create-session', name: step.create_session }));
    case 'memfd': {
      const m = step.memfd;
      const size = parseSize(m.size, ctx.memoryMiB);
      const started = performance.now();
      const req: AgentRequest<'create-memfd'> = { op: 'create-memfd', id: m.id, size, seed: m.seed ?? 1, sparse: m.sparse ?? false, seals: m.seals ?? [], ...(m.pos === undefined ? {} : { pos: m.pos }), ...(m.noexec === true ? { noexec: true } : {}) };
      const r = expectOk(step, await call(ctx, req));
      if (r.ok) {
        const record = { size: r.size, sha256: r.sha256, seals: r.seals ?? [], fd: r.fd, ...(m.pos === undefined ? {} : { pos: m.pos }) };
        if (m.holes !== undefined) record.sha256 = await punchHoles(ctx, step, record.fd, { size, seed: m.seed ?? 1, sparse: m.sparse ?? false }, m.holes);
        ctx.memfds.set(m.id, record);
        if (size >= 64 << 20) ctx.figures[`memfd ${m.id} create+fill+hash ms`] = Math.round(performance.now() - started);
      }
      return r;
    }
    case 'preserve': {
      const p = step.preserve;
      return expectOk(step, await ('memfd' in p ? call(ctx, { op: 'preserve', session: p.session, token: p.token, memfd: p.memfd }) : call(ctx, { op: 'preserve-fd', session: p.session, token: p.token, path: p.path })));
    }
    case 'close_session':
      return expectOk(step, await call(ctx, { op: 'close-session', name: step.close_session }));
    case 'write_memfd':
      return expectOk(step, await call(ctx, { op: 'write-memfd', memfd: step.write_memfd.id, offset: step.write_memfd.offset, data: step.write_memfd.data }));
    case 'kill_holder': {
      const r = expectOk(step, await call(ctx, { op: 'exit' }));
      ctx.agentUp = false;
      return r;
    }
    case 'hold':
      return expectOk(step, await call(ctx, { op: 'hold', session: step.hold.session, mode: step.hold.mode }));
    case 'finish':
      return expectOk(step, await call(ctx, { op: 'finish', session: step.finish.session, reserved: step.finish.reserved }));
    case 'agent': {
      const { expect, ...req } = step.agent;
      return expectReply(expect, expectOk(step, await call(ctx, rawRequest(req))));
    }
    case 'mutate_memfd':
      return mutateStep(ctx, step);
    case 'kexec_load': {
      const syscall = ctx.overrides.kexecSyscall ?? step.kexec_load.syscall;
      const r = await loadKexec(ctx.machine, { ...targetImage(ctx), syscall });
      ctx.kexecLoaded = syscall;
      return r;
    }
    case 'kexec':
      return kexecStep(ctx, step);
    case 'retrieve':
      return retrieveStep(ctx, step);
    case 'session_absent': {
      const r = await call(ctx, { op: 'retrieve-session', name: step.session_absent });
      if (r.ok) throw new StepFailure(`session '${step.session_absent}' arrived after the kexec, but it should have been dropped`);
      return expectOk({ ...step, expect_error: { errno: 'ENOENT', call: 'RETRIEVE_SESSION' } }, r);
    }
    case 'memory':
      return memoryStep(ctx, step);
    case 'bulk_preserve':
      return bulkPreserveStep(ctx, step);
    case 'bulk_retrieve':
      return bulkRetrieveStep(ctx, step);
    case 'debugfs':
      return debugfsStep(ctx, step);
    case 'kselftest':
      return kselftestStep(ctx, step);
    case 'log':
      return logStep(ctx, step);
  }
}

/**
 * Starts the holder on first use (after every kexec too: the old one went with the old kernel).
 * LUO being unavailable fails the step whatever errno it expects: an ioctl's expected ENOENT must
 * never be satisfied by the device's absence (open_liveupdate is the step that checks that).
 */
async function call<R extends AgentRequest>(ctx: StepContext, req: R): Promise<AgentResult<R['op']>> {
  delete ctx.lastDump;
  if (!ctx.agentUp) {
    const started = await ctx.agent.start();
    if (!started.ok) {
      throw new StepFailure(`LUO is unavailable: open(/dev/liveupdate) → ${describeReply(started)}`, handoverDiagnosis(ctx.machine.vm, diagnosisInput(ctx)));
    }
    ctx.agentUp = true;
  }
  return ctx.agent.request(req);
}

/**
 * The `agent` step's request, free-form by design (a scenario may send what the typed steps do
 * not): only the op is checked here; the agent itself refuses bad fields (errno from "request").
 */
function rawRequest(req: { op: string; [field: string]: unknown }): AgentRequest {
  if (!isOp(req.op)) throw new HandoverError('usage-error', `agent step: unknown op '${req.op}'`);
  return req as AgentRequest;
}

function diagnosisInput(ctx: StepContext): { syscall?: 'file' | 'legacy'; append: string; kexecAppend?: string } {
  return {
    append: ctx.append,
    ...(ctx.lastSyscall === undefined ? {} : { syscall: ctx.lastSyscall }),
    ...(ctx.overrides.kexecAppend === undefined ? {} : { kexecAppend: ctx.overrides.kexecAppend }),
  };
}

/** The agent's own failures (a malformed request, a name it does not hold, a missing uapi): never the kernel's answer. */
const AGENT_CALLS = new Set(['request', 'lookup', 'uapi']);

/**
 * An errno reply fails the step, unless the step expects exactly that errno from the kernel: in
 * the call it names (`RETRIEVE_SESSION` matches `ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)`), or
 * in any kernel call of the step. The agent's own ENOENT ("the agent holds no session…") never
 * satisfies an expected kernel ENOENT.
 */
export function expectOk<T extends AgentReply>(step: Step, r: T): T {
  const given = step.expect_error === undefined ? undefined : typeof step.expect_error === 'string' ? { errno: step.expect_error } : step.expect_error;
  const call = given?.call ?? stepCall(step);
  const want = given === undefined ? undefined : { errno: given.errno, ...(call === undefined ? {} : { call }) };
  const evidence = [JSON.stringify(r)];
  if (want === undefined) {
    if (!r.ok) throw new StepFailure(`${step.kind.replace('_', ' ')} failed: ${describeReply(r)}`, evidence);
    return r;
  }
  const label = `${want.errno}${want.call === undefined ? '' : ` from ${want.call}`}`;
  if (r.ok) throw new StepFailure(`expected ${label}, but it succeeded`, evidence);
  const got = typeof r.call === 'string' ? r.call : undefined;
  if (got !== undefined && AGENT_CALLS.has(got)) {
    throw new StepFailure(`expected ${label} from the kernel, but the agent itself refused (${got}): ${describeReply(r)}`, evidence);
  }
  if (r.errno !== want.errno) throw new StepFailure(`expected ${label}, got ${describeReply(r)}${got === undefined ? '' : ` from ${got}`}`, evidence);
  if (want.call !== undefined && !callMatches(got, want.call)) {
    throw new StepFailure(`expected ${label}, but ${want.errno} came from ${got ?? 'an unnamed call'}`, evidence);
  }
  return r;
}

/**
 * The reply carries every field of `expect` with exactly that value (compared as JSON): a field
 * the reply lacks fails, so a check never passes on what the agent did not report.
 */
export function expectReply<T extends AgentReply>(expect: Readonly<Record<string, unknown>> | undefined, r: T): T {
  if (expect === undefined) return r;
  const reply = r as Readonly<Record<string, unknown>>;
  for (const [key, want] of Object.entries(expect)) {
    if (!(key in reply)) throw new StepFailure(`the reply has no '${key}' (expected ${JSON.stringify(want)})`, [JSON.stringify(r)]);
    if (JSON.stringify(reply[key]) !== JSON.stringify(want)) {
      throw new StepFailure(`the reply's '${key}' is ${JSON.stringify(reply[key])}, expected ${JSON.stringify(want)}`, [JSON.stringify(r)]);
    }
  }
  return r;
}

/** The agent ops whose errno is one LUO ioctl's answer. */
const OP_CALL: Readonly<Record<string, string>> = {
  'create-session': 'CREATE_SESSION',
  'retrieve-session': 'RETRIEVE_SESSION',
  preserve: 'PRESERVE_FD',
  'preserve-fd': 'PRESERVE_FD',
  'retrieve-fd': 'RETRIEVE_FD',
  finish: 'FINISH',
  'get-name': 'GET_NAME',
  'ioctl-raw': 'ioctl(raw)',
  'preserve-as': 'PRESERVE_FD',
  'open-device': 'open',
  'same-file': 'RETRIEVE_FD',
};

/**
 * The call a step's expected errno must come from when the step names none: its own ioctl
 * (preserving /nonexistent fails in open(), which must not pass for PRESERVE_FD's ENOENT).
 */
function stepCall(step: Step): string | undefined {
  switch (step.kind) {
    case 'open_liveupdate':
      return 'open';
    case 'create_session':
      return OP_CALL['create-session'];
    case 'preserve':
      return OP_CALL.preserve;
    case 'finish':
      return OP_CALL.finish;
    case 'agent':
      return OP_CALL[step.agent.op];
    case 'mutate_memfd':
      return MUTATE_CALL[step.mutate_memfd.op];
    default:
      return undefined;
  }
}

/** `RETRIEVE_SESSION` names `ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)`; `open` names `open(/dev/liveupdate)`. */
function callMatches(call: string | undefined, want: string): boolean {
  if (call === undefined) return false;
  if (call === want) return true;
  const m = /^(\w+)\((.*)\)$/.exec(call);
  const fn = m?.[1] ?? call;
  const arg = m?.[2] ?? '';
  return fn === want || arg === want || arg.endsWith(`_${want}`);
}

async function execStep(ctx: StepContext, step: Extract<Step, { kind: 'exec' }>): Promise<unknown> {
  const spec = Array.isArray(step.exec) ? { argv: step.exec } : step.exec;
  const r = await ctx.machine.guest.exec(spec.argv, { timeoutMs: (step.timeout ?? 60) * 1000 });
  const want = 'expect_exit' in spec && spec.expect_exit !== undefined ? spec.expect_exit : 0;
  const tail = [...r.stdout.split('\n').slice(-10), ...r.stderr.split('\n').slice(-10)].filter(Boolean);
  if (r.exitCode !== want) throw new StepFailure(`${spec.argv.join(' ')} exited ${r.exitCode ?? r.signal ?? '?'}, expected ${want}`, tail);
  if ('stdout_contains' in spec && spec.stdout_contains !== undefined && !r.stdout.includes(spec.stdout_contains)) {
    throw new StepFailure(`${spec.argv.join(' ')}: stdout does not contain '${spec.stdout_contains}'`, tail);
  }
  return { exitCode: r.exitCode, stdout: r.stdout.slice(0, 4096) };
}

async function kexecStep(ctx: StepContext, step: Extract<Step, { kind: 'kexec' }>): Promise<unknown> {
  const results = [];
  for (let i = 0; i < step.kexec.count; i++) {
    const syscall = ctx.overrides.kexecSyscall ?? step.kexec.syscall ?? ctx.kexecLoaded ?? 'file';
    let loadMs = 0;
    if (ctx.kexecLoaded !== syscall) loadMs += (await loadKexec(ctx.machine, { ...targetImage(ctx), syscall })).loadMs;
    if (ctx.overrides.kexecAppend !== undefined) {
      loadMs += (await loadKexec(ctx.machine, { ...targetImage(ctx), syscall, append: ctx.overrides.kexecAppend })).loadMs;
    }
    const expectRelease = (ctx.kexecTarget ?? ctx.machine.kernel).metadata.release;
    const luoBefore = ctx.agentUp || (await luoDeviceNow(ctx));
    // Within the step's budget, so a kernel that never comes up ends as kexec-timeout or kernel-hang.
    const deadlineMs = ctx.stepDeadline === undefined ? (step.timeout ?? 120) * 1000 : Math.max(1000, ctx.stepDeadline - Date.now() - 1500);
    await ctx.beforeKexec?.();
    const r = await fireKexec(ctx.machine, { deadlineMs, expectRelease });
    ctx.releases.push(r.release);
    ctx.kexecLoaded = undefined;
    ctx.lastSyscall = syscall;
    ctx.agentUp = false;
    ctx.blackoutsMs.push(Math.round(r.blackoutMs));
    const proof = handoverProof(ctx, r.boot, step.kexec.handover, luoBefore);
    results.push({
      boot: r.boot,
      release: r.release,
      loadMs: Math.round(loadMs),
      blackoutMs: Math.round(r.blackoutMs),
      sshReadyMs: Math.round(r.sshReadyMs),
      triggerAtMs: Math.round(r.triggerAtMs),
      sshReadyAtMs: Math.round(r.sshReadyAtMs),
      syscall,
      ...proof,
    });
  }
  return results;
}

/** /dev/liveupdate on the boot about to kexec: then the next one must retrieve LUO's state. */
async function luoDeviceNow(ctx: StepContext): Promise<boolean> {
  const r = await ctx.machine.guest.exec(['test', '-c', '/dev/liveupdate']);
  return r.exitCode === 0;
}

/**
 * What the new boot's console proves about the handover: KHO found the data, and (when the old
 * boot ran LUO) LUO retrieved its state with the live update number one up. A kexec that carried
 * nothing must not pass as one that carried the sessions (`handover: false` says none is expected).
 */
export function handoverProof(ctx: StepContext, boot: number, expected: boolean, luoBefore: boolean): { liveupdateNumber?: number } {
  const markers = parseMarkers(ctx.machine.vm.console.lines());
  const now = summarizeBoot(markers, boot);
  const before = summarizeBoot(markers, boot - 1).liveupdateNumber ?? 0;
  if (!expected) {
    if (now.khoFound) throw new StepFailure(`boot ${boot} received a KHO handover, but this kexec expects none (handover: false)`, [`console: KHO: found kexec handover data.`]);
    return {};
  }
  const why = () => handoverDiagnosis(ctx.machine.vm, diagnosisInput(ctx));
  if (!now.khoFound) throw new StepFailure(`the handover did not arrive: boot ${boot}'s console has no 'KHO: found kexec handover data'`, why());
  if (!luoBefore) return {};
  if (now.liveupdateNumber === undefined) {
    throw new StepFailure(`the handover did not arrive: boot ${boot}'s console has no 'luo: Retrieved live update data' (boot ${boot - 1} ran LUO)`, why());
  }
  if (now.liveupdateNumber !== before + 1) {
    throw new StepFailure(`boot ${boot}: LUO live update number ${now.liveupdateNumber}, expected ${before + 1} (boot ${boot - 1} had ${before})`, why());
  }
  return { liveupdateNumber: now.liveupdateNumber };
}

/** The image every kexec loads: kernel B's when the scenario hands over to another kernel. */
function targetImage(ctx: StepContext): Pick<KexecOptions, 'bzImage'> {
  return ctx.kexecTarget === undefined ? {} : { bzImage: ctx.kexecTarget.artifacts.bzImage };
}

/** Why this step cannot run on the current boot's kernel (its `requires`), or undefined. */
export async function stepSkipReason(ctx: StepContext, step: Step): Promise<string | undefined> {
  return step.requires === undefined ? undefined : capabilityGap(ctx, step.requires);
}

/**
 * What the running kernel lacks of `needs`, probed once per boot (a kexec may land in a kernel
 * that differs); runtime probes (a LUO call) run only when asked for.
 */
export async function capabilityGap(ctx: StepContext, needs: readonly Requirement[]): Promise<string | undefined> {
  const boot = ctx.machine.vm.boots;
  let entry = ctx.caps.get(boot);
  if (entry === undefined) {
    entry = { files: await probeKhoCapabilities(ctx.machine.guest) };
    ctx.caps.set(boot, entry);
  }
  if (needs.includes('get-name') && entry.getName === undefined) entry.getName = entry.files.luoDevice && (await probeGetName(ctx));
  const caps = entry;
  // A requirement read from a blob that is there but unreadable says nothing about the kernel's
  // interface: it must not turn a check of that same data into a skip.
  const garbage = unreadableRequirement(caps.files, needs);
  if (garbage !== undefined) throw new StepFailure(garbage);
  const reasons = needs.map((n) => unmetRequirement(caps.files, n, caps)).filter((r): r is string => r !== undefined);
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

/**
 * A requirement read from a blob that is present but in no known format: that says nothing about
 * the kernel's interface, so it fails the step instead of skipping it.
 */
export function unreadableRequirement(caps: KhoCapabilities, needs: readonly Requirement[]): string | undefined {
  if (!needs.includes('luo-raw') || caps.luoFormat !== 'unknown') return undefined;
  return 'requires luo-raw, but the LUO blob in debugfs (kho/out/sub_fdts/LUO, else kho/in/sub_fdts/LUO) is present in no known format: a garbage blob cannot skip a check';
}

/** GET_NAME on a throwaway outgoing session: 7.2+ answers, older kernels say EINVAL (reference §4.3). */
async function probeGetName(ctx: StepContext): Promise<boolean> {
  const name = `handover-probe-boot${ctx.machine.vm.boots}`;
  const created = await call(ctx, { op: 'create-session', name });
  if (!created.ok) throw new StepFailure(`capability probe: CREATE_SESSION '${name}' failed: ${describeReply(created)}`);
  try {
    const r = await call(ctx, { op: 'get-name', session: name });
    return r.ok && r.name === name;
  } finally {
    await call(ctx, { op: 'close-session', name });
  }
}

async function retrieveStep(ctx: StepContext, step: Extract<Step, { kind: 'retrieve' }> & { line: number }): Promise<unknown> {
  const { session, tokens, finish } = step.retrieve;
  const diagnosis = () => handoverDiagnosis(ctx.machine.vm, diagnosisInput(ctx));
  const s = await call(ctx, { op: 'retrieve-session', name: session }).catch((err: unknown) => {
    if (err instanceof StepFailure) throw new StepFailure(`session '${session}' was lost across the kexec: ${err.message}`, err.evidence);
    throw err;
  });
  if (!s.ok) throw new StepFailure(`session '${session}' was lost across the kexec: RETRIEVE_SESSION → ${describeReply(s)}`, diagnosis());
  const verified: unknown[] = [];
  for (const [token, id] of Object.entries(tokens)) {
    const want = ctx.memfds.get(id);
    if (want === undefined) throw new HandoverError('usage-error', `${ctx.scenario.file}:${step.line}: retrieve names memfd '${id}', which no memfd step created`);
    const f = await call(ctx, { op: 'retrieve-fd', session, token: Number(token) });
    if (!f.ok) throw new StepFailure(`session '${session}' token ${token} (memfd '${id}'): RETRIEVE_FD → ${describeReply(f)}`, diagnosis());
    const wantSeals = step.retrieve.seals?.[id] ?? want.seals;
    // The agent takes seal names only; an unknown bit ("0x..") is still compared below, by retrieveDiffs.
    const v = await call(ctx, { op: 'verify', session, token: Number(token), size: want.size, sha256: want.sha256, seals: wantSeals.filter(isSealName), ...(want.pos === undefined ? {} : { pos: want.pos }) });
    // A failed verify echoes what it could read; absent fields compare as absent, not as a match.
    const got = { size: v.size ?? Number.NaN, sha256: v.sha256 ?? '', seals: v.seals ?? [], pos: v.pos ?? Number.NaN };
    const diffs = retrieveDiffs({ ...want, seals: wantSeals }, got, step.retrieve.seals?.[id] !== undefined);
    if (!v.ok && diffs.length === 0) diffs.push(`verify failed: ${describeReply(v)}`);
    if (diffs.length > 0) throw new StepFailure(`memfd '${id}' (session '${session}', token ${token}) came back different: ${diffs[0] ?? ''}`, diffs);
    verified.push({ token: Number(token), memfd: id, ...got });
  }
  if (finish) {
    const r = await call(ctx, { op: 'finish', session });
    if (!r.ok) throw new StepFailure(`FINISH of session '${session}' failed: ${describeReply(r)}`);
  }
  return verified;
}

/** memory: /proc/meminfo after dropping caches, recorded under a name or judged against one. */
async function memoryStep(ctx: StepContext, step: Extract<Step, { kind: 'memory' }>): Promise<unknown> {
  const r = expectOk(step, await call(ctx, { op: 'meminfo', dropCaches: true, preloadedDir: PRELOADED_KEXEC_DIR }));
  // An expected errno (expect_error) has no figures to mark or judge.
  if (!r.ok) return r;
  const now = {
    memTotal: r.memTotal,
    memFree: r.memFree,
    memAvailable: r.memAvailable,
    shmem: r.shmem,
    ...(r.shmemHuge === undefined ? {} : { shmemHuge: r.shmemHuge }),
    ...(r.bootFdt === undefined ? {} : { bootFdt: r.bootFdt }),
    ...(r.preloaded === undefined ? {} : { preloaded: r.preloaded }),
    ...(r.pcpFree === undefined ? {} : { pcpFree: r.pcpFree }),
  };
  const m = step.memory;
  if ('mark' in m) {
    ctx.memoryMarks.set(m.mark, { ...now, boot: ctx.machine.vm.boots });
    return { mark: m.mark, ...now };
  }
  const mark = ctx.memoryMarks.get(m.since);
  if (mark === undefined) throw new HandoverError('usage-error', `${ctx.scenario.file}: memory since '${m.since}', which no earlier memory step marked`);
  const delta = memoryDelta(mark, now);
  const bounds: Record<string, number> = {};
  for (const key of ['reserved_max', 'reserved_min', 'shmem_max_growth', 'memfree_max_loss', 'shmem_huge_min'] as const) {
    const v = m[key];
    if (v !== undefined) bounds[key] = parseSize(v, ctx.memoryMiB);
  }
  const seen = { since: m.since, sinceBoot: mark.boot, boot: ctx.machine.vm.boots, ...now, delta };
  const problems = memoryProblems(m.since, delta, bounds);
  if (problems.length > 0) throw new StepFailure(problems.join('; '), [JSON.stringify(seen)]);
  return seen;
}

async function bulkPreserveStep(ctx: StepContext, step: Extract<Step, { kind: 'bulk_preserve' }>): Promise<unknown> {
  const b = step.bulk_preserve;
  const spec = { prefix: b.id, sessions: b.sessions, files: b.files, size: parseSize(b.size, ctx.memoryMiB), seed: b.seed };
  const r = expectOk(step, await call(ctx, { op: 'bulk-preserve', ...spec }));
  ctx.bulks.set(b.id, spec);
  if (r.ok) ctx.figures[`bulk ${b.id} preserve ms`] = Math.round(r.ms);
  return r;
}

async function bulkRetrieveStep(ctx: StepContext, step: Extract<Step, { kind: 'bulk_retrieve' }>): Promise<unknown> {
  const spec = ctx.bulks.get(step.bulk_retrieve);
  if (spec === undefined) throw new HandoverError('usage-error', `${ctx.scenario.file}: bulk_retrieve '${step.bulk_retrieve}', which no earlier bulk_preserve made`);
  const r = await call(ctx, { op: 'bulk-retrieve', ...spec });
  const files = spec.sessions * (spec.files ?? 1);
  if (!r.ok) {
    const where = `${r.sessionsDone ?? '?'} of ${spec.sessions} sessions and ${r.filesDone ?? '?'} of ${files} memfds came back before ${typeof r.failedSession === 'string' ? `session '${r.failedSession}'${typeof r.failedToken === 'number' ? ` token ${r.failedToken}` : ''}` : 'the failure'}`;
    throw new StepFailure(`bulk set '${step.bulk_retrieve}': ${where}: ${describeReply(r)} from ${r.call}`, [JSON.stringify(r)]);
  }
  ctx.figures[`bulk ${step.bulk_retrieve} retrieve ms`] = Math.round(r.ms);
  return r;
}

async function debugfsStep(ctx: StepContext, step: Extract<Step, { kind: 'debugfs' }>): Promise<unknown> {
  const boot = ctx.machine.vm.boots;
  const dump = ctx.lastDump?.boot === boot ? ctx.lastDump.dump : await dumpKhoDebugfs(ctx.machine.guest);
  ctx.lastDump = { boot, dump };
  await keepDump(ctx, dump);
  // /init's own report of a failed debugfs mount, if any: the cause behind "not mounted".
  const vm = ctx.machine.vm;
  const warning = vm.console.lines(vm.console.currentBoot).filter((l) => parseMilestone(l.text)?.fields.what === 'mount-debugfs');
  return checkDebugfs(dump, step.debugfs, warning.map((l) => `console: ${l.text}`));
}

/** The debugfs tree of each boot is kept once, as the scenario's evidence. */
async function keepDump(ctx: StepContext, dump: KhoDump): Promise<void> {
  const boot = ctx.machine.vm.boots;
  if (ctx.dumpedBoots.has(boot)) return;
  ctx.dumpedBoots.add(boot);
  await saveKhoDump(dump, join(ctx.dir, `debugfs-boot-${boot}`));
}

function logStep(ctx: StepContext, step: Extract<Step, { kind: 'log' }>): unknown {
  const vm = ctx.machine.vm;
  return checkLog(vm.console, step.log, () => handoverDiagnosis(vm, diagnosisInput(ctx)));
}

const KSFT_SKIP = 4;
/** The lines the staged LUO kselftests end each stage with (lu_utils.c daemonize_and_wait; the tests' own). */
const STAGE_PROOF = { 1: /\[STAGE 1\] You may now perform kexec reboot/, 2: /--- [A-Z -]*TEST PASSED ---/ } as const;

async function kselftestStep(ctx: StepContext, step: Extract<Step, { kind: 'kselftest' }>): Promise<unknown> {
  const { test, stage } = step.kselftest;
  const binary = await kselftestBinary(ctx.machine.kernel, test);
  const guestPath = `/run/handover/kselftest/${test}`;
  await ctx.machine.guest.run(['mkdir', '-p', '/run/handover/kselftest']);
  await ctx.machine.guest.upload(binary, guestPath, { mode: 0o755 });
  const r = await ctx.machine.guest.exec([guestPath, ...(stage === undefined ? [] : ['-s', String(stage)])], { timeoutMs: (step.timeout ?? 120) * 1000 });
  const label = `${test}${stage === undefined ? '' : ` stage ${stage}`}`;
  await writeFile(join(ctx.dir, `kselftest-${test}${stage === undefined ? '' : `-stage${stage}`}.log`), r.stdout + r.stderr);
  return judgeKselftest(label, stage, r);
}

/**
 * A kselftest's verdict from its exit code and output: a failing case or exit fails it, and so
 * does a run that proves nothing (no case, every case skipped, a stage without its last line).
 */
export function judgeKselftest(
  label: string,
  stage: 1 | 2 | undefined,
  r: { exitCode: number | null; signal?: string | null; stdout: string; stderr: string },
): { exitCode: number | null; cases: { name: string; ok: boolean; directive?: string }[] } {
  const cases = flattenKtap(parseKtap(r.stdout).cases);
  const bad = cases.filter((c) => !c.ok && c.directive !== 'SKIP' && c.directive !== 'XFAIL');
  const tail = [...r.stdout.split('\n'), ...r.stderr.split('\n')].filter(Boolean).slice(-15);
  if (r.exitCode === KSFT_SKIP) throw new StepFailure(`${label} skipped itself (exit 4)`, tail);
  if (r.exitCode !== 0 || bad.length > 0) {
    const names = bad.map((c) => c.path).join(', ');
    throw new StepFailure(`${label} failed (exit ${r.exitCode ?? r.signal ?? '?'})${names === '' ? '' : `: not ok ${names}`}`, tail);
  }
  // Exit 0 proves nothing by itself: a test that ran no case, or skipped every one, did not pass.
  // The staged tests print no KTAP cases; each stage proves itself by its own last line instead.
  if (stage !== undefined) {
    const proof = STAGE_PROOF[stage];
    if (!proof.test(r.stdout)) throw new StepFailure(`${label} exited 0 without its stage ${stage} line (/${proof.source}/): it did not get to the end`, tail);
  } else if (cases.length === 0) {
    throw new StepFailure(`${label} exited 0 but reported no KTAP test case: nothing was tested`, tail);
  } else if (cases.every((c) => c.directive === 'SKIP')) {
    throw new StepFailure(`${label} skipped every one of its ${cases.length} case(s): nothing was tested`, tail);
  }
  return { exitCode: r.exitCode, cases: cases.map((c) => ({ name: c.path, ok: c.ok, ...(c.directive === undefined ? {} : { directive: c.directive }) })) };
}

/** 4096, "4K", "2M", "1G", or "25%" of guest memory. */
export function parseSize(size: number | string, memoryMiB: number): number {
  if (typeof size === 'number') return size;
  const m = /^(\d+(?:\.\d+)?)([KMG]|%)?$/.exec(size);
  const n = Number(m?.[1] ?? Number.NaN);
  switch (m?.[2]) {
    case 'K':
      return Math.round(n * 1024);
    case 'M':
      return Math.round(n * 1024 ** 2);
    case 'G':
      return Math.round(n * 1024 ** 3);
    case '%':
      return Math.round(((n / 100) * memoryMiB * 1024 ** 2) / 4096) * 4096;
    default:
      return Math.round(n);
  }
}

/** The agent call whose errno each mutate_memfd op is (expect_error accepts it from that call only). */
const MUTATE_CALL: Readonly<Record<string, string>> = {
  ftruncate: 'ftruncate',
  'write-past-eof': 'pwrite',
  fallocate: 'fallocate',
  'punch-hole': 'fallocate',
  write: 'pwrite',
  'mmap-write': 'mmap',
};

/** How a retrieved memfd differs from what was preserved (empty: it is the same). */
export function retrieveDiffs(
  want: { size: number; sha256: string; seals: readonly string[]; pos?: number },
  got: { size: number; sha256: string; seals: readonly string[]; pos: number },
  sealsStated = false,
): string[] {
  const diffs: string[] = [];
  if (got.size !== want.size) diffs.push(`size: preserved ${want.size}, retrieved ${got.size}`);
  if (got.sha256 !== want.sha256) diffs.push(`SHA-256 mismatch: preserved ${want.sha256}, retrieved ${got.sha256}`);
  if ([...got.seals].sort().join(',') !== [...want.seals].sort().join(',')) {
    diffs.push(`seals: ${sealsStated ? 'expected' : 'preserved'} [${want.seals.join(',')}], retrieved [${got.seals.join(',')}]`);
  }
  if (want.pos !== undefined && got.pos !== want.pos) diffs.push(`pos: preserved ${want.pos}, retrieved ${got.pos}`);
  return diffs;
}

type Hole = 'start' | 'middle' | 'end' | { offset: number; length: number };

/** Byte ranges of the named holes in a file of `size` bytes (pages of PATTERN_PAGE; the end one runs to EOF). */
export function holeRanges(size: number, holes: readonly Hole[]): { offset: number; length: number }[] {
  const pages = Math.ceil(size / PATTERN_PAGE);
  return holes.map((h) => {
    if (typeof h === 'object') return h;
    const page = h === 'start' ? 0 : h === 'middle' ? Math.floor(pages / 2) : pages - 1;
    const offset = page * PATTERN_PAGE;
    return { offset, length: Math.min(size, offset + PATTERN_PAGE) - offset };
  });
}

/**
 * Punches the holes into a fresh memfd and returns its SHA-256 after: the agent's, which must equal
 * the host's own (the pattern with those ranges zeroed), so a punch that left data fails here.
 */
async function punchHoles(ctx: StepContext, step: Step, fd: number, spec: { size: number; seed: number; sparse: boolean }, holes: readonly Hole[]): Promise<string> {
  let sha = '';
  const ranges = holeRanges(spec.size, holes);
  for (const r of ranges) {
    const reply = await call(ctx, { op: 'mutate-memfd', fd, action: 'punch-hole', offset: r.offset, length: r.length });
    if (!reply.ok) throw new StepFailure(`punching the hole [${r.offset}, ${r.offset + r.length}) failed: ${describeReply(reply)}`, [JSON.stringify(reply)]);
    sha = reply.sha256;
  }
  if (spec.size <= HOST_HASH_MAX) {
    const want = holedSha256(spec, ranges);
    if (want !== sha) throw new StepFailure(`after punching its holes the memfd hashes ${sha}, but the pattern with those ranges zeroed hashes ${want}`);
  }
  return sha;
}

/** The host re-derives contents with BigInt arithmetic: fine up to a few MiB. */
const HOST_HASH_MAX = 8 << 20;

export function holedSha256(spec: { size: number; seed: number; sparse: boolean }, ranges: readonly { offset: number; length: number }[]): string {
  const bytes = memfdContents(spec);
  for (const r of ranges) bytes.fill(0, r.offset, Math.min(spec.size, r.offset + r.length));
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * mutate_memfd: the change a program would make. A size change (or any op under expect_error) is
 * the kernel's to refuse; a write that succeeds must change the contents, and the new SHA-256 is
 * what retrieve then expects (the write was made to a preserved memfd: it is handed over).
 */
async function mutateStep(ctx: StepContext, step: Extract<Step, { kind: 'mutate_memfd' }>): Promise<unknown> {
  const m = step.mutate_memfd;
  const rec = ctx.memfds.get(m.id);
  if (rec?.fd === undefined) throw new HandoverError('usage-error', `${ctx.scenario.file}: mutate_memfd names memfd '${m.id}', which no memfd step created`);
  const req: AgentRequest<'mutate-memfd'> = { op: 'mutate-memfd', fd: rec.fd, action: m.op, offset: m.offset, ...(m.length === undefined ? {} : { length: m.length }), ...(m.data === undefined ? {} : { data: m.data }) };
  const r = expectOk(step, await call(ctx, req));
  if (!r.ok) return r;
  const sha = r.sha256;
  if ((m.op === 'write' || m.op === 'mmap-write') && sha === rec.sha256) {
    throw new StepFailure(`${m.op} of ${m.data?.length ?? 0} bytes at ${m.offset} into memfd '${m.id}' succeeded but left its SHA-256 unchanged (${sha})`, [JSON.stringify(r)]);
  }
  ctx.memfds.set(m.id, { ...rec, size: r.size, sha256: sha });
  return r;
}
