// The guest agent's wire protocol (rootfs/agent/daemon.c): one JSON request per line in, one JSON
// reply per line out, in order. Pure encoding, decoding and types; no I/O, so unit tests can run
// it against lines recorded from the real agent. The transport is in agent.ts.
//
// Reply shape: {"ok":true,"op":...,<fields>} or
// {"ok":false,"op":...,<context fields>,"errno":"EEXIST","errnoValue":17,"call":...,"message":...}.
// `call` names what failed: "ioctl(LIVEUPDATE_...)" or a syscall ("memfd_create", "ftruncate", ...)
// is the kernel's answer; "request", "lookup" and "uapi" are the agent's own refusals.

import { createHash } from 'node:crypto';
import { HandoverError } from '../errors.ts';

/** Every errno name glibc knows (Linux 1..133), in errno order; the agent sends `E<n>` for others. */
export const ERRNO_NAMES = [
  'EPERM', 'ENOENT', 'ESRCH', 'EINTR', 'EIO', 'ENXIO', 'E2BIG', 'ENOEXEC', 'EBADF', 'ECHILD', 'EAGAIN', 'ENOMEM',
  'EACCES', 'EFAULT', 'ENOTBLK', 'EBUSY', 'EEXIST', 'EXDEV', 'ENODEV', 'ENOTDIR', 'EISDIR', 'EINVAL', 'ENFILE',
  'EMFILE', 'ENOTTY', 'ETXTBSY', 'EFBIG', 'ENOSPC', 'ESPIPE', 'EROFS', 'EMLINK', 'EPIPE', 'EDOM', 'ERANGE',
  'EDEADLK', 'ENAMETOOLONG', 'ENOLCK', 'ENOSYS', 'ENOTEMPTY', 'ELOOP', 'ENOMSG', 'EIDRM', 'ECHRNG', 'EL2NSYNC',
  'EL3HLT', 'EL3RST', 'ELNRNG', 'EUNATCH', 'ENOCSI', 'EL2HLT', 'EBADE', 'EBADR', 'EXFULL', 'ENOANO', 'EBADRQC',
  'EBADSLT', 'EBFONT', 'ENOSTR', 'ENODATA', 'ETIME', 'ENOSR', 'ENONET', 'ENOPKG', 'EREMOTE', 'ENOLINK', 'EADV',
  'ESRMNT', 'ECOMM', 'EPROTO', 'EMULTIHOP', 'EDOTDOT', 'EBADMSG', 'EOVERFLOW', 'ENOTUNIQ', 'EBADFD', 'EREMCHG',
  'ELIBACC', 'ELIBBAD', 'ELIBSCN', 'ELIBMAX', 'ELIBEXEC', 'EILSEQ', 'ERESTART', 'ESTRPIPE', 'EUSERS', 'ENOTSOCK',
  'EDESTADDRREQ', 'EMSGSIZE', 'EPROTOTYPE', 'ENOPROTOOPT', 'EPROTONOSUPPORT', 'ESOCKTNOSUPPORT', 'EOPNOTSUPP',
  'EPFNOSUPPORT', 'EAFNOSUPPORT', 'EADDRINUSE', 'EADDRNOTAVAIL', 'ENETDOWN', 'ENETUNREACH', 'ENETRESET',
  'ECONNABORTED', 'ECONNRESET', 'ENOBUFS', 'EISCONN', 'ENOTCONN', 'ESHUTDOWN', 'ETOOMANYREFS', 'ETIMEDOUT',
  'ECONNREFUSED', 'EHOSTDOWN', 'EHOSTUNREACH', 'EALREADY', 'EINPROGRESS', 'ESTALE', 'EUCLEAN', 'ENOTNAM', 'ENAVAIL',
  'EISNAM', 'EREMOTEIO', 'EDQUOT', 'ENOMEDIUM', 'EMEDIUMTYPE', 'ECANCELED', 'ENOKEY', 'EKEYEXPIRED', 'EKEYREVOKED',
  'EKEYREJECTED', 'EOWNERDEAD', 'ENOTRECOVERABLE', 'ERFKILL', 'EHWPOISON',
] as const;

export type KnownErrno = (typeof ERRNO_NAMES)[number];
export type Errno = KnownErrno | `E${number}`;

const ERRNO_SET: ReadonlySet<string> = new Set(ERRNO_NAMES);

export function isErrno(s: unknown): s is Errno {
  return typeof s === 'string' && (ERRNO_SET.has(s) || /^E\d+$/.test(s));
}

