// The program generator: weighted, seeded choices of ops, made against the model's state so that
// most of them mean something (a preserve into a session this boot holds, a retrieve after a
// kexec). The same seed gives the same program: `handover fuzz --seed S` replays a run.

import { Model } from './model.ts';
import type { Hole, MemfdAttrs, MutateKind, Op, RawKind, SealName } from './ops.ts';
import { Prng } from './prng.ts';

export interface GenerateOptions {
  /** Guest RAM (MiB): what "a share of RAM" sizes are of. */
  memoryMiB: number;
  /** Bytes of memfds a program may create in all (the batch's programs share one guest). */
  maxBytes: number;
}

const SEALS: readonly SealName[] = ['seal', 'shrink', 'grow', 'write', 'future-write', 'exec'];
const HOLES: readonly Hole[] = ['start', 'middle', 'end'];
const RAW_KINDS: readonly RawKind[] = [
  'device-nr',
  'device-type',
  'device-bits',
  'session-nr-high',
  'session-nr-low',
  'short-create',
  'junk-create',
  'zero-tail-create',
  'short-get-name',
  'junk-get-name',
];
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const PAD = 'x-._0';

/** Program `prog` of a run seeded `seed`: its own PRNG, its own names (p<prog>…), so it replays alone. */
export function generateProgram(seed: number, prog: number, opts: GenerateOptions): Op[] {
  return new Generator(new Prng(seed), prog, opts).program();
}

class Generator {
  private readonly model: Model;
  private readonly ops: Op[] = [];
  private sessions = 0;
  private memfdCount = 0;
  private raws = 0;
  private bytes = 0;
  private oneByteName = false;
  /** Every session name the program used, for retrieves after a kexec. */
  private readonly names: string[] = [];

  private readonly r: Prng;
  private readonly prog: number;
  private readonly opts: GenerateOptions;

  constructor(r: Prng, prog: number, opts: GenerateOptions) {
    this.r = r;
    this.prog = prog;
    this.opts = opts;
    this.model = new Model(opts.memoryMiB);
  }

  program(): Op[] {
    const kexecs = Number(this.r.weighted({ '1': 70, '2': 25, '3': 5 }));
    for (let phase = 0; phase <= kexecs; phase++) {
      if (phase > 0) this.retrievePhase();
      if (phase < kexecs) {
        this.setupPhase(phase);
        this.push({ t: 'kexec' });
      }
    }
    return this.ops;
  }

  /** Applies op to the model; kept only if it means something now. */
  private push(op: Op): boolean {
    if (this.model.apply(op) === undefined) return false;
    this.ops.push(op);
    return true;
  }

  private sessionName(): string {
    const base = `p${this.prog}s${this.sessions++}`;
    if (!this.oneByteName && this.prog < NAME_CHARS.length && this.r.chance(0.08)) {
      this.oneByteName = true;
      return NAME_CHARS[this.prog] as string;
    }
    return this.r.chance(0.25) ? pad(base, 63, this.r.pick([...PAD])) : base;
  }

  private memfdAttrs(): MemfdAttrs {
    const r = this.r;
    const room = this.opts.maxBytes - this.bytes;
    const kind = r.weighted({
      one: 5,
      small: 20,
      pages: 30,
      odd: 25,
      mib: room > 8 << 20 ? 12 : 0,
      share: room > 32 << 20 ? 5 : 0,
    });
    let size: number | string;
    if (kind === 'one') size = 1;
    else if (kind === 'small') size = r.int(2, 4095);
    else if (kind === 'pages') size = 4096 * r.int(1, 64);
    else if (kind === 'odd') size = r.int(4097, 1 << 20);
    else if (kind === 'mib') size = (1 << 20) * r.int(1, 6) + (r.chance(0.5) ? r.int(1, 4095) : 0);
    else size = `${r.int(1, 3)}%`;
    const bytes = typeof size === 'number' ? size : Math.round((Number(size.slice(0, -1)) / 100) * this.opts.memoryMiB * 2 ** 20);
    this.bytes += bytes;
    const a: MemfdAttrs = { size, seed: r.int(1, 1_000_000) };
    if (r.chance(0.2)) a.sparse = true;
    if (r.chance(0.3)) {
      const seals = r.subset(SEALS, 0.35);
      if (seals.length > 0) a.seals = SEALS.filter((s) => seals.includes(s));
    }
    if (r.chance(0.15) && bytes >= 3 * 4096) a.holes = HOLES.filter(() => r.chance(0.6));
    if (a.holes?.length === 0) delete a.holes;
    if (r.chance(0.2)) a.pos = r.int(0, bytes);
    if (r.chance(0.1)) a.noexec = true;
    return a;
  }

