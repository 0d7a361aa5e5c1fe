// The reference model of the live-update contract (kho-luo-7.3.md §1.5-1.7 and §2, the same
// expectations the shipped contract scenarios check): given a program's ops it says, step by step,
// what the kernel must answer, and writes the scenario step that checks exactly that. A step whose
// observation differs from its prediction fails when it runs; that failure is a finding.
//
// An op the state makes meaningless (preserve into a session that is gone, a memfd of an earlier
// boot) is left out: shrinking may remove what made an op meaningful, and the rest must still be a
// valid scenario.

import { parseSize } from '../scenario/steps.ts';
import type { Hole, MemfdAttrs, Op, RawKind, SealName, TaggedOp } from './ops.ts';

/** One scenario step as written to the YAML file: its kind's key first, then common fields. */
export type StepObject = Record<string, unknown>;

export interface RealizedStep {
  step: StepObject;
  /** The op (index into the ops given) it came from. */
  op: number;
  prog: number;
  /** Coverage labels this step reaches when it passes: `CALL outcome` and attribute classes. */
  cover: string[];
}

interface Outgoing {
  tokens: Map<number, string>;
  /** agent: the agent's own fd; process: a fork/scm-rights holder keeps it. */
  holder: 'agent' | 'process';
}

interface Incoming {
  tokens: Map<number, string>;
  state: 'waiting' | 'retrieved' | 'finished' | 'closed';
}

interface MemfdState {
  alive: boolean;
  /** The outgoing session that holds it preserved (frozen), if any. */
  preservedIn?: string;
  bytes: number;
  attrs: MemfdAttrs;
}

const WIDENED: readonly SealName[] = ['shrink', 'grow', 'write', 'future-write'];

/** Every coverage label the model can give: what `fuzz` reports as never reached comes from here. */
export const COVERAGE_UNIVERSE: readonly string[] = [
  'CREATE_SESSION ok',
  'CREATE_SESSION EEXIST',
  'CREATE_SESSION EINVAL',
  'CREATE_SESSION E2BIG',
  'RETRIEVE_SESSION ok',
  'RETRIEVE_SESSION ENOENT',
  'RETRIEVE_SESSION EINVAL',
  'PRESERVE_FD ok',
  'PRESERVE_FD EEXIST',
  'PRESERVE_FD EBUSY',
  'PRESERVE_FD ENOENT',
  'PRESERVE_FD EINVAL',
  'RETRIEVE_FD ok',
  'RETRIEVE_FD ENOENT',
  'RETRIEVE_FD EINVAL',
  'RETRIEVE_FD twice: the same file',
  'FINISH ok',
  'FINISH EINVAL',
  'GET_NAME ok',
  'GET_NAME EINVAL',
  'open EBUSY',
  'ioctl(raw) EINVAL',
  'ioctl(raw) ENOTTY',
  'ioctl(raw) E2BIG',
  'ioctl(raw) ok',
  'close-session outgoing',
  'close-session incoming',
  'hold fork',
  'hold scm-rights',
  'hold exec',
  'kill holder',
  'ftruncate EPERM',
  'pwrite EPERM',
  'fallocate EPERM',
  'mmap EPERM',
  'write ok',
  'mmap-write ok',
  'kexec',
  'kexec with the image loaded early',
  'kexec in a chain (2nd or later)',
  'retrieve verified',
  'retrieve without FINISH',
  'retrieve: tokens left unretrieved',
  'session dropped (absent after kexec)',
  'memfd size 1 byte',
  'memfd size below a page',
  'memfd size page multiple',
  'memfd size not a page multiple',
  'memfd size 1 MiB or more',
  'memfd size share of RAM',
  'memfd sparse',
  'memfd hole start',
  'memfd hole middle',
  'memfd hole end',
  'memfd pos',
  'memfd noexec (F_SEAL_EXEC widened)',
  'seal seal',
  'seal shrink',
  'seal grow',
  'seal write',
  'seal future-write',
  'seal exec',
  'session name 63 bytes',
  'session name 1 byte',
];

/** The malformed ioctls: the agent request and the errno it must give (ioctl-contract.yaml). */
const RAW: Readonly<
  Record<
    RawKind,
    {
      session: boolean;
      req: Record<string, unknown>;
      errno?: string;
      call: string;
    }
  >