/** A LUO token: any u64. Replies give a number when it is a safe integer, else a bigint. */
export type Token = number | bigint;
export type SealName = 'seal' | 'shrink' | 'grow' | 'write' | 'future-write' | 'exec';
/** Seal bits the agent has no name for come back as hex ("0x40"). */
export type Seal = SealName | `0x${string}`;
export type Direction = 'incoming' | 'outgoing';

/** A session by name; `direction` only matters when an incoming and an outgoing one share it. */
export interface SessionRef {
  session: string;
  direction?: Direction;
}

/** What verify/write-memfd/truncate act on: a memfd the agent created, or a session's token. */
export type Target = { memfd: string } | (SessionRef & { token: Token });

export interface MemfdSpec {
  /** The agent's handle for it (unique in the daemon). */
  id: string;
  size: number;
  /** Content seed (u64); see memfdContents(). Default 0. */
  seed?: Token;
  /** Write only about a quarter of the pages (chosen by the seed); the rest stay holes. */
  sparse?: boolean;
  /** Added with F_ADD_SEALS after filling. */
  seals?: readonly SealName[];
  /** MFD_NOEXEC_SEAL (the memfd starts with F_SEAL_EXEC). */
  noexec?: boolean;
  /** MFD_ALLOW_SEALING; default true (false: the memfd starts with F_SEAL_SEAL). */
  allowSealing?: boolean;
  /** MFD_HUGETLB: LUO must refuse it (ENOENT). */
  hugetlb?: boolean;
  /** File position to leave it at (LUO preserves f_pos). */
  pos?: number;
  /** memfd_create name; default the id. */
  name?: string;
}

/** Request fields per op (without `op`). */
export interface RequestFields {
  status: Record<never, never>;
  list: Record<never, never>;
  'create-session': { name: string; structSize?: number; junk?: boolean };
  'retrieve-session': { name: string; structSize?: number; junk?: boolean };
  'close-session': { name: string; direction?: Direction };
  'create-memfd': MemfdSpec;
  'close-memfd': { id: string };
  /** closeMemfd: close the agent's fd right after (LUO keeps its own reference). */
  preserve: SessionRef & { token: Token; memfd: string; closeMemfd?: boolean };
  /** Anything by path (e.g. /dev/null → ENOENT) or a raw fd number (e.g. 999 → EBADF). */
  'preserve-fd': SessionRef & { token: Token } & ({ path: string } | { fd: number });
  'retrieve-fd': SessionRef & { token: Token };
  verify: Target & { size?: number; sha256?: string; seals?: readonly SealName[]; pos?: number };
  'write-memfd': Target & { offset?: number; data: string };
  truncate: Target & { size: number };
  finish: SessionRef & { reserved?: number };
  'get-name': SessionRef & { reserved?: number };
  exit: Record<never, never>;
  /** A change by fd number (create-memfd's or retrieve-fd's), in rootfs/agent/mutate.c. */
  'mutate-memfd': { fd: number; action: MutateAction; offset?: number; length?: number; data?: string };
  /**
   * An ioctl with a hand-made cmd, _IOC(dir, type, nr, bits), on the daemon's /dev/liveupdate or a
   * session fd: `len` zero bytes (default 72) whose first u32 is `argsz` (default len), the last
   * byte `tail`. Failures name the call "ioctl(raw)".
   */
  'ioctl-raw': ({ target: 'device' } | ({ target: 'session' } & SessionRef)) & {
    nr: number;
    type?: number;
    dir?: 0 | 1 | 2 | 3;
    bits?: number;
    len?: number;
    argsz?: number;
    tail?: number;
  };
  /**
   * PRESERVE_FD of a file made for it: a dup() or a reopened /proc/self/fd/N of `memfd`, a pipe's
   * read end, an unlinked O_TMPFILE or a linked new file in `dir`, an existing file at `path`
   * (whose filesystem must be `fs`, else EXDEV from "statfs"), a hugetlb memfd.
   */
  'preserve-as': SessionRef & { token: Token; as: PreserveAs; memfd?: string; dir?: string; path?: string; fs?: FsName };
  /** open(/dev/liveupdate) again while the daemon holds it. */
  'open-device': Record<never, never>;
  /** RETRIEVE_FD of one token twice; both fds fstat'ed, and compared with kcmp (else by their shared file position). */
  'same-file': SessionRef & { token: Token };
  /**
   * Hands an outgoing session to a holder process (rootfs/agent/lifetimes.c), then closes the
   * daemon's own fd: a forked child keeping it, a child given it over SCM_RIGHTS, or a forked child
   * that exec()s (the O_CLOEXEC fd goes). `exit` kills and reaps the holders.
   */
  hold: SessionRef & { mode: HoldMode };
  /**
   * /proc/meminfo (rootfs/agent/meminfo.c); dropCaches: sync and drop the page cache first;
   * preloadedDir: a directory of handover's own files in tmpfs, measured into `preloaded`.
   */
  meminfo: { dropCaches?: boolean; preloadedDir?: string };
  /**
   * rootfs/agent/scale.c: sessions "<prefix><i>", each with `files` memfds of `size` bytes (the
   * pattern of seed + i*files + j, token j), created and preserved in one request, RLIMIT_NOFILE
   * raised as needed; bulk-retrieve retrieves, compares, FINISHes and closes them all.
   */
  'bulk-preserve': BulkSpec;
  'bulk-retrieve': BulkSpec;
}

