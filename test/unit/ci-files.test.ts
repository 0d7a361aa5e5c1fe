// The drop-in CI files in ci/: valid for GitHub Actions and GitLab CI (their official JSON Schemas,
// vendored in test/fixtures/ci-schemas/), their shell parses, every handover command line in them
// uses options the CLI has, and ci/README.md documents every input.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { createProgram } from '../../orchestrator/cli/program.ts';
import { commandLines, problems } from '../helpers/cli-lines.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CI = join(ROOT, 'ci');
const SCHEMAS = join(ROOT, 'test', 'fixtures', 'ci-schemas');

const GITHUB = ['handover.yml', 'handover-push.yml', 'handover-nightly.yml'].map((f) => join(CI, 'github', f));
const GITLAB = ['handover.gitlab-ci.yml', 'handover-nightly.gitlab-ci.yml'].map((f) => join(CI, 'gitlab', f));

function validator(schemaFile: string) {
  // The schemas use editor keywords (markdownDescription…) and formats ajv does not ship: not errors.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, schemaFile), 'utf8')) as object);
}
const githubSchema = validator('github-workflow.json');
const gitlabSchema = validator('gitlab-ci.json');

function errorsOf(validate: typeof githubSchema, doc: unknown): string[] {
  return validate(doc) ? [] : (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/**
 * The jobs as GitLab runs them: `extends` resolved (hashes merged deeply, everything else
 * replaced), hidden jobs dropped. The schema does not look inside hidden (`.name`) jobs, where the
 * templates keep their substance, so the expanded form is validated too.
 */
function expandExtends(doc: Record<string, unknown>): Record<string, unknown> {
  const isHash = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = isHash(out[k]) && isHash(v) ? merge(out[k], v) : v;
    return out;
  };
  const resolve = (name: string, seen: string[]): Record<string, unknown> => {
    const job = doc[name];
    if (!isHash(job)) throw new Error(`extends names '${name}', which is not a job`);
    if (seen.includes(name)) throw new Error(`extends loop: ${[...seen, name].join(' → ')}`);
    const parents = job.extends === undefined ? [] : Array.isArray(job.extends) ? (job.extends as string[]) : [job.extends as string];
    const { extends: _, ...own } = job;
    return merge(parents.reduce<Record<string, unknown>>((acc, p) => merge(acc, resolve(p, [...seen, name])), {}), own);
  };
  return Object.fromEntries(Object.keys(doc).filter((k) => !k.startsWith('.')).map((k) => [k, isHash(doc[k]) && 'extends' in (doc[k] as object) ? resolve(k, []) : doc[k]]));
}

const read = (f: string) => readFileSync(f, 'utf8');
const docOf = (f: string): unknown => parse(read(f));



function ciFiles(dir = CI): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? ciFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The shell of every step: GitHub `run:` and GitLab script arrays, with ${{ }} expressions filled in. */
function scripts(doc: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string) => {
    if (typeof v === 'string' && key === 'run') out.push(v);
    else if (Array.isArray(v) && /^(before_script|script|after_script)$/.test(key)) out.push(v.map(String).join('\n'));
    else if (Array.isArray(v)) for (const x of v) walk(x, '');
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(doc, '');
  return out.map((s) => s.replace(/\$\{\{[^}]*\}\}/g, 'X'));
}