> = {
  'device-nr': {
    session: false,
    req: { op: 'ioctl-raw', target: 'device', nr: 2 },
    errno: 'EINVAL',
    call: 'ioctl(raw)',
  },
  'device-type': {
    session: false,
    req: { op: 'ioctl-raw', target: 'device', nr: 0, type: 0xbb },
    errno: 'ENOTTY',
    call: 'ioctl(raw)',
  },
  'device-bits': {
    session: false,
    req: { op: 'ioctl-raw', target: 'device', nr: 0, dir: 3, bits: 72 },
    errno: 'ENOTTY',
    call: 'ioctl(raw)',
  },
  'session-nr-high': {
    session: true,
    req: { op: 'ioctl-raw', target: 'session', nr: 0x44 },
    errno: 'EINVAL',
    call: 'ioctl(raw)',
  },
  'session-nr-low': {
    session: true,
    req: { op: 'ioctl-raw', target: 'session', nr: 0x3f },
    errno: 'EINVAL',
    call: 'ioctl(raw)',
  },
  'short-create': {
    session: false,
    req: { op: 'create-session', structSize: 71 },
    errno: 'EINVAL',
    call: 'CREATE_SESSION',
  },
  'junk-create': {
    session: false,
    req: { op: 'create-session', structSize: 80, junk: true },
    errno: 'E2BIG',
    call: 'CREATE_SESSION',
  },
  'zero-tail-create': {
    session: false,
    req: { op: 'create-session', structSize: 80 },
    call: 'CREATE_SESSION',
  },
  'short-get-name': {
    session: true,
    req: { op: 'ioctl-raw', target: 'session', nr: 0x43, len: 71 },
    errno: 'EINVAL',
    call: 'ioctl(raw)',
  },
  'junk-get-name': {
    session: true,
    req: { op: 'ioctl-raw', target: 'session', nr: 0x43, len: 80, tail: 1 },
    errno: 'E2BIG',
    call: 'ioctl(raw)',
  },
};

/** The state after each op, and what the model expects: see realize(). */
export class Model {
  readonly out = new Map<string, Outgoing>();
  readonly incoming = new Map<string, Incoming>();
  readonly memfds = new Map<string, MemfdState>();
  /** Sessions created (successfully) so far, and those created before the last kexec. */
  readonly created = new Set<string>();
  readonly handedOver = new Set<string>();
  kexecs = 0;
  loaded = false;
  readonly memoryMiB: number;

  constructor(memoryMiB: number) {
    this.memoryMiB = memoryMiB;
  }

  /** Sessions the agent holds now (outgoing it did not hand away, incoming it retrieved and has open). */
  agentSessions(): string[] {
    return [
      ...[...this.out].filter(([, o]) => o.holder === 'agent').map(([n]) => n),
      ...[...this.incoming].filter(([, i]) => i.state === 'retrieved' || i.state === 'finished').map(([n]) => n),
    ];
  }

  aliveMemfds(): string[] {
    return [...this.memfds].filter(([, m]) => m.alive).map(([id]) => id);
  }