export interface BulkSpec {
  prefix: string;
  sessions: number;
  files?: number;
  size?: number;
  seed?: number;
}

export type HoldMode = 'fork' | 'scm-rights' | 'exec';

export type PreserveAs = 'dup' | 'proc-fd' | 'pipe' | 'tmpfile' | 'linked' | 'path' | 'hugetlb';
export type FsName = 'tmpfs' | 'ramfs' | 'hugetlbfs' | 'other';

export type MutateAction = 'ftruncate' | 'write-past-eof' | 'fallocate' | 'punch-hole' | 'write' | 'mmap-write';

export type Op = keyof RequestFields;
export type AgentRequest<O extends Op = Op> = { [K in O]: { op: K } & RequestFields[K] }[O];

export interface SessionInfo {
  name: string;
  direction: Direction;
  fd: number;
  finished: boolean;
  /** Outgoing: what was preserved ("memfd:<id>", "path:<p>", "fd:<n>"); incoming: the retrieved fd. */
  tokens: { token: Token; source?: string; fd?: number }[];
}

export interface MemfdInfo {
  id: string;
  /** -1 once closed (preserve with closeMemfd). */
  fd: number;
  size: number;
  sha256: string;
}

export interface Mismatch {
  field: 'size' | 'sha256' | 'seals' | 'pos';
  expected: number | string | Seal[];
  actual: number | string | Seal[] | null;
}

interface TargetEcho {
  memfd?: string;
  session?: string;
  token?: Token;
}

/** Fields of an ok reply per op (besides ok and op). */
export interface ReplyFields {
  status: {
    pid: number;
    version: string;
    device: string;
    deviceOpen: boolean;
    socket: string;
    uptimeMs: number;
    requests: number;
    sessions: number;
    memfds: number;
  };
  list: { sessions: SessionInfo[]; memfds: MemfdInfo[] };
  'create-session': { name: string; fd: number; direction: 'outgoing' };
  'retrieve-session': { name: string; fd: number; direction: 'incoming' };
  'close-session': { session: string; direction: Direction; closedFds: number };
  'create-memfd': {
    id: string;
    fd: number;
    size: number;
    sha256: string;
    seals: Seal[] | null;
    pos: number;
    sparse: boolean;
    pagesWritten: number;
    bytesWritten: number;
    /** st_blocks × 512: below the size while a sparse memfd has holes. */
    allocated: number;
    fillMs: number;
  };
  'close-memfd': { id: string };
  preserve: { session: string; token: Token; memfd: string };
  'preserve-fd': { session: string; token: Token; path?: string; fd?: number };
  'retrieve-fd': { session: string; token: Token; fd: number; size: number; allocated: number; seals: Seal[] | null; pos: number };
  verify: TargetEcho & {
    match: boolean;
    size: number;
    sha256: string;
    seals: Seal[] | null;
    pos: number;
    allocated: number;
    mismatches: Mismatch[];
    hashMs: number;
  };
  'write-memfd': TargetEcho & { offset: number; written: number };
  truncate: TargetEcho & { size: number };
  finish: { session: string };
  'get-name': { session: string; name: string };
  exit: { closedSessions: number; closedMemfds: number };
  /** The file after the change: its size, allocated bytes and SHA-256. */
  'mutate-memfd': { fd: number; action: MutateAction; written?: number; size: number; allocated: number; sha256: string };
  'ioctl-raw': { cmd: number; len: number; argsz: number; result: number; session?: string };
  'preserve-as': { session: string; token: Token; as: PreserveAs; ino?: number; nlink?: number; fileType?: string; fs?: FsName; sameInodeAsMemfd?: boolean };
  'open-device': { device: string; opened: true };
  'same-file': { session: string; token: Token; fds: number[]; ino: number[]; dev: number[]; sameInode: boolean; sameFile: boolean | null; sameFileBy?: 'kcmp' | 'f_pos' };
  /** holderHasSession: the holder's /proc/<pid>/fd shows the session (false after exec). */
  hold: { session: string; mode: HoldMode; pid: number; agentClosed: true; holderHasSession: boolean };
  /** Bytes. */
  meminfo: MemInfo;
  /** On failure too: how far it got (and failedSession, failedToken). */
  'bulk-preserve': BulkDone;
  'bulk-retrieve': BulkDone;
}

