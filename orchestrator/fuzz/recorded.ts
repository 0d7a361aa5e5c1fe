// The model against what a real guest answered: a batch's agent.jsonl (every request and reply
// the runner exchanged with the agent) compared, request by request, with what the model's steps
// predict: the op sent and whether it succeeded or which errno it gave. Unit tests run it on
// recordings from real runs, and on tampered copies as negative controls.

import type { RealizedStep } from './model.ts';

export interface Predicted {
  /** The step (index into the realized steps) the request belongs to. */
  step: number;
  op: string;
  /** undefined: it must succeed. */
  errno?: string;
}

/** The agent requests a step sends, in order, with the outcome the model gave it. */
export function predictedRequests(steps: readonly RealizedStep[]): Predicted[] {
  const out: Predicted[] = [];
  steps.forEach(({ step }, i) => {
    const expect = step.expect_error;
    const errno = typeof expect === 'string' ? expect : typeof expect === 'object' && expect !== null ? String((expect as { errno: string }).errno) : undefined;
    const one = (op: string) => out.push({ step: i, op, ...(errno === undefined ? {} : { errno }) });
    if ('create_session' in step) one('create-session');
    else if ('memfd' in step) {
      out.push({ step: i, op: 'create-memfd' });
      const holes = (step.memfd as { holes?: unknown[] }).holes ?? [];
      for (const _ of holes) out.push({ step: i, op: 'mutate-memfd' });
    } else if ('preserve' in step) one('path' in (step.preserve as object) ? 'preserve-fd' : 'preserve');
    else if ('close_session' in step) one('close-session');
    else if ('hold' in step) one('hold');
    else if ('kill_holder' in step) one('exit');
    else if ('mutate_memfd' in step) one('mutate-memfd');
    else if ('finish' in step) one('finish');
    else if ('agent' in step) one(String((step.agent as { op: string }).op));
    else if ('session_absent' in step) out.push({ step: i, op: 'retrieve-session', errno: 'ENOENT' });
    else if ('retrieve' in step) {
      const r = step.retrieve as {
        tokens: Record<string, string>;
        finish?: boolean;
      };
      out.push({ step: i, op: 'retrieve-session' });
      for (const _ of Object.keys(r.tokens)) out.push({ step: i, op: 'retrieve-fd' }, { step: i, op: 'verify' });
      if (r.finish !== false) out.push({ step: i, op: 'finish' });
    }
  });
  return out;
}

interface Exchange {
  request?: unknown;
  requests?: readonly string[];
  replies?: readonly string[];
}

/** Requests and replies of an agent.jsonl, in order (the holder's start, `serve`, left out). */
export function recordedExchanges(jsonl: string): { op: string; ok: boolean; errno?: string }[] {
  return jsonl
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const x = JSON.parse(line) as Exchange;
      if (x.request === 'serve') return [];
      return (x.requests ?? []).map((req, k) => {
        const reply = JSON.parse(x.replies?.[k] ?? '{}') as {
          ok?: boolean;
          errno?: string;
        };
        const op = (JSON.parse(req) as { op: string }).op;
        return {
          op,
          ok: reply.ok === true,
          ...(reply.errno === undefined ? {} : { errno: reply.errno }),
        };
      });
    });
}

/** Where the recording differs from the model (empty: the kernel answered every request as predicted). */
export function divergences(steps: readonly RealizedStep[], jsonl: string): string[] {
  const want = predictedRequests(steps);
  const got = recordedExchanges(jsonl);
  const found: string[] = [];
  for (let i = 0; i < Math.max(want.length, got.length) && found.length === 0; i++) {
    const w = want[i];
    const g = got[i];
    if (w === undefined || g === undefined) {
      found.push(
        w === undefined
          ? `request ${i + 1}: ${g?.op ?? '?'} was sent, but the model predicts no more requests`
          : `request ${i + 1} (step ${w.step + 1}, ${w.op}): the recording ends before it`,
      );
      break;
    }
    const what = `request ${i + 1} (step ${w.step + 1}, ${w.op})`;
    if (g.op !== w.op) found.push(`${what}: the recording sent ${g.op}`);
    else if (w.errno === undefined && !g.ok) found.push(`${what}: the model predicts success, the kernel gave ${g.errno ?? 'an error'}`);
    else if (w.errno !== undefined && g.ok) found.push(`${what}: the model predicts ${w.errno}, the kernel gave success`);
    else if (w.errno !== undefined && g.errno !== w.errno) found.push(`${what}: the model predicts ${w.errno}, the kernel gave ${g.errno ?? '?'}`);
  }
  return found;
}