  /** The model's answer for one op, and the new state; undefined when the op means nothing now. */
  apply(op: Op): { step: StepObject; cover: string[] }[] | undefined {
    switch (op.t) {
      case 'create': {
        if (op.s.length === 0 || op.s.length > 63) return undefined;
        const cover = nameCover(op.s);
        if (this.out.has(op.s))
          return [
            {
              step: { create_session: op.s, expect_error: 'EEXIST' },
              cover: ['CREATE_SESSION EEXIST', ...cover],
            },
          ];
        // One name per program across boots: an incoming session of the same name would make later steps ambiguous.
        if (this.created.has(op.s) || this.incoming.has(op.s)) return undefined;
        this.out.set(op.s, { tokens: new Map(), holder: 'agent' });
        this.created.add(op.s);
        return [
          {
            step: { create_session: op.s },
            cover: ['CREATE_SESSION ok', ...cover],
          },
        ];
      }
      case 'create-bad':
        return op.bad === 'empty'
          ? [
              {
                step: {
                  agent: { op: 'create-session', name: '' },
                  expect_error: { errno: 'EINVAL', call: 'CREATE_SESSION' },
                },
                cover: ['CREATE_SESSION EINVAL'],
              },
            ]
          : op.s.length === 64
            ? [
                {
                  step: { create_session: op.s, expect_error: 'EINVAL' },
                  cover: ['CREATE_SESSION EINVAL'],
                },
              ]
            : undefined;
      case 'memfd': {
        if (this.memfds.has(op.m)) return undefined;
        const bytes = parseSize(op.size, this.memoryMiB);
        const holes = op.holes !== undefined && op.holes.length > 0 && !writeSealed(op) ? op.holes : undefined;
        const { holes: _asked, ...rest } = op;
        const attrs: MemfdAttrs = {
          ...rest,
          ...(holes === undefined ? {} : { holes }),
        };
        this.memfds.set(op.m, { alive: true, bytes, attrs });
        const body: Record<string, unknown> = {
          id: op.m,
          size: op.size,
          seed: op.seed,
        };
        if (op.sparse === true) body.sparse = true;
        if (op.seals !== undefined && op.seals.length > 0) body.seals = op.seals;
        if (op.pos !== undefined) body.pos = op.pos;
        if (holes !== undefined) body.holes = holes;
        if (op.noexec === true) body.noexec = true;
        return [{ step: { memfd: body }, cover: memfdCover(op, bytes, holes) }];
      }
      case 'preserve': {
        const s = this.out.get(op.s);
        const m = this.memfds.get(op.m);
        if (s?.holder !== 'agent' || m?.alive !== true) return undefined;
        const step = {
          preserve: { session: op.s, token: op.token, memfd: op.m },
        };
        // luo_file.c: the token is checked first (EEXIST), then whether LUO manages the inode (EBUSY).
        if (s.tokens.has(op.token))
          return [
            {
              step: { ...step, expect_error: 'EEXIST' },
              cover: ['PRESERVE_FD EEXIST'],
            },
          ];
        if (m.preservedIn !== undefined)
          return [
            {
              step: { ...step, expect_error: 'EBUSY' },
              cover: ['PRESERVE_FD EBUSY'],
            },
          ];
        s.tokens.set(op.token, op.m);
        m.preservedIn = op.s;
        return [{ step, cover: ['PRESERVE_FD ok'] }];
      }
      case 'preserve-null': {
        const s = this.out.get(op.s);
        if (s?.holder !== 'agent') return undefined;
        const step = {
          preserve: { session: op.s, token: op.token, path: '/dev/null' },
        };
        if (s.tokens.has(op.token))
          return [
            {
              step: { ...step, expect_error: 'EEXIST' },
              cover: ['PRESERVE_FD EEXIST'],
            },
          ];
        return [
          {
            step: { ...step, expect_error: 'ENOENT' },
            cover: ['PRESERVE_FD ENOENT'],
          },
        ];
      }
      case 'preserve-incoming': {
        const i = this.incoming.get(op.s);
        if ((i?.state !== 'retrieved' && i?.state !== 'finished') || this.memfds.get(op.m)?.alive !== true) return undefined;
        return [
          {
            step: {
              agent: {
                op: 'preserve',
                session: op.s,
                direction: 'incoming',
                token: op.token,
                memfd: op.m,
              },
              expect_error: { errno: 'EINVAL', call: 'PRESERVE_FD' },
            },
            cover: ['PRESERVE_FD EINVAL'],
          },
        ];
      }
      case 'close': {
        const o = this.out.get(op.s);
        if (o?.holder === 'agent') {
          this.dropOutgoing(op.s);
          return [
            {
              step: { close_session: op.s },
              cover: ['close-session outgoing'],
            },
          ];
        }
        const i = this.incoming.get(op.s);
        if (i?.state === 'retrieved' || i?.state === 'finished') {
          // Closing without FINISH finishes it (luo_session.c:242-250); it is gone from the incoming list.
          i.state = 'closed';
          return [
            {
              step: {
                agent: {
                  op: 'close-session',
                  session: op.s,
                  direction: 'incoming',
                },
              },
              cover: ['close-session incoming'],
            },
          ];
        }
        return undefined;
      }
      case 'hold': {
        const o = this.out.get(op.s);
        if (o?.holder !== 'agent') return undefined;
        if (op.mode === 'exec') this.dropOutgoing(op.s);
        else o.holder = 'process';
        return [
          {
            step: { hold: { session: op.s, mode: op.mode } },
            cover: [`hold ${op.mode}`],
          },
        ];
      }
      case 'kill': {
        // The agent's fds close and its holders are killed: every outgoing session goes; incoming
        // ones it had retrieved are closed (finished); the ones never retrieved stay retrievable.
        for (const name of [...this.out.keys()]) this.dropOutgoing(name);
        for (const i of this.incoming.values()) if (i.state === 'retrieved' || i.state === 'finished') i.state = 'closed';
        for (const m of this.memfds.values()) m.alive = false;
        return [{ step: { kill_holder: {} }, cover: ['kill holder'] }];
      }
      case 'mutate':
        return this.mutate(op);
      case 'load':
        if (this.loaded) return undefined;
        this.loaded = true;
        return [{ step: { kexec_load: {} }, cover: [] }];
      case 'kexec': {
        const cover = ['kexec', ...(this.loaded ? ['kexec with the image loaded early'] : []), ...(this.kexecs > 0 ? ['kexec in a chain (2nd or later)'] : [])];
        for (const n of this.created) this.handedOver.add(n);
        this.incoming.clear();
        for (const [name, o] of this.out)
          this.incoming.set(name, {
            tokens: new Map(o.tokens),
            state: 'waiting',
          });
        this.out.clear();
        for (const m of this.memfds.values()) {
          m.alive = false;
          delete m.preservedIn;
        }
        this.kexecs++;
        this.loaded = false;
        return [{ step: { kexec: {} }, cover }];
      }
      case 'retrieve':
        return this.retrieve(op);
      case 'retrieve-fd':
        return this.retrieveFd(op);
      case 'finish': {
        if (this.out.get(op.s)?.holder === 'agent')
          return [
            {
              step: { finish: { session: op.s }, expect_error: 'EINVAL' },
              cover: ['FINISH EINVAL'],
            },
          ];
        const i = this.incoming.get(op.s);
        if (i?.state !== 'retrieved' && i?.state !== 'finished') return undefined;
        if ((op.reserved ?? 0) !== 0)
          return [
            {
              step: {
                finish: { session: op.s, reserved: op.reserved },
                expect_error: 'EINVAL',
              },
              cover: ['FINISH EINVAL'],
            },
          ];
        // FINISH is idempotent; the tokens not retrieved are discarded.
        i.state = 'finished';
        return [{ step: { finish: { session: op.s } }, cover: ['FINISH ok'] }];
      }
      case 'get-name': {
        if (!this.agentSessions().includes(op.s)) return undefined;
        if ((op.reserved ?? 0) !== 0)
          return [
            {
              step: {
                agent: { op: 'get-name', session: op.s, reserved: op.reserved },
                expect_error: { errno: 'EINVAL', call: 'GET_NAME' },
              },
              cover: ['GET_NAME EINVAL'],
            },
          ];
        return [
          {
            step: {
              agent: { op: 'get-name', session: op.s, expect: { name: op.s } },
            },
            cover: ['GET_NAME ok'],
          },
        ];
      }
      case 'open-device':
        return [
          {
            step: {
              agent: { op: 'open-device' },
              expect_error: { errno: 'EBUSY', call: 'open' },
            },
            cover: ['open EBUSY'],
          },
        ];
      case 'raw':
        return this.raw(op);
    }
  }