  private token(): number {
    return this.r.weighted({ small: 85, big: 10, max: 5 }) === 'small' ? this.r.int(1, 8) : this.r.chance(0.5) ? 2 ** 32 + this.r.int(0, 99) : Number.MAX_SAFE_INTEGER;
  }

  private agentOutgoing(): string[] {
    return [...this.model.out].filter(([, o]) => o.holder === 'agent').map(([n]) => n);
  }

  private setupPhase(phase: number): void {
    const r = this.r;
    const actions = r.int(4, 16);
    const loadAt = r.chance(0.3) ? r.int(0, actions) : -1;
    for (let i = 0; i < actions; i++) {
      if (i === loadAt) this.push({ t: 'load' });
      const out = this.agentOutgoing();
      const memfds = this.model.aliveMemfds();
      const preserved = memfds.filter((m) => this.model.memfds.get(m)?.preservedIn !== undefined);
      const what = r.weighted({
        create: out.length < 3 ? 30 : 4,
        memfd: this.memfdCount < 6 && this.bytes < this.opts.maxBytes ? 25 : 0,
        preserve: out.length > 0 && memfds.length > 0 ? 40 : 0,
        badPreserve: out.length > 0 ? 4 : 0,
        mutate: memfds.length > 0 ? 8 : 0,
        frozen: preserved.length > 0 ? 6 : 0,
        close: out.length > 0 ? 3 : 0,
        hold: out.length > 0 ? 4 : 0,
        dupCreate: out.length > 0 ? 3 : 0,
        badCreate: 2,
        // The contract's rarer errors: weighted so a ten-minute run reaches each of them.
        raw: 6,
        outgoingMisuse: out.length > 0 ? 6 : 0,
        openDevice: 1,
        kill: phase === 0 ? 1 : 0.5,
      });
      this.setupAction(what, out, memfds, preserved);
    }
    // Something to hand over: at least one session with a file held by the agent at the kexec.
    if (![...this.model.out.values()].some((o) => o.tokens.size > 0)) {
      const s = this.sessionName();
      this.names.push(s);
      this.push({ t: 'create', s });
      const m = `p${this.prog}m${this.memfdCount++}`;
      this.push({ t: 'memfd', m, ...this.memfdAttrs() });
      this.push({ t: 'preserve', s, m, token: this.token() });
    }
  }

