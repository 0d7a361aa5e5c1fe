import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { Agent, serveAgent, type AgentExchange } from '../guest/agent.ts';
import type { Machine } from '../machine/start.ts';
import type { AgentPort } from './agent-port.ts';

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

/**
 * The runner's view of the guest agent. Every request and reply is kept in the run's
 * agent.jsonl, next to the consoles: the evidence of what the kernel answered.
 */
export function agentFor(m: Machine): AgentPort {
  const log = join(m.dir, 'agent.jsonl');
  const onExchange = (x: AgentExchange): void => appendFileSync(log, `${json(x)}\n`);
  let agent: Agent | undefined;
  return {
    async start() {
      const served = await serveAgent(m.guest);
      appendFileSync(log, `${json({ request: 'serve', reply: served })}\n`);
      agent = served.ok ? new Agent(m.guest, served, { onExchange }) : undefined;
      return served;
    },
    async request(req) {
      if (agent === undefined) throw new HandoverError('step-failed', `agent ${req.op}: the holder is not running`);
      return agent.request(req);
    },
  };
}