  private dropOutgoing(name: string): void {
    this.out.delete(name);
    for (const m of this.memfds.values()) if (m.preservedIn === name) delete m.preservedIn;
  }

  private mutate(op: Extract<Op, { t: 'mutate' }>): { step: StepObject; cover: string[] }[] | undefined {
    const m = this.memfds.get(op.m);
    if (m?.alive !== true) return undefined;
    const body: Record<string, unknown> = { id: op.m, op: op.op };
    const sealed = writeSealed(m.attrs);
    if (op.op === 'write' || op.op === 'mmap-write') {
      const data = op.data ?? '';
      if (data.length === 0 || op.offset + data.length > m.bytes) return undefined;
      Object.assign(body, { offset: op.offset, data });
      // A write seal refuses the write (pwrite) or the shared writable mapping (mmap).
      const call = op.op === 'write' ? 'pwrite' : 'mmap';
      if (sealed)
        return [
          {
            step: { mutate_memfd: body, expect_error: 'EPERM' },
            cover: [`${call} EPERM`],
          },
        ];
      return [{ step: { mutate_memfd: body }, cover: [`${op.op} ok`] }];
    }
    // Size changes only on a preserved (frozen) memfd: EPERM whatever its seals (shmem_fs.h:25-32).
    if (m.preservedIn === undefined) return undefined;
    if (op.op === 'ftruncate') body.offset = op.offset;
    // The agent punches `length` bytes as given (0 is EINVAL before any frozen check): one page.
    if (op.op === 'fallocate' || op.op === 'punch-hole') body.length = 4096;
    const call = op.op === 'ftruncate' ? 'ftruncate' : op.op === 'write-past-eof' ? 'pwrite' : 'fallocate';
    return [
      {
        step: { mutate_memfd: body, expect_error: 'EPERM' },
        cover: [`${call} EPERM`],
      },
    ];
  }

