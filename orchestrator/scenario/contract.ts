// The contract: every promise LUO and memfd preservation make (`kho-luo-7.3.md` §1.4-1.7 and §2,
// with the 7.3 source lines), each with an id that check steps name (`promise: memfd.pos`). The
// loader refuses an unknown id; results.json and the README table say, per promise, which steps
// checked it and what they found. A promise no step checks is `unchecked`, never a pass.

export interface Promise_ {
  id: string;
  /** What the kernel promises, in one line. */
  promise: string;
  /** Where it is written (the 7.3 source or its documentation). */
  source: string;
}

export const PROMISES = [
  // KHO and the handover itself.
  { id: 'kho.on-by-default', promise: 'KHO is on without kho= on the command line (CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT)', source: 'kexec_handover.c:78-82' },
  { id: 'kho.off', promise: 'kho=off: no KHO debugfs, LUO disabled, /dev/liveupdate absent (ENOENT)', source: 'luo_core.c:91-96, 435-442' },
  { id: 'kho.out-fdt', promise: 'kho/out/fdt is in debugfs on every boot, a valid FDT', source: 'kexec_handover_debugfs.c' },
  { id: 'kho.handover', promise: 'a kexec_file_load kexec carries the KHO data; the new kernel finds it', source: 'kexec_handover.c kho_populate' },
  { id: 'luo.live-update-number', promise: 'the live update number goes up by one per kexec', source: 'luo_core.c:154-187' },
  // memfd: what is kept (memfd_luo.c:33-56).
  { id: 'memfd.contents', promise: 'contents survive byte for byte, at any size (one byte, not a page multiple, MiBs, large folios)', source: 'memfd_luo.c:87-229' },
  { id: 'memfd.size', promise: 'i_size survives exactly', source: 'memfd_luo.c:33-56' },
  { id: 'memfd.holes', promise: 'holes (at the start, middle, end) come back as zeros', source: 'memfd_luo.c:121-131, 179-195' },
  { id: 'memfd.large-folios', promise: 'shmem THP folios keep their order: a memfd in large folios comes back in large folios', source: 'memfd_luo.c:87-229 (order kept), 438-481; shmem.c:881-886' },
  { id: 'memfd.pos', promise: 'the file position (f_pos at reboot) survives', source: 'memfd_luo.c:324-340' },
  { id: 'memfd.seals', promise: 'every seal (seal, shrink, grow, write, future-write, exec), alone or combined, is re-applied', source: 'memfd_luo.c:282-286, 529-533; abi/memfd.h:136-141' },
  { id: 'memfd.seal-exec', promise: 'F_SEAL_EXEC on the restored 0777 inode widens to the write seals (the quirk, recorded as it is)', source: 'mm/memfd.c:290-292' },
  { id: 'memfd.frozen', promise: 'a preserved memfd cannot change its mapping: ftruncate, write past EOF, fallocate, punch-hole are EPERM', source: 'shmem_fs.h:25-32; mm/shmem.c:1360, 3266, 3644' },
  { id: 'memfd.writable', promise: 'writes within the size (write, MAP_SHARED) still work on a preserved memfd and are handed over', source: 'memfd_luo.c:33-56' },
  // Which files LUO refuses (luo_file.c:230-313).
  { id: 'refuse.no-handler', promise: 'files no handler takes are ENOENT: /dev/null, a pipe, a regular file, a linked tmpfs file, a hugetlb memfd', source: 'luo_file.c:251-264; memfd_luo.c:580-586' },
  { id: 'refuse.same-inode', promise: 'the same inode twice is EBUSY: the same fd, a dup(), /proc/self/fd/N, another session', source: 'luo_file.c:266-269; memfd_luo.c:588-591' },
  { id: 'accept.unlinked-shmem', promise: 'an unlinked shmem file that is no memfd (O_TMPFILE on tmpfs) is accepted', source: 'memfd_luo.c:580-586' },
  { id: 'refuse.duplicate-token', promise: 'a token used twice in a session is EEXIST', source: 'luo_file.c:238-239' },
  // The ioctl contract (luo_core.c:380-414, luo_session.c:376-437).
  { id: 'ioctl.nr-range', promise: 'an ioctl number out of range is EINVAL (not ENOTTY)', source: 'luo_core.c:396-397; luo_session.c:415-418' },
  { id: 'ioctl.cmd-bits', promise: 'the right number with the wrong type or size bits is ENOTTY', source: 'luo_core.c:405-406; luo_session.c:426-427' },
  { id: 'ioctl.short-struct', promise: 'a struct smaller than its minimum size is EINVAL', source: 'luo_core.c:399-414' },
  { id: 'ioctl.trailing-bytes', promise: 'a larger struct is fine when the extra bytes are zero, E2BIG when they are not', source: 'uaccess.h copy_struct_from_user' },
  { id: 'ioctl.session-kind', promise: 'PRESERVE_FD on an incoming session, RETRIEVE_FD or FINISH on an outgoing one: EINVAL', source: 'luo_session.c:428-429' },
  { id: 'ioctl.finish-reserved', promise: 'FINISH with reserved != 0 is EINVAL', source: 'luo_session.c:314-328' },
  { id: 'ioctl.get-name', promise: 'GET_NAME gives the session name on both kinds of session; reserved != 0 is EINVAL', source: 'luo_session.c:335-336' },
  { id: 'device.single-opener', promise: 'a second opener of /dev/liveupdate gets EBUSY', source: 'luo_core.c:336-337' },
  // Sessions and names.
  { id: 'session.name', promise: 'names: empty is EINVAL, 63 bytes work, 64 without a NUL is EINVAL, a duplicate outgoing name is EEXIST', source: 'luo_session.c:195-198, 468-473' },
  { id: 'session.namespaces', promise: 'incoming and outgoing names are separate: an outgoing session may take an incoming one’s name', source: 'luo_session.c:195-198' },
  { id: 'session.unknown', promise: 'RETRIEVE_SESSION of a name not handed over is ENOENT', source: 'luo_session.c:502-530' },
  { id: 'session.retrieve-twice', promise: 'RETRIEVE_SESSION of a session already retrieved and open is EINVAL', source: 'luo_session.c:502-530' },
  { id: 'token.unknown', promise: 'RETRIEVE_FD of a token a session with files never had is ENOENT (found by fuzz --coverage: no scenario walked the whole list)', source: 'luo_file.c:560-571' },
  { id: 'token.retrieve-twice', promise: 'retrieving a token twice gives the same file (same inode)', source: 'luo_file.c:579-587' },
  { id: 'finish.releases', promise: 'after FINISH the session has no files: RETRIEVE_FD is ENOENT; retrieved fds keep working', source: 'luo_file.c:680-717' },
  { id: 'finish.idempotent', promise: 'FINISH twice returns 0', source: 'luo_session.c:314-328' },
  { id: 'session.close-unfinished', promise: 'closing a retrieved session without FINISH finishes it; it is not handed over again', source: 'luo_session.c:242-250' },
  // Lifetimes (luo_session.c:235-261).
  { id: 'lifetime.holder-exit', promise: 'when the last session fd closes before kexec (the holder exits), nothing of the session survives', source: 'luo_session.c:235-261' },
  { id: 'lifetime.fork', promise: 'a session fd inherited over fork() keeps the session alive', source: 'luo_session.c:235-261' },
  { id: 'lifetime.scm-rights', promise: 'a session fd passed over SCM_RIGHTS keeps the session alive', source: 'luo_session.c:235-261' },
  { id: 'lifetime.exec', promise: 'session fds are O_CLOEXEC: exec() drops them', source: 'luo_core.c:270-298' },
  { id: 'lifetime.unretrieved', promise: 'tokens never retrieved before FINISH are discarded; unretrieved sessions are not handed over again', source: 'memfd_luo.c:387-415; uapi doc 205-207' },
  { id: 'lifetime.dynamic', promise: 'sessions and files can change after the kexec image is loaded; what is held at kexec is what arrives', source: 'luo_session.c:644-672' },
  // Memory and scale.
  { id: 'memory.released', promise: 'memory comes back: after FINISH, after a dropped session, across a chain of kexecs', source: 'memfd_luo.c:387-415; luo_file.c:680-717' },
  { id: 'scale.sessions', promise: 'thousands of sessions cross a kexec (the upstream stress count: 2000)', source: 'kho_block.c:38; abi/luo.h:131-134' },
  { id: 'scale.files', promise: 'hundreds of files in one session cross a kexec (the upstream stress count: 500)', source: 'abi/luo.h:97-101' },
  // The in-kernel tests.
  { id: 'upstream.selftests', promise: 'the upstream liveupdate kselftests pass against the tree under test', source: 'tools/testing/selftests/liveupdate' },
  { id: 'kho.selftest', promise: 'the in-kernel KHO test restores its data (debug profile)', source: 'lib/test_kho.c' },
] as const satisfies readonly Promise_[];