export interface MemInfo {
  memTotal: number;
  memFree: number;
  memAvailable: number;
  shmem: number;
  /** ShmemHugePages: Shmem in PMD-sized folios; absent without CONFIG_TRANSPARENT_HUGEPAGE. */
  shmemHuge?: number;
  /** Bytes reserved for the FDT the kernel booted with (whole pages); absent without one (x86_64). */
  bootFdt?: number;
  /** Bytes the files of the request's preloadedDir occupy (Shmem, not MemFree); 0 when it is gone. */
  preloaded?: number;
  /** Free pages on the per-CPU lists, in bytes (not in MemFree); absent from older agents. */
  pcpFree?: number;
}

export interface BulkDone {
  nofile: number;
  sessionsDone: number;
  filesDone: number;
  ms: number;
  failedSession?: string;
  failedToken?: number;
}

export type AgentOk<O extends Op = Op> = { ok: true; op: O } & ReplyFields[O];

/** The agent or the kernel said no: a result to assert on, not an exception. */
export type AgentFailure<O extends Op = Op> = {
  ok: false;
  op: O;
  errno: Errno;
  errnoValue: number;
  /** What failed: "ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)", "memfd_create", or request/lookup/uapi. */
  call: string;
  message: string;
} & Partial<ReplyFields[O]>;

export type AgentResult<O extends Op = Op> = AgentOk<O> | AgentFailure<O>;

/** Results of a batch, typed per position. */
export type BatchResults<T extends readonly AgentRequest[]> = {
  -readonly [I in keyof T]: T[I] extends { op: infer O extends Op } ? AgentResult<O> : never;
};

/** `handover-agent serve`'s one line. */
export type ServeResult =
  | { ok: true; op: 'serve'; pid: number; version: string; socket: string; device: string; openMs: number; log: string }
  | { ok: false; op: 'serve'; pid?: number; errno: Errno; errnoValue: number; call: string; message: string };

/** `handover-agent caps`'s one line. */
export interface Caps {
  ok: true;
  op: 'caps';
  version: string;
  release: string;
  machine: string;
  device: {
    path: string;
    present: boolean;
    mode?: number;
    chardev?: boolean;
    /** null when probed with --no-open. */
    openable: boolean | null;
    errno: Errno | null;
  };
  /** Ioctls the uapi header the agent was built against defines (getName: 7.2+). */
  uapi: {
    createSession: boolean;
    retrieveSession: boolean;
    preserveFd: boolean;
    retrieveFd: boolean;
    finish: boolean;
    getName: boolean;
    sessionNameLength: number;
  };
  debugfs: {
    mounted: boolean;
    kho: boolean;
    entries: Record<'out/fdt' | 'out/finalize' | 'out/abort' | 'out/scratch_phys' | 'out/scratch_len' | 'out/sub_fdts' | 'in/fdt' | 'in/sub_fdts', boolean>;
    outSubFdts: string[] | null;
    inSubFdts: string[] | null;
  };
  /** Values of those parameters on /proc/cmdline (null: absent), and the whole line. */
  cmdline: { kho: string | null; liveupdate: string | null; kho_scratch: string | null; kho_bootmem: string | null; raw: string };
}

// ---- encoding -----------------------------------------------------------------------------------

const U64_MAX = (1n << 64n) - 1n;
const BIG = '\u0000u64:';

