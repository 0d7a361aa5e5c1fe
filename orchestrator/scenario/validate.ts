import type { Step } from './schema.ts';

// Checks across steps, once every step has parsed: what the order of the steps makes certain to
// fail (or to pass for the wrong reason) is reported before anything boots. Raw `agent` steps are
// free-form and checked for nothing.

/** Where a problem is: the step's index and the path of the offending value inside it. */
export type Locate<D> = (step: number, path: readonly (string | number)[], message: string) => D;

/** What the steps so far have made: per boot (reset by a kexec) and for the whole scenario. */
interface State {
  memfds: Map<string, number>;
  /** Sessions created in this boot and not closed, with the tokens preserved in them. */
  open: Map<string, Map<number, number>>;
  /** Sessions of this boot that are gone, and what ended them. */
  gone: Map<string, string>;
  /** Sessions the agent holds after retrieving them in this boot. */
  retrieved: Set<string>;
  /** Every session created before the last kexec: the ones a later boot may ask about. */
  handedOver: Set<string>;
  createdAt: Map<string, number>;
  /** memory marks (scenario-wide) and bulk_preserve sets (with the kexec count when made). */
  marks: Map<string, number>;
  bulks: Map<string, number>;
  kexecs: number;
  loadedAt: number | undefined;
}