export type PromiseId = (typeof PROMISES)[number]['id'];
export const PROMISE_IDS = PROMISES.map((p) => p.id) as [PromiseId, ...PromiseId[]];

/**
 * What a step checks by its kind alone, whatever its file says: every kexec proves the handover
 * arrived (steps.ts handoverProof), every retrieve verifies size and SHA-256.
 */
export function stepPromises(step: { kind: string; promise?: string | readonly string[] | undefined; expect_error?: unknown; kexec?: { handover?: boolean } | undefined }): string[] {
  const implicit =
    step.kind === 'kexec' && step.kexec?.handover !== false
      ? ['kho.handover']
      : step.kind === 'retrieve' && step.expect_error === undefined
        ? ['memfd.contents', 'memfd.size']
        : [];
  return [...new Set([...implicit, ...[step.promise ?? []].flat()])];
}

/** Where a promise was checked and what was found; a step may check several promises. */
export interface ContractCheck {
  scenario: string;
  step: number;
  line: number;
  name: string;
  status: string;
}

export interface ContractEntry {
  id: string;
  promise: string;
  source: string;
  /** failed if any check failed; xfail when a known bug showed; passed only when every check ran and passed; unchecked when none ran. */
  status: 'passed' | 'failed' | 'xfail' | 'skipped' | 'unchecked';
  checks: ContractCheck[];
}