describe('CI files against the CI systems’ schemas', () => {
  it.each(GITHUB.map((f) => [relative(ROOT, f), f]))('%s is a valid GitHub Actions workflow', (_name, file) => {
    expect(errorsOf(githubSchema, docOf(file))).toEqual([]);
  });

  it.each(GITLAB.map((f) => [relative(ROOT, f), f]))('%s is valid GitLab CI', (_name, file) => {
    const docs = parseAllDocuments(read(file));
    expect(docs).toHaveLength(1);
    expect(errorsOf(gitlabSchema, docs[0]?.toJS())).toEqual([]);
  });

  it('the GitLab jobs with their templates resolved (both files included) are valid GitLab CI', () => {
    const both = expandExtends(Object.assign({}, ...GITLAB.map((f) => docOf(f) as object)) as Record<string, unknown>);
    expect(Object.keys(both).filter((k) => k.startsWith('handover:')).sort()).toEqual([
      'handover:nightly:fuzz',
      'handover:nightly:kasan:report',
      'handover:nightly:kasan:test',
      'handover:nightly:report',
      'handover:nightly:test',
      'handover:report',
      'handover:test',
    ]);
    expect(errorsOf(gitlabSchema, both)).toEqual([]);
    expect(both['handover:nightly:test']).toMatchObject({ parallel: 2, stage: 'test', image: '$HANDOVER_IMAGE', artifacts: { reports: { junit: '$HANDOVER_RESULTS/shard-*/junit.xml' } } });
    // The nightly KASAN kernel: its own profile, results folder, build cache and history.
    expect(both['handover:nightly:kasan:test']).toMatchObject({ variables: { HANDOVER_PROFILES: 'kasan', HANDOVER_RESULTS: 'handover-results-kasan' }, timeout: '5h' });
    expect(both['handover:nightly:kasan:report']).toMatchObject({ variables: { HANDOVER_RESULTS: 'handover-results-kasan' }, artifacts: { expose_as: 'handover kasan report', paths: ['$HANDOVER_RESULTS/'] } });
    expect(JSON.stringify(both['handover:nightly:kasan:report'])).toContain('--history .handover/history');
  });

  it('rejects broken copies (the lint can fail)', () => {
    const wf = docOf(GITHUB[0] as string) as { jobs: Record<string, Record<string, unknown>> };
    const test = wf.jobs.test as Record<string, unknown>;
    test['run-on'] = test['runs-on'];
    delete test['runs-on'];
    expect(errorsOf(githubSchema, wf).join('\n')).toMatch(/\/jobs\/test/);
    const noTrigger = docOf(GITHUB[1] as string) as Record<string, unknown>;
    delete noTrigger.on;
    expect(errorsOf(githubSchema, noTrigger).join('\n')).toMatch(/required property 'on'/);

    const gl = docOf(GITLAB[0] as string) as Record<string, Record<string, unknown>>;
    (gl['.handover:test'] as Record<string, unknown>).parallel = 0;
    expect(errorsOf(gitlabSchema, gl)).toEqual([]);
    expect(errorsOf(gitlabSchema, expandExtends(gl)).join('\n')).toMatch(/\/handover:test\/parallel/);
    const gl2 = docOf(GITLAB[0] as string) as Record<string, Record<string, unknown>>;
    (gl2['handover:report'] as Record<string, unknown>).when = 'sometimes';
    expect(errorsOf(gitlabSchema, gl2)).not.toEqual([]);
  });
});

describe('what the CI files run', () => {
  const cli = createProgram();
  const lines = ciFiles()
    .filter((f) => /\.(ya?ml|sh)$/.test(f))
    .flatMap((f) => commandLines(read(f), relative(ROOT, f)));

  it('every handover command line uses commands and options the CLI has', () => {
    // doctor --fix, run (run-shard.sh), merge-reports (GitHub and GitLab).
    expect(lines.map((l) => l.command).sort()).toEqual(expect.arrayContaining(['doctor', 'run', 'merge-reports']));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const run = lines.find((l) => l.command === 'run');
    expect(run?.options).toEqual(expect.arrayContaining(['--kernel', '--config', '--profile', '--shard', '--jobs', '--reporter', '--output']));
    // A shard is part of the suite: the nightly comparison is made on the merged results only.
    expect(run?.options).not.toContain('--baseline');
    expect(lines.filter((l) => l.command === 'merge-reports').some((l) => l.options.includes('--baseline') && l.options.includes('--history'))).toBe(true);
    expect(run?.reporters).toEqual(['console', 'junit', 'json', 'ktap', 'html']);
    // The merged report too: merge-reports writes what -r names.
    for (const merge of lines.filter((l) => l.command === 'merge-reports')) expect(merge.reporters).toContain('html');
    expect(lines.flatMap((l) => problems(cli, l))).toEqual([]);
  });

  it('the check catches an option or a command the CLI does not have', () => {
    const bad = commandLines('node "$HANDOVER_BIN" run --shrad 1/2 -r console,pdf\nnode bin/handover.js frobnicate --x\n', 'bad.yml');
    expect(bad.flatMap((l) => problems(cli, l))).toEqual(["bad.yml:1: run has no option --shrad", "bad.yml:1: no reporter 'pdf'", "bad.yml:2: no command 'frobnicate'"]);
  });

  it('the shell of every step parses (bash -n)', async () => {
    const bodies = [...[...GITHUB, ...GITLAB].flatMap((f) => scripts(docOf(f))), read(join(CI, 'scripts', 'run-shard.sh')), read(join(CI, 'scripts', 'setup.sh'))];
    expect(bodies.length).toBeGreaterThan(15);
    for (const body of bodies) {
      const r = await execa('bash', ['-n'], { input: body, reject: false });
      expect(r.stderr, body).toBe('');
      expect(r.exitCode).toBe(0);
    }
  });

  it('ci/README.md documents every input and variable', () => {
    const readme = read(join(CI, 'README.md'));
    const wf = docOf(GITHUB[0] as string) as { on: { workflow_call: { inputs: Record<string, unknown> } } };
    for (const input of Object.keys(wf.on.workflow_call.inputs)) expect(readme, input).toContain(`\`${input}\``);
    const vars = new Set([...ciFiles().flatMap((f) => [...read(f).matchAll(/\bHANDOVER_[A-Z_]+/g)].map((m) => m[0]))]);
    for (const v of vars) expect(readme, v).toContain(v);
  });
});