  private setupAction(what: string, out: string[], memfds: string[], preserved: string[]): void {
    const r = this.r;
    switch (what) {
      case 'create': {
        const s = this.sessionName();
        if (this.push({ t: 'create', s })) this.names.push(s);
        break;
      }
      case 'memfd':
        this.push({
          t: 'memfd',
          m: `p${this.prog}m${this.memfdCount++}`,
          ...this.memfdAttrs(),
        });
        break;
      case 'preserve': {
        const s = r.pick(out);
        const used = [...(this.model.out.get(s)?.tokens.keys() ?? [])];
        // Now and then a token already used in the session (EEXIST) or a memfd already preserved (EBUSY).
        const token = used.length > 0 && r.chance(0.1) ? r.pick(used) : this.token();
        const fresh = memfds.filter((m) => this.model.memfds.get(m)?.preservedIn === undefined);
        const m = fresh.length > 0 && !r.chance(0.1) ? r.pick(fresh) : r.pick(memfds);
        this.push({ t: 'preserve', s, m, token });
        break;
      }
      case 'badPreserve':
        this.push({ t: 'preserve-null', s: r.pick(out), token: this.token() });
        break;
      case 'mutate': {
        const m = r.pick(memfds);
        const bytes = this.model.memfds.get(m)?.bytes ?? 0;
        if (bytes < 16) break;
        const data = Array.from({ length: r.int(8, 24) }, () => r.pick([...NAME_CHARS]))
          .join('')
          .slice(0, bytes);
        this.push({
          t: 'mutate',
          m,
          op: r.pick<MutateKind>(['write', 'mmap-write']),
          offset: r.int(0, bytes - data.length),
          data,
        });
        break;
      }
      case 'frozen': {
        const m = r.pick(preserved);
        const bytes = this.model.memfds.get(m)?.bytes ?? 0;
        const op = r.pick<MutateKind>(['ftruncate', 'write-past-eof', 'fallocate', 'punch-hole']);
        this.push({
          t: 'mutate',
          m,
          op,
          offset: op === 'ftruncate' ? (r.chance(0.5) ? bytes + 4096 : Math.floor(bytes / 2)) : 0,
        });
        break;
      }
      case 'close':
        this.push({ t: 'close', s: r.pick(out) });
        break;
      case 'hold':
        this.push({
          t: 'hold',
          s: r.pick(out),
          mode: r.weighted({ fork: 45, 'scm-rights': 40, exec: 15 }),
        });
        break;
      case 'dupCreate':
        this.push({ t: 'create', s: r.pick(out) });
        break;
      case 'badCreate':
        this.push(
          r.chance(0.5)
            ? { t: 'create-bad', bad: 'empty', s: '' }
            : {
                t: 'create-bad',
                bad: 'long',
                s: pad(`p${this.prog}L${this.sessions++}`, 64, 'y'),
              },
        );
        break;
      case 'raw': {
        const kind = r.pick(RAW_KINDS);
        const s = kind.endsWith('-create') ? `p${this.prog}r${this.raws++}` : out.length > 0 ? r.pick(out) : undefined;
        this.push(s === undefined ? { t: 'raw', kind } : { t: 'raw', kind, s });
        break;
      }
      case 'outgoingMisuse': {
        const s = r.pick(out);
        const pickOne = r.weighted({
          fd: 1,
          finish: 1,
          name: 2,
          nameReserved: 1,
        });
        if (pickOne === 'fd') this.push({ t: 'retrieve-fd', s, token: this.token() });
        else if (pickOne === 'finish') this.push({ t: 'finish', s });
        else
          this.push({
            t: 'get-name',
            s,
            ...(pickOne === 'nameReserved' ? { reserved: 1 } : {}),
          });
        break;
      }
      case 'openDevice':
        this.push({ t: 'open-device' });
        break;
      case 'kill':
        this.push({ t: 'kill' });
        break;
    }
  }

  /** After a kexec: every name the program used is asked about, in random order, some never. */
  private retrievePhase(): void {
    const r = this.r;
    for (const s of r.shuffle(this.names)) {
      if (r.chance(0.12)) continue;
      const i = this.model.incoming.get(s);
      const tokens = [...(i?.tokens.keys() ?? [])];
      const asked = r.subset(tokens, 0.8);
      if (r.chance(0.1)) asked.push(this.token());
      const finish = r.chance(0.65);
      this.push({ t: 'retrieve', s, tokens: asked, finish });
      // Some follow-ups on the retrieved session, the errors of the contract among them.
      const follow = r.int(0, 3);
      for (let k = 0; k < follow; k++) {
        const what = r.weighted({
          fd: 4,
          twice: 3,
          finish: 3,
          finishReserved: 1,
          again: 2,
          name: 1,
          close: 1,
          preserveIn: 1,
        });
        const token = tokens.length > 0 && r.chance(0.8) ? r.pick(tokens) : this.token();
        if (what === 'fd' || what === 'twice')
          this.push({
            t: 'retrieve-fd',
            s,
            token,
            ...(what === 'twice' ? { twice: true } : {}),
          });
        else if (what === 'finish') this.push({ t: 'finish', s });
        else if (what === 'finishReserved') this.push({ t: 'finish', s, reserved: 1 });
        else if (what === 'again') this.push({ t: 'retrieve', s, tokens: [], finish: false });
        else if (what === 'name') this.push({ t: 'get-name', s });
        else if (what === 'close') this.push({ t: 'close', s });
        else {
          const memfds = this.model.aliveMemfds();
          if (memfds.length === 0) {
            const m = `p${this.prog}m${this.memfdCount++}`;
            this.push({ t: 'memfd', m, size: 4096, seed: r.int(1, 1000) });
          }
          this.push({
            t: 'preserve-incoming',
            s,
            m: r.pick(this.model.aliveMemfds().length > 0 ? this.model.aliveMemfds() : ['none']),
            token: this.token(),
          });
        }
      }
    }
  }
}

function pad(base: string, length: number, ch: string): string {
  return base + ch.repeat(Math.max(0, length - base.length));
}
