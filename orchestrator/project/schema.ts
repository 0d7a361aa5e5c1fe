import { z } from 'zod';
import { ARCHES } from '../host/arch.ts';
import { PROFILES } from '../kernel/fragments.ts';
import { parseKernelSpec } from '../kernel/spec.ts';
import { REPORTERS } from '../report/write-reports.ts';

// handover.yaml: what a project (a kernel tree, a driver repository) wants `handover run` to do
// without spelling it out on every command line. One definition gives the type, the validation
// and the JSON Schema published as handover.schema.json. Keys are the long options of `run`,
// snake_case like scenario fields; relative paths are relative to the file.

const positive = z.number().int().positive();

export const ProjectFileSchema = z
  .strictObject({
    kernel: z
      .string()
      .min(1)
      .refine(isKernelSpec, 'expected a kernel spec: debian:linux-source-X.Y[@suite], git:<repository>#<ref>, or a path')
      .describe('the kernel under test (--kernel); a path (., ../linux, path:dir) is relative to this file'),
    arch: z.enum(ARCHES as [string, ...string[]]).describe("the guest architecture (--arch; default: the host's)"),
    config: z
      .array(z.string().min(1))
      .describe('fragment files (relative to this file) or CONFIG_X=val items, after the built-in fragments (--config)'),
    profiles: z.array(z.enum(Object.keys(PROFILES) as [string, ...string[]])).describe('built-in profiles (--profile)'),
    accel: z.enum(['auto', 'kvm', 'tcg']).describe('accelerator (--accel)'),
    scenarios: z
      .array(z.string().min(1))
      .min(1)
      .describe('scenario files or folders of *.yaml, relative to this file, run instead of the shipped suite ([scenario...])'),
    reporters: z.array(z.enum(REPORTERS)).min(1).describe('reporters (--reporter)'),
    output: z.string().min(1).describe('where results and artifacts go, relative to this file (--output)'),
    jobs: positive.describe('VMs at once (--jobs; default: the CPU count)'),
    build_jobs: positive.describe("make's parallel jobs (--build-jobs; default: the CPU count)"),
    ccache: z.boolean().describe('use ccache when installed (false = --no-ccache)'),
    retries: z.number().int().nonnegative().describe('extra attempts after an infrastructure error (--retries)'),
    append: z.string().describe('extra kernel command line for every boot (--append)'),
    kexec_append: z.string().describe("extra command line for the kexec'd kernels only (--kexec-append)"),
  })
  .partial();

export type ProjectSettings = z.output<typeof ProjectFileSchema>;
export type ProjectKey = keyof ProjectSettings;
export const PROJECT_KEYS = Object.keys(ProjectFileSchema.shape) as ProjectKey[];

function isKernelSpec(text: string): boolean {
  try {
    parseKernelSpec(text, 'kernel');
    return true;
  } catch {
    return false;
  }
}

export function projectJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ProjectFileSchema, { io: 'input', target: 'draft-2020-12' });
}
