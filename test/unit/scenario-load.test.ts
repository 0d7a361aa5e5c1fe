import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parseScenario } from '../../orchestrator/scenario/load.ts';

const errors = (text: string) => parseScenario(text, 'x.yaml').diagnostics.map(formatDiagnostic);

describe('scenario files', () => {
  it('parses steps with defaults and remembers their lines', () => {
    const { scenario, diagnostics } = parseScenario(
      ['description: d', 'steps:', '  - create_session: s1', '  - kexec: {}', '  - retrieve: {session: s1, tokens: {"1": a}}'].join('\n'),
      'dir/memfd-round-trip.yaml',
    );
    expect(diagnostics).toEqual([]);
    expect(scenario?.name).toBe('memfd-round-trip');
    expect(scenario?.steps.map((s) => [s.kind, s.line])).toEqual([['create_session', 3], ['kexec', 4], ['retrieve', 5]]);
    expect(scenario?.steps[1]).toMatchObject({ kind: 'kexec', kexec: { count: 1 } });
    expect(scenario?.steps[2]).toMatchObject({ retrieve: { finish: true } });
  });

  it('reports malformed YAML at its line and column', () => {
    expect(errors('description: d\nsteps:\n  - kexec: {\n')[0]).toMatch(/^x\.yaml:4:1: error: /);
  });

  it('names an unknown step and where it is', () => {
    expect(errors('description: d\nsteps:\n  - kexec: {}\n  - rebot: {}\n')).toEqual([
      expect.stringMatching(/^x\.yaml:4:5: error: unknown step 'rebot': expected one of exec, open_liveupdate, create_session, /),
    ]);
  });

  it('names a wrong type at the value', () => {
    expect(errors('description: d\nsteps:\n  - memfd: {id: a, size: -4}\n')).toEqual([
      expect.stringMatching(/^x\.yaml:3:26: error: size: /),
    ]);
  });

  it('names an unknown field at its key', () => {
    expect(errors('description: d\nsteps:\n  - kexec: {count: 2, sycall: legacy}\n')).toEqual(['x.yaml:3:23: error: unknown field \'sycall\'']);
  });

  it('reports a missing description and an empty step list together', () => {
    expect(errors('steps: []\n')).toEqual([
      expect.stringMatching(/^x\.yaml:1:1: error: description: /),
      expect.stringMatching(/^x\.yaml:1:8: error: steps: /),
    ]);
  });

  it('rejects duplicate keys', () => {
    expect(errors('description: d\ndescription: e\nsteps:\n  - kexec: {}\n')[0]).toMatch(/^x\.yaml:2:1: error: DUPLICATE_KEY/);
  });
});
