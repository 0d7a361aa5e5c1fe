import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProgram } from '../../orchestrator/cli/program.ts';
import { projectFor, runSettings } from '../../orchestrator/cli/project.ts';
import { HandoverError } from '../../orchestrator/errors.ts';
import { PACKAGE_ROOT } from '../../orchestrator/paths.ts';
import { findProjectFile, loadProjectFile, parseProjectFile, type ProjectFile } from '../../orchestrator/project/load.ts';
import { projectJsonSchema } from '../../orchestrator/project/schema.ts';
import { formatSettings, valuesOf } from '../../orchestrator/project/settings.ts';
import { formatDiagnostic } from '../../orchestrator/scenario/yaml-doc.ts';

const errors = (text: string, file = 'handover.yaml') => parseProjectFile(text, file).diagnostics.map(formatDiagnostic);
const parsed = (text: string, file = '/p/q/handover.yaml'): ProjectFile => {
  const { project, diagnostics } = parseProjectFile(text, file);
  expect(diagnostics).toEqual([]);
  if (project === undefined) throw new Error('no project');
  return project;
};

/** `handover run ARGV…` parsed by the real command tree, its action replaced: the settings it would run with. */
async function settingsFor(argv: string[], project: ProjectFile | undefined) {
  const program = createProgram();
  const run = program.commands.find((c) => c.name() === 'run');
  if (run === undefined) throw new Error('no run command');
  run.action(() => undefined);
  await program.parseAsync(['node', 'handover', 'run', ...argv]);
  return runSettings(run, run.args, project);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'handover-project-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('finding handover.yaml', () => {
  it('takes the nearest one from the directory upwards', async () => {
    await mkdir(join(dir, 'a', 'b', 'c'), { recursive: true });
    await writeFile(join(dir, 'a', 'handover.yaml'), 'jobs: 1\n');
    expect(await findProjectFile(join(dir, 'a', 'b', 'c'))).toBe(join(dir, 'a', 'handover.yaml'));
    expect(await findProjectFile(join(dir, 'a'))).toBe(join(dir, 'a', 'handover.yaml'));
    // A nearer one wins over the one above it.
    await writeFile(join(dir, 'a', 'b', 'handover.yaml'), 'jobs: 2\n');
    expect(await findProjectFile(join(dir, 'a', 'b', 'c'))).toBe(join(dir, 'a', 'b', 'handover.yaml'));
  });

  it('negative control: none below the file, none when a directory is named so, none at the root', async () => {
    await mkdir(join(dir, 'a', 'handover.yaml'), { recursive: true });
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'b', 'handover.yaml'), 'jobs: 1\n');
    expect(await findProjectFile(join(dir, 'a'))).toBeUndefined();
    expect(await findProjectFile('/')).toBeUndefined();
  });

  it('names a found file relative to the cwd, so diagnostics read ../handover.yaml:LINE:COL', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'handover.yaml'), 'accel: tcg\njobs: two\n');
    const err = await projectFor({}, join(dir, 'sub')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandoverError);
    expect((err as HandoverError).exitCode).toBe(2);
    expect((err as HandoverError).evidence).toEqual(['../handover.yaml:2:7: error: jobs: Invalid input: expected number, received string']);
    expect(await projectFor({ project: false }, join(dir, 'sub'))).toBeUndefined();
  });

  it('--project names a file instead, and a missing one is a usage error', async () => {
    await writeFile(join(dir, 'other.yaml'), 'jobs: 3\n');
    const named = await projectFor({ project: join(dir, 'other.yaml') }, '/');
    expect(named?.settings).toEqual({ jobs: 3 });
    expect(named?.lines).toEqual({ jobs: 1 });
    await expect(projectFor({ project: join(dir, 'none.yaml') }, '/')).rejects.toThrow(`${join(dir, 'none.yaml')}: cannot read the project file (ENOENT)`);
  });
});