/** One request line (no newline). Bigints go out as exact JSON integers. */
export function encodeRequest(req: AgentRequest): string {
  let sawBig = false;
  const text = JSON.stringify(req, (_key, value: unknown) => {
    if (typeof value !== 'bigint') return value;
    if (value < 0n || value > U64_MAX) throw new HandoverError('usage-error', `${value} is not a u64`);
    sawBig = true;
    return `${BIG}${value}`;
  });
  return sawBig ? text.replace(/"\\u0000u64:(\d+)"/g, '$1') : text;
}

// ---- decoding -----------------------------------------------------------------------------------

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'token' | 'seals' | 'errno?';

const OK_FIELDS: { readonly [O in Op]: Readonly<Record<string, Kind>> } = {
  status: { pid: 'number', version: 'string', deviceOpen: 'boolean', sessions: 'number', memfds: 'number' },
  list: { sessions: 'array', memfds: 'array' },
  'create-session': { name: 'string', fd: 'number', direction: 'string' },
  'retrieve-session': { name: 'string', fd: 'number', direction: 'string' },
  'close-session': { session: 'string', direction: 'string', closedFds: 'number' },
  'create-memfd': { id: 'string', fd: 'number', size: 'number', sha256: 'string', seals: 'seals', pos: 'number', allocated: 'number' },
  'close-memfd': { id: 'string' },
  preserve: { session: 'string', token: 'token', memfd: 'string' },
  'preserve-fd': { session: 'string', token: 'token' },
  'retrieve-fd': { session: 'string', token: 'token', fd: 'number', size: 'number', allocated: 'number', seals: 'seals', pos: 'number' },
  verify: { match: 'boolean', size: 'number', sha256: 'string', seals: 'seals', pos: 'number', allocated: 'number', mismatches: 'array' },
  'write-memfd': { offset: 'number', written: 'number' },
  truncate: { size: 'number' },
  finish: { session: 'string' },
  'get-name': { session: 'string', name: 'string' },
  exit: { closedSessions: 'number', closedMemfds: 'number' },
  'mutate-memfd': { fd: 'number', action: 'string', size: 'number', allocated: 'number', sha256: 'string' },
  'ioctl-raw': { cmd: 'number', len: 'number', argsz: 'number', result: 'number' },
  'preserve-as': { session: 'string', token: 'token', as: 'string' },
  'open-device': { device: 'string', opened: 'boolean' },
  'same-file': { session: 'string', token: 'token', fds: 'array', ino: 'array', dev: 'array', sameInode: 'boolean' },
  hold: { session: 'string', mode: 'string', pid: 'number', agentClosed: 'boolean', holderHasSession: 'boolean' },
  meminfo: { memTotal: 'number', memFree: 'number', memAvailable: 'number', shmem: 'number' },
  'bulk-preserve': { nofile: 'number', sessionsDone: 'number', filesDone: 'number', ms: 'number' },
  'bulk-retrieve': { nofile: 'number', sessionsDone: 'number', filesDone: 'number', ms: 'number' },
};

/** A request's op the agent knows (the `agent` step takes the op from YAML). */
export function isOp(s: unknown): s is Op {
  return typeof s === 'string' && Object.hasOwn(OK_FIELDS, s);
}

const SEAL_NAMES: ReadonlySet<string> = new Set<SealName>(['seal', 'shrink', 'grow', 'write', 'future-write', 'exec']);

export function isSealName(s: string): s is SealName {
  return SEAL_NAMES.has(s);
}

const FAIL_FIELDS: Readonly<Record<string, Kind>> = { errno: 'string', errnoValue: 'number', call: 'string', message: 'string' };

function fits(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case 'array':
      return Array.isArray(v);
    case 'token':
      return (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || typeof v === 'bigint';
    case 'seals':
      return v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
    case 'errno?':
      return v === null || isErrno(v);
    default:
      return typeof v === kind;
  }
}

function malformed(line: string, why: string): HandoverError {
  return new HandoverError('internal-error', `malformed reply from handover-agent: ${why}`, { evidence: [line.slice(0, 2000)] });
}

/**
 * Parses one JSON line; u64 fields ("token", "seed") too large for a double come back as bigints.
 * JSON string contents cannot hold an unescaped `"token":`, so the rewrite only touches real fields.
 */
export function parseLine(line: string): unknown {
  try {
    return JSON.parse(line.replace(/"(token|seed)":(\d{16,})(?=[,}\]])/g, '"$1":"$2"'), (key, value: unknown) =>
      (key === 'token' || key === 'seed') && typeof value === 'string' && /^\d+$/.test(value) ? toToken(BigInt(value)) : value,
    );
  } catch (err) {
    throw malformed(line, err instanceof Error ? err.message : String(err));
  }
}

