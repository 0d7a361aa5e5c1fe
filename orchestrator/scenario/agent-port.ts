// What the runner needs from the guest agent: start the holder, send a request, get a reply.
// Errors of the kernel come back as data ({ok:false, errno}); transport problems are thrown.
// Typed by the protocol (guest/agent-protocol.ts), so a request's fields and its reply's are
// checked at compile time.
import type { AgentRequest, AgentResult, ServeResult } from '../guest/agent-protocol.ts';

/** A reply of any op, for code that treats them alike (errno checks, evidence). */
export type AgentReply = AgentResult | ServeResult;

export interface AgentPort {
  /** Starts the holder daemon (opens /dev/liveupdate); an errno reply if it cannot. */
  start(): Promise<ServeResult>;
  request<R extends AgentRequest>(req: R): Promise<AgentResult<R['op']>>;
}