  private retrieve(op: Extract<Op, { t: 'retrieve' }>): { step: StepObject; cover: string[] }[] | undefined {
    const i = this.incoming.get(op.s);
    if (i === undefined || i.state === 'closed') {
      if (this.out.has(op.s)) return undefined;
      // Never handed over, dropped before the kexec, or closed after it: RETRIEVE_SESSION is ENOENT.
      const cover = i === undefined && this.handedOver.has(op.s) ? ['RETRIEVE_SESSION ENOENT', 'session dropped (absent after kexec)'] : ['RETRIEVE_SESSION ENOENT'];
      if (i === undefined && this.kexecs > 0 && this.handedOver.has(op.s)) return [{ step: { session_absent: op.s }, cover }];
      return [
        {
          step: {
            agent: { op: 'retrieve-session', name: op.s },
            expect_error: { errno: 'ENOENT', call: 'RETRIEVE_SESSION' },
          },
          cover,
        },
      ];
    }
    if (i.state !== 'waiting')
      return [
        {
          step: {
            agent: { op: 'retrieve-session', name: op.s },
            expect_error: { errno: 'EINVAL', call: 'RETRIEVE_SESSION' },
          },
          cover: ['RETRIEVE_SESSION EINVAL'],
        },
      ];
    const tokens: Record<string, string> = {};
    const seals: Record<string, SealName[]> = {};
    for (const t of op.tokens) {
      const id = i.tokens.get(t);
      if (id === undefined || tokens[String(t)] !== undefined) continue;
      tokens[String(t)] = id;
      const attrs = this.memfds.get(id)?.attrs;
      // MFD_NOEXEC_SEAL's F_SEAL_EXEC widens on the restored 0777 inode (memfd-seals.yaml).
      if (attrs?.noexec === true) seals[id] = [...new Set<SealName>([...(attrs.seals ?? []), 'exec', ...WIDENED])];
    }
    const left = [...i.tokens.keys()].some((t) => tokens[String(t)] === undefined);
    i.state = op.finish ? 'finished' : 'retrieved';
    const body: Record<string, unknown> = { session: op.s, tokens };
    if (!op.finish) body.finish = false;
    if (Object.keys(seals).length > 0) body.seals = seals;
    const cover = [
      'RETRIEVE_SESSION ok',
      ...(Object.keys(tokens).length > 0 ? ['RETRIEVE_FD ok', 'retrieve verified'] : []),
      ...(op.finish ? ['FINISH ok'] : ['retrieve without FINISH']),
      ...(left ? ['retrieve: tokens left unretrieved'] : []),
    ];
    return [{ step: { retrieve: body }, cover }];
  }

