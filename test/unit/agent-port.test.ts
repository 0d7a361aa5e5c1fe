// The runner's agent port is typed by the protocol: these lines are checked by tsc (npm run lint);
// each @ts-expect-error is a request the port must refuse to compile.
import { describe, expectTypeOf, it } from 'vitest';
import type { AgentResult } from '../../orchestrator/guest/agent-protocol.ts';
import type { AgentPort } from '../../orchestrator/scenario/agent-port.ts';

describe('the agent port', () => {
  it('types each reply by its request, and refuses requests the protocol does not have', () => {
    const typed = (port: AgentPort) => {
      expectTypeOf(port.request({ op: 'create-memfd', id: 'm', size: 4096 })).resolves.toEqualTypeOf<AgentResult<'create-memfd'>>();
      // @ts-expect-error close-session names its session by `name`
      void port.request({ op: 'close-session', session: 's' });
      // @ts-expect-error no such op
      void port.request({ op: 'create-memfds', id: 'm', size: 1 });
      // @ts-expect-error size is a number
      void port.request({ op: 'truncate', memfd: 'm', size: '1' });
    };
    expectTypeOf(typed).toBeFunction();
  });
});