describe('handover.yaml values', () => {
  it('resolves relative paths against the file, not the cwd', () => {
    const p = parsed('kernel: ..\nconfig: [frag.config, ../x/y.config, CONFIG_KCMP=y]\nscenarios: [tests, /abs/s.yaml]\noutput: out\n');
    expect(p.settings).toEqual({
      kernel: 'path:/p',
      config: ['/p/q/frag.config', '/p/x/y.config', 'CONFIG_KCMP=y'],
      scenarios: ['/p/q/tests', '/abs/s.yaml'],
      output: '/p/q/out',
    });
    expect(parsed('kernel: path:linux\n').settings.kernel).toBe('path:/p/q/linux');
    expect(parsed('kernel: git:../linux#v7.3\n').settings.kernel).toBe('git:/p/linux#v7.3');
    // A relative file name starts from the cwd, as the CLI names a found file.
    expect(parsed('output: out\n', 'sub/handover.yaml').settings.output).toBe(resolve('sub', 'out'));
  });

  it('negative control: what is not a path is left as written', () => {
    expect(parsed('kernel: debian:linux-source-7.2\n').settings.kernel).toBe('debian:linux-source-7.2');
    expect(parsed('kernel: git:https://git.kernel.org/linux.git#master\n').settings.kernel).toBe('git:https://git.kernel.org/linux.git#master');
    expect(parsed('kernel: ~/linux\n').settings.kernel).toBe('~/linux');
  });

  it('remembers the line of each key; an empty or comment-only file sets nothing', () => {
    expect(parsed('# mine\njobs: 2\n\nreporters:\n  - json\n').lines).toEqual({ jobs: 2, reporters: 4 });
    expect(parsed('').settings).toEqual({});
    expect(parsed('# nothing yet\n').settings).toEqual({});
  });

  it('reports a bad value, an unknown key and bad YAML at file:line:col', () => {
    expect(errors('accel: tcg\njobs: two\n')).toEqual(['handover.yaml:2:7: error: jobs: Invalid input: expected number, received string']);
    expect(errors('jobs: 0\n')).toEqual(['handover.yaml:1:7: error: jobs: Too small: expected number to be >0']);
    expect(errors('accel: tcg\n  # x\njbos: 2\n')).toEqual(["handover.yaml:3:1: error: unknown field 'jbos'"]);
    expect(errors('profiles: [debug, kasn]\n')).toEqual(['handover.yaml:1:19: error: profiles: Invalid option: expected one of "debug"|"kasan"|"coverage"']);
    expect(errors('kernel: linux\n')).toEqual([
      'handover.yaml:1:9: error: kernel: expected a kernel spec: debian:linux-source-X.Y[@suite], git:<repository>#<ref>, or a path',
    ]);
    expect(errors('reporters: [json, pdf]\n')[0]).toMatch(/^handover\.yaml:1:19: error: reporters: Invalid option/);
    expect(errors('jobs: [1\n')).toEqual(['handover.yaml:2:1: error: BAD_INDENT: Flow sequence in block collection must be sufficiently indented and end with a ]']);
    expect(errors('jobs: 1\njobs: 2\n')).toEqual(['handover.yaml:2:1: error: DUPLICATE_KEY: Map keys must be unique']);
    expect(errors('- jobs: 1\n')[0]).toBe('handover.yaml:1:1: error: expected a mapping of kernel, arch, config, profiles, accel, scenarios, reporters, output, jobs, build_jobs, ccache, retries, append, kexec_append, not a sequence');
    expect(errors('x: &x {jobs: 1}\n<<: *x\n')).toEqual(['handover.yaml:2:1: error: merge keys (<<) are not supported in handover.yaml: write the fields out']);
  });

  it('negative control: every key at a valid value gives no diagnostic', () => {
    const all = 'kernel: .\nconfig: [a]\nprofiles: [kasan]\naccel: tcg\nscenarios: [s]\nreporters: [json]\noutput: o\njobs: 1\nbuild_jobs: 1\nccache: false\nretries: 0\nappend: a\nkexec_append: b\n';
    expect(errors(all)).toEqual([]);
  });

  it('loading a bad file is a usage error (exit 2) carrying every diagnostic', async () => {
    const file = join(dir, 'handover.yaml');
    await writeFile(file, 'jobs: two\nfoo: 1\n');
    const err = await loadProjectFile(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandoverError);
    expect((err as HandoverError).outcome).toBe('usage-error');
    expect((err as HandoverError).evidence).toEqual([
      `${file}:1:7: error: jobs: Invalid input: expected number, received string`,
      `${file}:2:1: error: unknown field 'foo'`,
    ]);
  });
});