  private retrieveFd(op: Extract<Op, { t: 'retrieve-fd' }>): { step: StepObject; cover: string[] }[] | undefined {
    if (this.out.get(op.s)?.holder === 'agent') {
      return [
        {
          step: {
            agent: { op: 'retrieve-fd', session: op.s, token: op.token },
            expect_error: { errno: 'EINVAL', call: 'RETRIEVE_FD' },
          },
          cover: ['RETRIEVE_FD EINVAL'],
        },
      ];
    }
    const i = this.incoming.get(op.s);
    if (i?.state !== 'retrieved' && i?.state !== 'finished') return undefined;
    // After FINISH the session has no files; an unknown token has none either.
    if (i.state === 'finished' || !i.tokens.has(op.token)) {
      return [
        {
          step: {
            agent: { op: 'retrieve-fd', session: op.s, token: op.token },
            expect_error: { errno: 'ENOENT', call: 'RETRIEVE_FD' },
          },
          cover: ['RETRIEVE_FD ENOENT'],
        },
      ];
    }
    if (op.twice === true)
      return [
        {
          step: {
            agent: {
              op: 'same-file',
              session: op.s,
              token: op.token,
              expect: { sameInode: true, sameFile: true },
            },
          },
          cover: ['RETRIEVE_FD twice: the same file'],
        },
      ];
    return [
      {
        step: { agent: { op: 'retrieve-fd', session: op.s, token: op.token } },
        cover: ['RETRIEVE_FD ok'],
      },
    ];
  }

  private raw(op: Extract<Op, { t: 'raw' }>): { step: StepObject; cover: string[] }[] | undefined {
    const r = RAW[op.kind];
    const req: Record<string, unknown> = { ...r.req };
    if (r.session) {
      if (op.s === undefined || this.out.get(op.s)?.holder !== 'agent') return undefined;
      req.session = op.s;
    }
    if (req.op === 'create-session') {
      // A name no other op uses: a raw create that succeeds makes an empty session the other
      // steps never name (the scenario loader does not count agent steps as creating sessions).
      if (op.s === undefined || this.created.has(op.s) || this.out.has(op.s) || this.incoming.has(op.s)) return undefined;
      req.name = op.s;
    }
    const label = r.call === 'ioctl(raw)' ? 'ioctl(raw)' : r.call;
    if (r.errno === undefined)
      return [
        {
          step: { agent: req },
          cover: [`${label} ok`, ...(label === 'CREATE_SESSION' ? ['ioctl(raw) ok'] : [])],
        },
      ];
    return [
      {
        step: { agent: req, expect_error: { errno: r.errno, call: r.call } },
        cover: [`${label} ${r.errno}`],
      },
    ];
  }
}

function nameCover(name: string): string[] {
  return name.length === 63 ? ['session name 63 bytes'] : name.length === 1 ? ['session name 1 byte'] : [];
}

/**
 * Whether writes (and hole punches) are sealed off: a write seal, or F_SEAL_EXEC on an executable
 * memfd, which the kernel widens to the write seals ("SEAL_EXEC implies SEAL_WRITE", mm/memfd.c
 * memfd_add_seals). A MFD_NOEXEC_SEAL memfd has no exec bits, so its exec seal widens nothing.
 */
function writeSealed(a: Pick<MemfdAttrs, 'seals' | 'noexec'>): boolean {
  const seals = a.seals ?? [];
  return seals.includes('write') || seals.includes('future-write') || (seals.includes('exec') && a.noexec !== true);
}

function memfdCover(a: MemfdAttrs, bytes: number, holes: readonly Hole[] | undefined): string[] {
  const c: string[] = [];
  if (typeof a.size === 'string' && a.size.endsWith('%')) c.push('memfd size share of RAM');
  if (bytes === 1) c.push('memfd size 1 byte');
  if (bytes < 4096) c.push('memfd size below a page');
  c.push(bytes % 4096 === 0 ? 'memfd size page multiple' : 'memfd size not a page multiple');
  if (bytes >= 1 << 20) c.push('memfd size 1 MiB or more');
  if (a.sparse === true) c.push('memfd sparse');
  for (const h of holes ?? []) c.push(`memfd hole ${h}`);
  if (a.pos !== undefined) c.push('memfd pos');
  if (a.noexec === true) c.push('memfd noexec (F_SEAL_EXEC widened)');
  for (const s of a.seals ?? []) c.push(`seal ${s}`);
  return [...new Set(c)];
}

/** Every step the model writes for these ops, in order; ops that mean nothing in their state are left out. */
export function realize(ops: readonly TaggedOp[], memoryMiB: number): RealizedStep[] {
  const model = new Model(memoryMiB);
  const steps: RealizedStep[] = [];
  ops.forEach((op, i) => {
    for (const r of model.apply(op) ?? []) steps.push({ step: r.step, op: i, prog: op.prog, cover: r.cover });
  });
  return steps;
}