interface StepLike {
  index: number;
  line: number;
  name: string;
  status: string;
  promises?: readonly string[];
}

/**
 * The contract as one run saw it: every promise, in table order. A deferred scenario (one the
 * suite as a whole leaves to its own run, RunOptions.deferProfiles) was not part of the run: its
 * steps count neither way.
 */
export function contractResults(scenarios: readonly { name: string; steps: readonly StepLike[]; deferred?: boolean }[]): ContractEntry[] {
  const ran = scenarios.filter((sc) => sc.deferred !== true);
  return PROMISES.map((p) => {
    const checks = ran.flatMap((sc) =>
      sc.steps
        .filter((st) => st.promises?.includes(p.id) === true)
        .map((st) => ({ scenario: sc.name, step: st.index + 1, line: st.line, name: st.name, status: st.status })),
    );
    return { id: p.id, promise: p.promise, source: p.source, status: contractStatus(checks), checks };
  });
}

/** A promise's status from all its checks (of one run, or of several runs of one kernel). */
export function contractStatus(checks: readonly Pick<ContractCheck, 'status'>[]): ContractEntry['status'] {
  if (checks.length === 0) return 'unchecked';
  const has = (s: string) => checks.some((c) => c.status === s);
  if (has('failed') || has('error')) return 'failed';
  if (has('xfail')) return 'xfail';
  if (checks.every((c) => c.status === 'skipped')) return 'skipped';
  // A promise some of whose checks were skipped is not proven by the others alone.
  return has('skipped') ? 'skipped' : 'passed';
}