function toToken(v: bigint): Token {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function check(line: string, obj: Record<string, unknown>, fields: Readonly<Record<string, Kind>>): void {
  for (const [key, kind] of Object.entries(fields)) {
    if (!(key in obj)) throw malformed(line, `no "${key}"`);
    if (!fits(kind, obj[key])) throw malformed(line, `"${key}" is not ${kind}`);
  }
}

/** Decodes the reply to a request of op `op`; a reply that does not fit is an internal error. */
export function decodeReply<O extends Op>(op: O, line: string): AgentResult<O> {
  const v = parseLine(line);
  if (!isRecord(v)) throw malformed(line, 'not an object');
  if (typeof v.ok !== 'boolean') throw malformed(line, 'no boolean "ok"');
  if (v.op !== op) throw malformed(line, `reply to "${String(v.op)}", expected "${op}"`);
  if (v.ok) {
    check(line, v, OK_FIELDS[op]);
    return v as unknown as AgentOk<O>;
  }
  check(line, v, FAIL_FIELDS);
  if (!isErrno(v.errno)) throw malformed(line, `unknown errno ${String(v.errno)}`);
  return v as unknown as AgentFailure<O>;
}

export function decodeServe(line: string): ServeResult {
  const v = parseLine(line);
  if (!isRecord(v) || v.op !== 'serve' || typeof v.ok !== 'boolean') throw malformed(line, 'not a serve reply');
  if (v.ok) check(line, v, { pid: 'number', socket: 'string', openMs: 'number' });
  else {
    check(line, v, FAIL_FIELDS);
    if (!isErrno(v.errno)) throw malformed(line, `unknown errno ${String(v.errno)}`);
  }
  return v as unknown as ServeResult;
}

export function decodeCaps(line: string): Caps {
  const v = parseLine(line);
  if (!isRecord(v) || v.ok !== true || v.op !== 'caps') throw malformed(line, 'not a caps reply');
  check(line, v, { release: 'string', version: 'string' });
  const { device, uapi, debugfs, cmdline } = v;
  if (!isRecord(device) || !isRecord(uapi) || !isRecord(debugfs) || !isRecord(cmdline)) {
    throw malformed(line, 'device, uapi, debugfs and cmdline must be objects');
  }
  check(line, device, { present: 'boolean', errno: 'errno?' });
  check(line, uapi, { getName: 'boolean' });
  check(line, debugfs, { kho: 'boolean' });
  check(line, cmdline, { raw: 'string' });
  return v as unknown as Caps;
}

// ---- the memfd contents, re-derived on the host --------------------------------------------------

const M64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;
const SPARSE_SALT = 0x5350415253450000n;
export const PATTERN_PAGE = 4096;

function mix(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/** Whether page `page` of a sparse memfd with this seed holds data (else it is a hole). */
export function patternPageWritten(seed: Token, page: number): boolean {
  return (mix(((BigInt(seed) ^ SPARSE_SALT) + BigInt(page + 1) * GOLDEN) & M64) & 3n) === 0n;
}

/**
 * The bytes the agent writes for create-memfd {size, seed, sparse} (rootfs/agent/memfd.c): 8-byte
 * little-endian word w is splitmix64's (w+1)-th output from state `seed`; a sparse file keeps only
 * the pages patternPageWritten() picks. BigInt arithmetic: fine for a few MiB, not for 256.
 */
export function memfdContents(spec: { size: number; seed?: Token; sparse?: boolean }): Buffer {
  const seed = BigInt(spec.seed ?? 0) & M64;
  const out = Buffer.alloc(spec.size);
  const word = Buffer.alloc(8);
  for (let page = 0; page * PATTERN_PAGE < spec.size; page++) {
    if (spec.sparse === true && !patternPageWritten(seed, page)) continue;
    const end = Math.min(spec.size, (page + 1) * PATTERN_PAGE);
    let z = (seed + BigInt(page * (PATTERN_PAGE / 8) + 1) * GOLDEN) & M64;
    for (let off = page * PATTERN_PAGE; off < end; off += 8, z = (z + GOLDEN) & M64) {
      word.writeBigUInt64LE(mix(z));
      word.copy(out, off, 0, Math.min(8, end - off));
    }
  }
  return out;
}

export function memfdSha256(spec: { size: number; seed?: Token; sparse?: boolean }): string {
  return createHash('sha256').update(memfdContents(spec)).digest('hex');
}
