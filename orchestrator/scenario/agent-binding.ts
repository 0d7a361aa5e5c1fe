import type { Machine } from '../machine/start.ts';
import type { AgentPort, AgentReply } from './agent-port.ts';

/** The guest agent over SSH: `serve` starts the holder daemon, `ctl` sends it one request. */
export function agentFor(m: Machine): AgentPort {
  const parse = (stdout: string, stderr: string): AgentReply => {
    const line = stdout.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(line) as AgentReply;
    } catch {
      return { ok: false, message: `no JSON reply from the agent: ${(stdout + stderr).trim().slice(0, 300)}` };
    }
  };
  return {
    async start() {
      const r = await m.guest.exec(['handover-agent', 'serve'], { timeoutMs: 30_000 });
      return parse(r.stdout, r.stderr);
    },
    async request(req) {
      const r = await m.guest.exec(['handover-agent', 'ctl', JSON.stringify(req)], { timeoutMs: 120_000 });
      return parse(r.stdout, r.stderr);
    },
  };
}
