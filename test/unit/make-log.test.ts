import { describe, expect, it } from 'vitest';
import { firstErrors, kbuildStep } from '../../orchestrator/kernel/make-log.ts';

describe('make log', () => {
  it('starts at the include chain of the first compiler error', () => {
    const log = [
      '  CC      kernel/fork.o',
      'In file included from kernel/fork.c:12:',
      'include/linux/foo.h:3:2: error: #error handover-test',
      '    3 | #error handover-test',
      'make[3]: *** [scripts/Makefile.build:207: kernel/fork.o] Error 1',
    ].join('\n');
    expect(firstErrors(log)[0]).toBe('In file included from kernel/fork.c:12:');
    expect(firstErrors(log)[1]).toContain('error: #error handover-test');
  });

  it('falls back to the last lines when there is no recognisable error', () => {
    expect(firstErrors('a\nb\nc\n', 2)).toEqual(['b', 'c']);
  });

  it('counts kbuild steps', () => {
    expect(kbuildStep('  CC      kernel/fork.o')).toEqual({ tool: 'CC', target: 'kernel/fork.o' });
    expect(kbuildStep('make[1]: Entering directory')).toBeUndefined();
  });
});
