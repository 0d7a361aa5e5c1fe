import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HandoverError } from '../../orchestrator/errors.ts';
import { formatDiagnostic, loadScenarios, parseScenario } from '../../orchestrator/scenario/load.ts';

const errors = (text: string) => parseScenario(text, 'x.yaml').diagnostics.map(formatDiagnostic);
/** A scenario whose steps start on line 3, each at column 5 (after '  - '). */
const steps = (...lines: string[]) => ['description: d', 'steps:', ...lines.map((l) => `  - ${l}`), ''].join('\n');

describe('scenario files', () => {
  it('parses steps with defaults and remembers their lines', () => {
    const { scenario, diagnostics } = parseScenario(
      ['description: d', 'steps:', '  - create_session: s1', '  - memfd: {id: a, size: 4K}', '  - kexec: {}', '  - retrieve: {session: s1, tokens: {"1": a}}'].join('\n'),
      'dir/memfd-round-trip.yaml',
    );
    expect(diagnostics).toEqual([]);
    expect(scenario?.name).toBe('memfd-round-trip');
    expect(scenario?.steps.map((s) => [s.kind, s.line])).toEqual([['create_session', 3], ['memfd', 4], ['kexec', 5], ['retrieve', 6]]);
    expect(scenario?.steps[2]).toMatchObject({ kind: 'kexec', kexec: { count: 1 } });
    expect(scenario?.steps[3]).toMatchObject({ retrieve: { finish: true } });
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

describe('checks across steps', () => {
  it('a memfd no earlier step created, at the id', () => {
    expect(errors(steps('create_session: s', 'preserve: {session: s, token: 1, memfd: nope}'))).toEqual([
      "x.yaml:4:45: error: memfd 'nope' is not created by an earlier memfd step",
    ]);
    expect(errors(steps('write_memfd: {id: a, data: x}', 'memfd: {id: a, size: 4K}'))).toEqual([
      "x.yaml:3:23: error: memfd 'a' is not created by an earlier memfd step (it is created on line 4, after this step)",
    ]);
    expect(errors(steps('create_session: s', 'kexec: {}', 'retrieve: {session: s, tokens: {"1": ghost}}'))).toEqual([
      "x.yaml:5:42: error: memfd 'ghost' is not created by an earlier memfd step",
    ]);
  });

  it('a memfd created twice', () => {
    expect(errors(steps('memfd: {id: a, size: 4K}', 'memfd: {id: a, size: 8K}'))).toEqual(["x.yaml:4:17: error: memfd 'a' is already created on line 3"]);
  });

  it('a session no earlier step created, or created twice', () => {
    expect(errors(steps('memfd: {id: a, size: 4K}', 'preserve: {session: s2, token: 1, memfd: a}'))).toEqual([
      "x.yaml:4:25: error: session 's2' is not created by an earlier create_session",
    ]);
    expect(errors(steps('close_session: s'))).toEqual(["x.yaml:3:20: error: session 's' is not created by an earlier create_session"]);
    expect(errors(steps('finish: {session: nobody}'))).toEqual([
      "x.yaml:3:23: error: session 'nobody' is neither created in this boot nor handed over by an earlier kexec",
    ]);
    expect(errors(steps('create_session: s', 'create_session: s'))).toEqual([
      "x.yaml:4:21: error: session 's' is already created on line 3 (LUO refuses it: add expect_error: EEXIST if that is the point)",
    ]);
    expect(errors(steps('create_session: s', 'create_session: s\n    expect_error: EEXIST'))).toEqual([]);
  });

  it('retrieve and session_absent name sessions created before an earlier kexec', () => {
    expect(errors(steps('kexec: {}', 'create_session: s', 'retrieve: {session: s, tokens: {}}', 'session_absent: t'))).toEqual([
      "x.yaml:5:25: error: session 's' is created on line 4, after the last kexec: it cannot have been handed over",
      "x.yaml:6:21: error: session 't' is not created before any earlier kexec",
    ]);
    // Incoming sessions: retrieved, finished, or asked about two kexecs later.
    expect(errors(steps('create_session: s', 'create_session: t', 'kexec: {}', 'finish: {session: s}', 'kexec: {}', 'session_absent: t'))).toEqual([]);
  });

  it('retrieve or session_absent before any kexec', () => {
    expect(errors(steps('create_session: s', 'retrieve: {session: s, tokens: {}}', 'session_absent: s'))).toEqual([
      'x.yaml:4:15: error: retrieve before any kexec: nothing has been handed over yet',
      'x.yaml:5:21: error: session_absent before any kexec: nothing has been handed over yet',
    ]);
  });

  it('a duplicate token in a session before a kexec, unless the step expects the error', () => {
    const prefix = ['create_session: s', 'memfd: {id: a, size: 4K}', 'memfd: {id: b, size: 4K}', 'preserve: {session: s, token: 1, memfd: a}'];
    expect(errors(steps(...prefix, 'preserve: {session: s, token: 1, memfd: b}'))).toEqual([
      "x.yaml:7:35: error: token 1 is already preserved in session 's' on line 6 (LUO refuses it: add expect_error: EEXIST if that is the point)",
    ]);
    expect(errors(steps(...prefix, 'preserve: {session: s, token: 1, memfd: b}\n    expect_error: EEXIST'))).toEqual([]);
    // A new boot, a new session of the same name: token 1 is free again.
    expect(errors(steps(...prefix, 'kexec: {}', 'create_session: s', 'preserve: {session: s, token: 1, memfd: b}'))).toEqual([]);
  });

  it('preserving into a session after close_session of it, or after the holder died', () => {
    expect(errors(steps('create_session: s', 'memfd: {id: a, size: 4K}', 'close_session: s', 'preserve: {session: s, token: 1, memfd: a}'))).toEqual([
      "x.yaml:6:25: error: preserve into session 's' after close_session of it on line 5",
    ]);
    expect(errors(steps('create_session: s', 'memfd: {id: a, size: 4K}', 'kill_holder: {}', 'preserve: {session: s, token: 1, memfd: a}'))).toEqual([
      "x.yaml:6:25: error: preserve into session 's' after kill_holder on line 5",
    ]);
  });

  it('a session handed to a holder (hold) is no longer the agent\'s to preserve into', () => {
    expect(errors(steps('create_session: s', 'memfd: {id: a, size: 4K}', 'hold: {session: s, mode: fork}', 'preserve: {session: s, token: 1, memfd: a}'))).toEqual([
      "x.yaml:6:25: error: preserve into session 's' after hold of it on line 5 (another process holds it)",
    ]);
    expect(errors(steps('hold: {session: s, mode: exec}'))[0]).toMatch(/session 's' is not created by an earlier create_session/);
    expect(errors(steps('create_session: s', 'hold: {session: s, mode: spawn}'))[0]).toMatch(/^x\.yaml:4:\d+: error: /);
  });

  it('memory since a mark no earlier step made, a mark made twice, a comparison without a bound', () => {
    expect(errors(steps('memory: {since: cold, reserved_max: 1M}'))).toEqual(["x.yaml:3:21: error: memory mark 'cold' is not made by an earlier memory step"]);
    expect(errors(steps('memory: {mark: cold}', 'memory: {mark: cold}'))).toEqual(["x.yaml:4:20: error: memory mark 'cold' is already made on line 3"]);
    expect(errors(steps('memory: {mark: cold}', 'memory: {since: cold}'))[0]).toMatch(/give at least one of reserved_max/);
    expect(errors(steps('memory: {mark: cold}', 'kexec: {}', 'memory: {since: cold, reserved_max: 1M, memfree_max_loss: 24M}'))).toEqual([]);
  });

  it('bulk_retrieve of a set no bulk_preserve made, or before a kexec', () => {
    expect(errors(steps('kexec: {}', 'bulk_retrieve: s'))).toEqual(["x.yaml:4:20: error: bulk set 's' is not made by an earlier bulk_preserve"]);
    expect(errors(steps('bulk_preserve: {id: s, sessions: 2}', 'bulk_retrieve: s'))[0]).toMatch(/before any kexec since its bulk_preserve/);
    expect(errors(steps('bulk_preserve: {id: s, sessions: 2}', 'kexec: {}', 'bulk_retrieve: s'))).toEqual([]);
  });

  it('kexec_load twice without a kexec between', () => {
    expect(errors(steps('kexec_load: {}', 'kexec_load: {syscall: legacy}'))).toEqual([
      'x.yaml:4:17: error: the kexec image is already loaded on line 3, and no kexec since',
    ]);
    expect(errors(steps('kexec_load: {}', 'kexec: {}', 'kexec_load: {}'))).toEqual([]);
  });

  it('reports every problem at once, in step order', () => {
    expect(errors(steps('session_absent: a', 'memfd: {id: m, size: 4K}', 'memfd: {id: m, size: 4K}', 'kexec_load: {}', 'kexec_load: {}'))).toEqual([
      'x.yaml:3:21: error: session_absent before any kexec: nothing has been handed over yet',
      "x.yaml:5:17: error: memfd 'm' is already created on line 4",
      'x.yaml:7:17: error: the kexec image is already loaded on line 6, and no kexec since',
    ]);
  });
});

describe('log and debugfs steps', () => {
  it('a log step must look for something', () => {
    expect(errors(steps('log: {}'))).toEqual(['x.yaml:3:10: error: log: give contains, absent or both']);
    expect(errors(steps('log: {boot: all}'))).toEqual(['x.yaml:3:10: error: log: give contains, absent or both']);
  });

  it('contains and absent are regular expressions, checked at load', () => {
    expect(errors(steps('log: {contains: "(", absent: "[a"}'))).toEqual([
      'x.yaml:3:21: error: contains: not a valid regular expression',
      'x.yaml:3:34: error: absent: not a valid regular expression',
    ]);
  });

  it('a debugfs path must be a KHO entry, with a suggestion for a typo', () => {
    expect(errors(steps('debugfs: {path: kho/otu/fdt}'))).toEqual([
      "x.yaml:3:21: error: path: 'kho/otu/fdt' is not a KHO debugfs entry (kho, kho/out/{fdt,scratch_phys,scratch_len,sub_fdts/<name>}, kho/in/{fdt,sub_fdts/<name>}); did you mean 'kho/out/fdt'?",
    ]);
    expect(errors(steps('debugfs: {path: out/sub_fdts/LUO}'))[0]).toMatch(/^x\.yaml:3:21: error: path: 'out\/sub_fdts\/LUO' is not .*; did you mean 'kho\/out\/sub_fdts\/LUO'\?$/);
    expect(errors(steps('debugfs: {path: kho/in/sub_fdt/LUO}'))[0]).toMatch(/did you mean 'kho\/in\/sub_fdts\/LUO'\?$/);
    expect(errors(steps('debugfs: {path: /sys/kernel/debug/tracing/trace}'))).toEqual([
      "x.yaml:3:21: error: path: '/sys/kernel/debug/tracing/trace' is not a KHO debugfs entry (kho, kho/out/{fdt,scratch_phys,scratch_len,sub_fdts/<name>}, kho/in/{fdt,sub_fdts/<name>})",
    ]);
  });

  it('accepts every entry of the 7.3 layout, with or without /sys/kernel/debug/', () => {
    const paths = ['kho', 'kho/out', 'kho/out/fdt', 'kho/out/scratch_len', 'kho/out/scratch_phys', 'kho/out/sub_fdts', 'kho/out/sub_fdts/LUO', 'kho/in', 'kho/in/fdt', 'kho/in/sub_fdts/kexec-metadata'];
    for (const p of [...paths, ...paths.map((p) => `/sys/kernel/debug/${p}`)]) expect(errors(steps(`debugfs: {path: ${p}}`)), p).toEqual([]);
  });

  it('an xfail match that is no regular expression is a schema error', () => {
    expect(errors(steps('kexec: {}\n    xfail: {reason: r, match: "("}'))).toEqual(['x.yaml:4:31: error: match: not a valid regular expression']);
  });
});

describe('any YAML gives diagnostics, never an exception or a warning', () => {
  const kexec = 'steps: [{kexec: {}}]\n';
  let warnings: unknown[] = [];
  beforeEach(() => {
    warnings = [];
    vi.spyOn(process, 'emitWarning').mockImplementation((w) => void warnings.push(w));
  });
  afterEach(() => {
    expect(warnings).toEqual([]);
    vi.restoreAllMocks();
  });

  it.each([
    ['an alias with no anchor', `description: *a\n${kexec}`, 'x.yaml:1:14: error: alias *a has no anchor &a before it'],
    ['an alias inside its own anchor', 'description: d\nsteps: &s [*s]\n', 'x.yaml:2:12: error: alias *s is inside the node it refers to (a cycle)'],
    ['a merge key', `x: &x {description: d}\n<<: *x\n${kexec}`, 'x.yaml:2:1: error: merge keys (<<) are not supported in scenario files: write the fields out'],
    ['a merge key under YAML 1.1', `%YAML 1.1\n---\nx: &x {description: d}\n<<: *x\n${kexec}`, 'x.yaml:4:1: error: merge keys (<<) are not supported in scenario files: write the fields out'],
    ['a sequence as a key', `description: d\n? [a, b]\n: c\n${kexec}`, 'x.yaml:2:3: error: a key must be a plain value, not a sequence'],
    ['a mapping as a key', `description: d\n{a: 1}: x\n${kexec}`, 'x.yaml:2:1: error: a key must be a plain value, not a mapping'],
    ['a missing key', `description: d\n: x\n${kexec}`, 'x.yaml:2:1: error: a mapping key is missing'],
    ['!!binary', `description: !!binary aGk=\n${kexec}`, 'x.yaml:1:23: error: tag !!binary is not supported in scenario files'],
    ['a local tag', `description: !foo d\n${kexec}`, 'x.yaml:1:19: error: tag !foo is not supported in scenario files'],
    ['a number too big for a double', `description: d\ntimeout: 1e400\n${kexec}`, 'x.yaml:2:10: error: timeout: Invalid input: expected number, received Infinity'],
    ['an integer past 2**53', 'description: d\nsteps: [{kexec: {count: 1180591620717411303424}}]\n', 'x.yaml:2:25: error: count: Too big: expected int to be <=9007199254740991'],
    ['deep nesting', `description: d\nsteps: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 'x.yaml:2:71: error: nested more than 64 levels deep'],
    ['an empty file', '', 'x.yaml:1:1: error: expected a mapping with description: and steps:, not an empty document'],
    ['only a comment', '# nothing\n', 'x.yaml:1:1: error: expected a mapping with description: and steps:, not an empty document'],
    ['a list at the top', '- kexec: {}\n', 'x.yaml:1:1: error: expected a mapping with description: and steps:, not a sequence'],
    ['a scalar at the top', 'hello\n', 'x.yaml:1:1: error: expected a mapping with description: and steps:, not a single value'],
    ['two documents', `description: d\n${kexec}---\ndescription: e\n`, 'x.yaml:3:1: error: MULTIPLE_DOCS: Source contains multiple documents; please use YAML.parseAllDocuments()'],
    ['an alias bomb', `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ndescription: d\n${kexec}`, 'x.yaml:2:8: error: cannot read the YAML: Excessive alias count indicates a resource exhaustion attack'],
  ])('%s', (_what, text, first) => {
    expect(errors(text)[0]).toBe(first);
  });

  it('takes an alias that resolves, and text that was not valid UTF-8', () => {
    const { scenario, diagnostics } = parseScenario('description: "bad \uFFFD \uD800 \u0000"\nsteps:\n  - create_session: &s s1\n  - close_session: *s\n', 'x.yaml');
    expect(diagnostics).toEqual([]);
    expect(scenario?.steps.map((s) => s.kind)).toEqual(['create_session', 'close_session']);
  });
});

describe('loadScenarios', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'handover-load-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('ends as a usage error (exit 2) with every diagnostic as evidence', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, steps('retrieve: {session: s, tokens: {}}', 'debugfs: {path: kho/otu/fdt}'));
    const err = await loadScenarios([file]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandoverError);
    expect((err as HandoverError).exitCode).toBe(2);
    expect((err as HandoverError).evidence).toEqual([expect.stringMatching(`^${file}:4:21: error: path: 'kho/otu/fdt'`)]);
  });
});