describe('settings: defaults < handover.yaml < command line', () => {
  const project = parsed('jobs: 2\nreporters: [json]\noutput: out\nconfig: [CONFIG_KCMP=y]\nscenarios: [tests]\nccache: false\n');

  it('takes the file over the defaults, and says so', async () => {
    const s = await settingsFor([], project);
    expect(s.jobs).toEqual({ value: 2, origin: '/p/q/handover.yaml:1' });
    expect(s.reporters).toEqual({ value: ['json'], origin: '/p/q/handover.yaml:2' });
    // commander's own default for --output must not hide the file's value.
    expect(s.output).toEqual({ value: '/p/q/out', origin: '/p/q/handover.yaml:3' });
    expect(s.scenarios).toEqual({ value: ['/p/q/tests'], origin: '/p/q/handover.yaml:5' });
    expect(s.ccache).toEqual({ value: false, origin: '/p/q/handover.yaml:6' });
    expect(s.kernel).toEqual({ value: 'debian:linux-source-7.3', origin: 'default' });
    expect(s.retries).toEqual({ value: 1, origin: 'default' });
  });

  it('takes typed options over the file; a typed list replaces the file list', async () => {
    const s = await settingsFor(['--jobs', '3', '-r', 'console,ktap', '--config', 'CONFIG_X=y', '-o', 'here', 'chain'], project);
    expect(s.jobs).toEqual({ value: 3, origin: '--jobs' });
    expect(s.reporters).toEqual({ value: ['console', 'ktap'], origin: '--reporter' });
    expect(s.config).toEqual({ value: ['CONFIG_X=y'], origin: '--config' });
    expect(s.output).toEqual({ value: 'here', origin: '--output' });
    expect(s.scenarios).toEqual({ value: ['chain'], origin: 'arguments' });
    expect(s.ccache.origin).toBe('/p/q/handover.yaml:6');
  });

  it('negative control: without a file everything typed or default, nothing from a file', async () => {
    const s = await settingsFor(['--no-ccache', '--build-jobs', '4'], undefined);
    expect(valuesOf(s)).toMatchObject({ ccache: false, build_jobs: 4, jobs: undefined, scenarios: [], output: 'handover-results' });
    expect(Object.values(s).map((v) => v.origin).filter((o) => o.includes('handover.yaml'))).toEqual([]);
    expect(s.ccache.origin).toBe('--no-ccache');
  });

  it('refuses an unknown reporter on the command line (exit 2)', async () => {
    await expect(settingsFor(['-r', 'json,pdf'], project)).rejects.toThrow(/--reporter pdf: expected some of console/);
  });

  it('prints each value with its origin, unset ones as comments', async () => {
    const text = formatSettings(await settingsFor(['--jobs', '3'], project));
    const lines = text.trimEnd().split('\n').map((l) => l.replace(/ {2,}/g, '  '));
    expect(lines).toContain('jobs: 3  # --jobs');
    expect(lines).toContain('reporters: ["json"]  # /p/q/handover.yaml:2');
    expect(lines).toContain('kernel: "debian:linux-source-7.3"  # default');
    expect(lines).toContain('# build_jobs: (unset: the CPU count)  # default');
    expect(lines).toHaveLength(14);
  });
});