export function validateSteps<D>(steps: readonly (Step & { line: number })[], at: Locate<D>): D[] {
  const problems: D[] = [];
  const s: State = { memfds: new Map(), open: new Map(), gone: new Map(), retrieved: new Set(), handedOver: new Set(), createdAt: new Map(), marks: new Map(), bulks: new Map(), kexecs: 0, loadedAt: undefined };
  const laterMemfd = new Map<string, number>();
  for (const step of steps) if (step.kind === 'memfd' && !laterMemfd.has(step.memfd.id)) laterMemfd.set(step.memfd.id, step.line);

  const needMemfd = (i: number, id: string, path: (string | number)[]): void => {
    if (s.memfds.has(id)) return;
    const later = laterMemfd.get(id);
    problems.push(at(i, path, `memfd '${id}' is not created by an earlier memfd step${later === undefined ? '' : ` (it is created on line ${later}, after this step)`}`));
  };
  /** preserve and close_session act on a session fd the holder has in this boot. */
  const needHeld = (i: number, name: string, path: (string | number)[], what: string): boolean => {
    if (s.open.has(name) || s.retrieved.has(name)) return true;
    const gone = s.gone.get(name);
    if (gone !== undefined) problems.push(at(i, path, `${what} session '${name}' after ${gone}`));
    else problems.push(at(i, path, `session '${name}' is not created by an earlier create_session${s.handedOver.has(name) ? ' in this boot (retrieve it first)' : ''}`));
    return false;
  };
  /** retrieve and session_absent ask the new kernel about a session the old one had. */
  const needIncoming = (i: number, name: string, path: (string | number)[], kind: string): void => {
    if (s.kexecs === 0) {
      problems.push(at(i, [kind], `${kind} before any kexec: nothing has been handed over yet`));
      return;
    }
    if (s.handedOver.has(name)) return;
    const created = s.createdAt.get(name);
    problems.push(
      at(i, path, created === undefined ? `session '${name}' is not created before any earlier kexec` : `session '${name}' is created on line ${created}, after the last kexec: it cannot have been handed over`),
    );
  };

  steps.forEach((step, i) => {
    const expectsError = step.expect_error !== undefined;
    switch (step.kind) {
      case 'memfd': {
        const first = s.memfds.get(step.memfd.id);
        if (first !== undefined) problems.push(at(i, ['memfd', 'id'], `memfd '${step.memfd.id}' is already created on line ${first}`));
        else if (!expectsError) s.memfds.set(step.memfd.id, step.line);
        break;
      }
      case 'write_memfd':
        needMemfd(i, step.write_memfd.id, ['write_memfd', 'id']);
        break;
      case 'mutate_memfd':
        needMemfd(i, step.mutate_memfd.id, ['mutate_memfd', 'id']);
        if ((step.mutate_memfd.op === 'write' || step.mutate_memfd.op === 'mmap-write') && step.mutate_memfd.data === undefined) {
          problems.push(at(i, ['mutate_memfd', 'data'], `${step.mutate_memfd.op} needs data`));
        }
        break;
      case 'create_session':
      {
        // With expect_error it is meant to fail, so it creates nothing (a duplicate name is the usual case).
        if (expectsError) break;
        const name = step.create_session;
        if (s.open.has(name)) {
          problems.push(at(i, ['create_session'], `session '${name}' is already created on line ${s.createdAt.get(name) ?? '?'} (LUO refuses it: add expect_error: EEXIST if that is the point)`));
          break;
        }
        s.open.set(name, new Map());
        s.gone.delete(name);
        s.createdAt.set(name, step.line);
        break;
      }
      case 'preserve': {
        const p = step.preserve;
        if ('memfd' in p) needMemfd(i, p.memfd, ['preserve', 'memfd']);
        if (!needHeld(i, p.session, ['preserve', 'session'], 'preserve into')) break;
        const tokens = s.open.get(p.session);
        if (tokens === undefined || expectsError) break;
        const first = tokens.get(p.token);
        if (first !== undefined) {
          problems.push(at(i, ['preserve', 'token'], `token ${p.token} is already preserved in session '${p.session}' on line ${first} (LUO refuses it: add expect_error: EEXIST if that is the point)`));
        } else tokens.set(p.token, step.line);
        break;
      }
      case 'close_session':
        if (needHeld(i, step.close_session, ['close_session'], 'close_session of')) {
          s.open.delete(step.close_session);
          s.retrieved.delete(step.close_session);
          s.gone.set(step.close_session, `close_session of it on line ${step.line}`);
        }
        break;
      case 'hold':
        // The session goes to another process: the agent can no longer preserve into it or close it.
        if (needHeld(i, step.hold.session, ['hold', 'session'], 'hold of')) {
          s.open.delete(step.hold.session);
          s.gone.set(step.hold.session, `hold of it on line ${step.line} (another process holds it)`);
        }
        break;
      case 'memory':
        if ('mark' in step.memory) {
          const first = s.marks.get(step.memory.mark);
          if (first !== undefined) problems.push(at(i, ['memory', 'mark'], `memory mark '${step.memory.mark}' is already made on line ${first}`));
          else s.marks.set(step.memory.mark, step.line);
        } else if (!s.marks.has(step.memory.since)) {
          problems.push(at(i, ['memory', 'since'], `memory mark '${step.memory.since}' is not made by an earlier memory step`));
        }
        break;
      case 'bulk_preserve':
        if (s.bulks.has(step.bulk_preserve.id)) problems.push(at(i, ['bulk_preserve', 'id'], `bulk set '${step.bulk_preserve.id}' is already made`));
        else s.bulks.set(step.bulk_preserve.id, s.kexecs);
        break;
      case 'bulk_retrieve': {
        const madeAt = s.bulks.get(step.bulk_retrieve);
        if (madeAt === undefined) problems.push(at(i, ['bulk_retrieve'], `bulk set '${step.bulk_retrieve}' is not made by an earlier bulk_preserve`));
        else if (madeAt === s.kexecs) problems.push(at(i, ['bulk_retrieve'], `bulk_retrieve of '${step.bulk_retrieve}' before any kexec since its bulk_preserve: nothing has been handed over yet`));
        break;
      }
      case 'kexec_load':
        if (s.loadedAt !== undefined) problems.push(at(i, ['kexec_load'], `the kexec image is already loaded on line ${s.loadedAt}, and no kexec since`));
        s.loadedAt = step.line;
        break;
      case 'kexec':
        for (const name of s.createdAt.keys()) s.handedOver.add(name);
        s.open.clear();
        s.gone.clear();
        s.retrieved.clear();
        s.kexecs += step.kexec.count;
        s.loadedAt = undefined;
        break;
      case 'kill_holder':
        // The holder's session fds go with it; the kernel keeps what was preserved for the kexec.
        for (const name of [...s.open.keys(), ...s.retrieved]) s.gone.set(name, `kill_holder on line ${step.line}`);
        s.open.clear();
        s.retrieved.clear();
        break;
      case 'retrieve':
        needIncoming(i, step.retrieve.session, ['retrieve', 'session'], 'retrieve');
        for (const [token, id] of Object.entries(step.retrieve.tokens)) needMemfd(i, id, ['retrieve', 'tokens', token]);
        if (!expectsError) s.retrieved.add(step.retrieve.session);
        break;
      case 'session_absent':
        needIncoming(i, step.session_absent, ['session_absent'], 'session_absent');
        break;
      case 'finish': {
        // An outgoing session of this boot, or an incoming one (retrieved by an earlier step or not).
        const name = step.finish.session;
        if (s.open.has(name) || s.retrieved.has(name) || (s.kexecs > 0 && s.handedOver.has(name))) break;
        const gone = s.gone.get(name);
        problems.push(
          at(i, ['finish', 'session'], gone !== undefined ? `finish of session '${name}' after ${gone}` : `session '${name}' is neither created in this boot nor handed over by an earlier kexec`),
        );
        break;
      }
      default:
        break;
    }
  });
  return problems;
}
