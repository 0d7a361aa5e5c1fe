// The abstract operations a fuzz program is made of. A program says what to do (preserve this
// memfd into that session, retrieve that session after the kexec); the model (model.ts) says what
// must come of it and writes the scenario step that checks it. Shrinking removes and edits ops and
// asks the model again, so a smaller program's expectations are always its own.

export type SealName = 'seal' | 'shrink' | 'grow' | 'write' | 'future-write' | 'exec';
export type Hole = 'start' | 'middle' | 'end';
export type HoldMode = 'fork' | 'scm-rights' | 'exec';
export type MutateKind = 'ftruncate' | 'write-past-eof' | 'fallocate' | 'punch-hole' | 'write' | 'mmap-write';
/** Malformed ioctls of the contract, each with the errno it must give (ioctl-contract.yaml). */
export type RawKind =
  'device-nr' | 'device-type' | 'device-bits' | 'session-nr-high' | 'session-nr-low' | 'short-create' | 'junk-create' | 'zero-tail-create' | 'short-get-name' | 'junk-get-name';

export interface MemfdAttrs {
  /** Bytes, or a share of guest RAM ("3%"). */
  size: number | string;
  seed: number;
  sparse?: boolean;
  seals?: SealName[];
  pos?: number;
  holes?: Hole[];
  noexec?: boolean;
}

export type Op =
  | { t: 'create'; s: string }
  | { t: 'create-bad'; bad: 'empty' | 'long'; s: string }
  | ({ t: 'memfd'; m: string } & MemfdAttrs)
  | { t: 'preserve'; s: string; m: string; token: number }
  | { t: 'preserve-null'; s: string; token: number }
  | { t: 'preserve-incoming'; s: string; m: string; token: number }
  | { t: 'close'; s: string }
  | { t: 'hold'; s: string; mode: HoldMode }
  | { t: 'kill' }
  | { t: 'mutate'; m: string; op: MutateKind; offset: number; data?: string }
  | { t: 'load' }
  | { t: 'kexec' }
  /** After a kexec: RETRIEVE_SESSION and verify these tokens (the model says which exist), FINISH or not. */
  | { t: 'retrieve'; s: string; tokens: number[]; finish: boolean }
  | { t: 'retrieve-fd'; s: string; token: number; twice?: boolean }
  | { t: 'finish'; s: string; reserved?: number }
  | { t: 'get-name'; s: string; reserved?: number }
  | { t: 'open-device' }
  | { t: 'raw'; kind: RawKind; s?: string };

export type OpKind = Op['t'];

/** An op of a batch: which program it came from. */
export type TaggedOp = Op & { prog: number };

export function kexecsOf(ops: readonly Op[]): number {
  return ops.filter((o) => o.t === 'kexec').length;
}
