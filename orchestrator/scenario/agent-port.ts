// What the runner needs from the guest agent: start the holder, send a request, get a reply.
// Errors of the kernel come back as data ({ok:false, errno}); transport problems are thrown.

export interface AgentReply {
  ok: boolean;
  errno?: string;
  message?: string;
  [field: string]: unknown;
}

export interface AgentPort {
  /** Starts the holder daemon (opens /dev/liveupdate); an errno reply if it cannot. */
  start(): Promise<AgentReply>;
  request(req: { op: string; [field: string]: unknown }): Promise<AgentReply>;
}