describe('handover.schema.json', () => {
  it('is the one generated from the definition the loader uses', async () => {
    const committed: unknown = JSON.parse(await readFile(join(PACKAGE_ROOT, 'handover.schema.json'), 'utf8'));
    expect(committed).toEqual(projectJsonSchema());
  });

  it('accepts what the loader accepts and refuses an unknown key and a wrong type (negative control)', async () => {
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(await readFile(join(PACKAGE_ROOT, 'handover.schema.json'), 'utf8')) as object);
    expect(validate({ kernel: '.', jobs: 2, reporters: ['json'] })).toBe(true);
    expect(validate({ jbos: 2 })).toBe(false);
    expect(validate({ jobs: 'two' })).toBe(false);
  });
});

describe("docs/project.md's example", () => {
  it('loads, and a bad jobs: there gives the diagnostic the page shows', async () => {
    const readme = await readFile(join(PACKAGE_ROOT, 'docs', 'project.md'), 'utf8');
    const section = readme.slice(readme.indexOf('# Project file'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(errors(example)).toEqual([]);
    const shown = /\(`(\.\.\/handover\.yaml:\d+:\d+: error: jobs: [^`]*)`\)/.exec(section)?.[1];
    expect(shown).toBeDefined();
    expect(errors(example.replace(/^jobs: 2/m, 'jobs: two'), '../handover.yaml')).toEqual([shown]);
  });
});

describe('handover.yaml for the other commands (kernel build, boot, series, …)', () => {
  /** `handover ARGV…` run from `cwd` by the real command tree, the action replaced: the options it would get. */
  async function optsOf(path: string[], argv: string[], cwd: string): Promise<Record<string, unknown>> {
    const program = createProgram();
    let cmd = program as ReturnType<typeof createProgram> | undefined;
    for (const name of path) cmd = cmd?.commands.find((c) => c.name() === name);
    if (cmd === undefined) throw new Error(`no command ${path.join(' ')}`);
    let got: Record<string, unknown> = {};
    const target = cmd;
    target.action(() => {
      got = target.opts();
    });
    const back = process.cwd();
    process.chdir(cwd);
    try {
      await program.parseAsync(['node', 'handover', ...path, ...argv]);
    } finally {
      process.chdir(back);
    }
    return got;
  }

  it('kernel build takes the kernel, fragments, profiles and make jobs of the nearest file; what is typed wins', async () => {
    await writeFile(join(dir, 'handover.yaml'), 'kernel: .\nconfig: [extra.config]\nprofiles: [kasan]\nbuild_jobs: 3\njobs: 1\n');
    await mkdir(join(dir, 'sub'));
    const o = await optsOf(['kernel', 'build'], ['--profile', 'debug'], join(dir, 'sub'));
    expect(o).toMatchObject({ config: [join(dir, 'extra.config')], profile: ['debug'], jobs: 3 });
    expect(String(o.kernel)).toContain(dir);
  });

  it('boot takes accel and append too; series its base kernel', async () => {
    await writeFile(join(dir, 'handover.yaml'), 'accel: tcg\nappend: loglevel=7\nkernel: .\n');
    expect(await optsOf(['boot'], [], dir)).toMatchObject({ accel: 'tcg', append: 'loglevel=7' });
    expect(String((await optsOf(['series'], ['x.mbox'], dir)).kernel)).toContain(dir);
  });

  it('a bad value stops them as it stops run (exit 2), and a command with none of the keys does not read the file', async () => {
    await writeFile(join(dir, 'handover.yaml'), 'accel: fast\n');
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true));
    try {
      await expect(optsOf(['boot'], [], dir)).rejects.toMatchObject({ exitCode: 2 });
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.join('')).toMatch(/handover\.yaml:1:8: error: accel/);
    // Control: doctor takes no kernel options, so the same broken file is not its business.
    await expect(optsOf(['doctor'], [], dir)).resolves.toBeDefined();
  });
});
