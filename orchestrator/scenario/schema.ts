import { z } from 'zod';
import { ARCHES, type Arch } from '../host/arch.ts';
import { parseKernelSpec } from '../kernel/spec.ts';
import { PROFILES } from '../kernel/fragments.ts';
import { REQUIREMENTS } from '../kho/caps.ts';
import { PROMISE_IDS } from './contract.ts';
import { debugfsPathProblem, KHO_PATH_PATTERN } from './debugfs-path.ts';
import { KSELFTESTS } from './kselftest.ts';

// One definition gives the TypeScript types, the validation of scenario files, and the JSON
// Schema published as scenarios/scenario.schema.json for editors. Steps are single-key objects
// (`- kexec: {}`); each kind has its own strict schema so errors name the exact field.

const name = z.string().min(1).describe('a name used to refer to this thing in later steps');
/** Byte sizes: a number, "4K"/"2M"/"1G", or a share of guest memory such as "25%". */
const size = z
  .union([z.number().int().positive(), z.string().regex(/^(\d+(\.\d+)?)([KMG]|%)?$/, 'expected bytes, 4K, 2M, 1G or a percentage of guest memory like 25%')])
  .describe('bytes, or 4K / 2M / 1G, or a share of guest memory like "25%"');
const errno = z.string().regex(/^E[A-Z0-9]+$/, 'expected an errno name such as EEXIST').describe('an errno name, e.g. EEXIST');
const token = z.number().int().nonnegative().describe('the u64 token a file is preserved under');
const seal = z.enum(['seal', 'shrink', 'grow', 'write', 'future-write', 'exec']);

/** A JavaScript regular expression, checked when the file is loaded. */
const regex = z
  .string()
  .min(1)
  .refine((v) => {
    try {
      new RegExp(v);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

/**
 * A known kernel bug on this step: it names the failure it expects, so any other failure of the
 * step still fails (a blanket xfail would hide a new bug behind an old one).
 */
export const Xfail = z
  .strictObject({
    reason: z.string().min(1).describe('the known bug, for the reports (where it is tracked, which kernels)'),
    match: regex.describe("a regular expression the step's failure message must match; any other failure fails the step"),
    strict: z.boolean().optional().describe('an XPASS (the step passed) fails the scenario, as with --strict-xfail'),
  })
  .describe('a known kernel bug: a failure matching `match` is reported as XFAIL (the scenario goes on), a pass as XPASS');

/** An expected error: the errno, and optionally the call that must give it. */
export const ExpectError = z.union([
  errno,
  z.strictObject({
    errno,
    call: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_()/.-]*$/)
      .optional()
      .describe("the kernel call that must fail, as the agent names it: an ioctl (RETRIEVE_SESSION, PRESERVE_FD, …) or a syscall (open, memfd_create, …)"),
  }),
]);

/** Fields every step may carry. */
const common = {
  name: z.string().optional().describe('shown in reports instead of the step kind'),
  timeout: z.number().positive().optional().describe('seconds before the step fails (default per kind)'),
  expect_error: ExpectError.optional().describe(
    "the step must fail with this errno, given by the kernel (never by the agent's own bookkeeping) in the step's call or the one named",
  ),
  xfail: Xfail.optional(),
  promise: z
    .union([z.enum(PROMISE_IDS), z.array(z.enum(PROMISE_IDS)).min(1)])
    .optional()
    .describe('the promise(s) of the LUO/memfd contract this step checks (orchestrator/scenario/contract.ts); results.json and the README table are built from them'),
  requires: z
    .array(z.enum(REQUIREMENTS))
    .min(1)
    .optional()
    .describe('capabilities of the running kernel this step needs (probed again after each kexec); when one is missing the step is skipped with the reason, never passed'),
};

const step = <K extends string, T extends z.ZodType>(kind: K, body: T, description: string) =>
  z.strictObject({ [kind]: body.describe(description), ...common } as { [P in K]: T } & typeof common);

export const STEP_SCHEMAS = {
  exec: step(
    'exec',
    z.union([
      z.array(z.string()).min(1),
      z.strictObject({
        argv: z.array(z.string()).min(1),
        expect_exit: z.number().int().optional(),
        stdout_contains: z.string().optional(),
      }),
    ]),
    'run a command in the guest (argv, never a shell string); fails on a non-zero exit unless expect_exit says otherwise',
  ),
  open_liveupdate: step(
    'open_liveupdate',
    z.strictObject({}),
    'start the holder, which opens /dev/liveupdate (other LUO steps do it on first use); with expect_error, LUO must refuse',
  ),
  create_session: step('create_session', name, 'LIVEUPDATE_IOCTL_CREATE_SESSION with this name'),
  memfd: step(
    'memfd',
    z.strictObject({
      id: name,
      size,
      seed: z.number().int().nonnegative().optional(),
      sparse: z.boolean().optional().describe('write only some pages, leaving holes'),
      seals: z.array(seal).optional(),
      pos: z.number().int().nonnegative().optional().describe('the file position to leave it at; retrieve then verifies it'),
      holes: z
        .array(z.union([z.enum(['start', 'middle', 'end']), z.strictObject({ offset: z.number().int().nonnegative(), length: z.number().int().positive() })]))
        .min(1)
        .optional()
        .describe('ranges punched out after the fill (start: the first page, middle: the middle page, end: the last page up to EOF, or {offset, length}); they must come back as zeros'),
      noexec: z.boolean().optional().describe('MFD_NOEXEC_SEAL: the memfd starts with F_SEAL_EXEC'),
    }),
    'create a memfd filled deterministically from a seed; its size, SHA-256, seals (and pos) are remembered for retrieve',
  ),
  preserve: step(
    'preserve',
    z.union([
      z.strictObject({ session: name, token, memfd: name }),
      z.strictObject({ session: name, token, path: z.string().describe('a file to try to preserve (for error checks)') }),
    ]),
    'LIVEUPDATE_SESSION_PRESERVE_FD',
  ),
  close_session: step('close_session', name, 'close an outgoing session: its files are no longer preserved'),
  write_memfd: step(
    'write_memfd',
    z.strictObject({ id: name, offset: z.number().int().nonnegative().default(0), data: z.string().min(1) }),
    'change a memfd behind the check (a negative control: retrieve must then see a hash mismatch)',
  ),
  kill_holder: step('kill_holder', z.strictObject({}), 'the process holding /dev/liveupdate and the session fds exits (and the holders `hold` started are killed)'),
  hold: step(
    'hold',
    z.strictObject({
      session: name,
      mode: z.enum(['fork', 'scm-rights', 'exec']).describe('fork: a forked child keeps the fd; scm-rights: a child gets it over a unix socket; exec: a forked child keeping it exec()s (session fds are O_CLOEXEC)'),
    }),
    'hand an outgoing session to another process, then close the agent\'s own fd: whatever that process holds at the kexec is what arrives',
  ),
  kexec_load: step(
    'kexec_load',
    z.strictObject({ syscall: z.enum(['file', 'legacy']).default('file') }),
    'load the kexec image now (kexec_file_load; legacy = kexec_load, which bypasses KHO)',
  ),
  kexec: step(
    'kexec',
    z.strictObject({
      syscall: z.enum(['file', 'legacy']).optional(),
      count: z.number().int().min(1).default(1),
      handover: z
        .boolean()
        .default(true)
        .describe('the new kernel must show that the handover arrived (KHO data found, the live update number one up); false: it must show none'),
    }),
    'kexec into the same kernel (loading it first unless kexec_load did), wait for the new boot, prove the handover arrived, log back in',
  ),
  retrieve: step(
    'retrieve',
    z.strictObject({
      session: name,
      tokens: z.record(z.string().regex(/^\d+$/), name).describe('token → memfd id to verify it against'),
      finish: z.boolean().default(true),
      seals: z
        .record(name, z.array(seal))
        .optional()
        .describe('memfd id → the seals it must come back with, when the kernel is known to change them (the F_SEAL_EXEC widening); default the seals it was created with'),
    }),
    'after a kexec: RETRIEVE_SESSION, RETRIEVE_FD for each token, verify size, SHA-256 and seals, then FINISH',
  ),
  session_absent: step('session_absent', name, 'after a kexec: RETRIEVE_SESSION must fail with ENOENT'),
  finish: step('finish', z.strictObject({ session: name, reserved: z.number().int().default(0) }), 'LIVEUPDATE_SESSION_FINISH'),
  agent: step(
    'agent',
    z.looseObject({
      op: z.string().min(1),
      expect: z
        .record(z.string(), z.unknown())
        .optional()
        .describe('fields the reply must carry with exactly these values (not sent to the agent); a field the reply lacks fails the step'),
    }),
    'a raw guest-agent request, for checks the other steps do not cover',
  ),
  memory: step(
    'memory',
    z
      .union([
        z.strictObject({ mark: name.describe('a name for this measurement, for later `since:`') }),
        z
          .strictObject({
            since: z.string().min(1).describe('an earlier `mark:` (of this boot or an earlier one)'),
            reserved_max: size.optional().describe('KHO may hold at most this much more than at the mark: preserved pages not yet restored are missing from MemTotal'),
            reserved_min: size.optional().describe('KHO must hold at least this much more than at the mark (the measure sees what is preserved)'),
            shmem_max_growth: size.optional().describe('Shmem (memfd pages) may be at most this much above the mark'),
            memfree_max_loss: size.optional().describe('MemFree may be at most this much below the mark'),
            shmem_huge_min: size.optional().describe('ShmemHugePages (Shmem in PMD-sized folios, shmem THP) must be at least this much above the mark'),
          })
          // A comparison without a bound would pass without looking at anything.
          .refine((m) => Object.keys(m).length > 1, 'give at least one of reserved_max, reserved_min, shmem_max_growth, memfree_max_loss, shmem_huge_min')
          .meta({
            anyOf: [{ required: ['reserved_max'] }, { required: ['reserved_min'] }, { required: ['shmem_max_growth'] }, { required: ['memfree_max_loss'] }, { required: ['shmem_huge_min'] }],
          }),
      ]),
    "the guest's memory accounting (/proc/meminfo after dropping caches): record it under a name, or compare it with an earlier record",
  ),
  bulk_preserve: step(
    'bulk_preserve',
    z.strictObject({
      id: name.describe('the set, and its sessions\' name prefix ("<id>0", "<id>1", …)'),
      sessions: z.number().int().min(1).max(100000),
      files: z.number().int().min(0).max(100000).default(1).describe('memfds per session'),
      size: size.default(4096).describe('bytes per memfd (at most 1M)'),
      seed: z.number().int().nonnegative().default(1),
    }),
    'create sessions and memfds and preserve them all in one agent request (RLIMIT_NOFILE raised as needed); the time is reported',
  ),
  bulk_retrieve: step('bulk_retrieve', name, 'after a kexec: retrieve every session and memfd of a bulk_preserve set, compare each with what was preserved, FINISH; the time is reported'),
  kselftest: step(
    'kselftest',
    z.strictObject({ test: z.enum(KSELFTESTS), stage: z.union([z.literal(1), z.literal(2)]).optional() }),
    'an upstream LUO kselftest, built from the tree under test, run in the guest; its KTAP output becomes the result (stage 1 before a kexec, stage 2 after)',
  ),
  debugfs: step(
    'debugfs',
    z.strictObject({
      path: z
        .string()
        .superRefine((path, ctx) => {
          const problem = debugfsPathProblem(path);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        })
        .meta({ pattern: KHO_PATH_PATTERN })
        .describe('below /sys/kernel/debug, e.g. kho/out/fdt'),
      exists: z.boolean().default(true),
      fdt_header: z.boolean().optional().describe('starts with a valid FDT header (magic d00dfeed, version, block layout)'),
      fdt_compatible: z.string().optional().describe('the whole blob is a valid FDT whose root compatible matches, * as a wildcard: "kho-v*"'),
      fdt_property: z
        .strictObject({
          node: z.string().min(1).describe('path in the FDT, e.g. / or /LUO'),
          name: z.string().min(1),
          u64: z.number().int().nonnegative().optional().describe('the value as a native-endian (little-endian on x86_64) u64, as KHO stores it'),
          string: z.string().optional(),
        })
        .optional()
        .describe('the whole blob is a valid FDT with this property (and value)'),
      luo_state: z
        .strictObject({
          compatible: z.string().optional().describe('the state\'s compatible, * as a wildcard: "luo-v*"'),
          liveupdate_number: z.number().int().nonnegative().optional(),
        })
        .optional()
        .describe("the whole blob is LUO's state (a raw struct luo_ser, or the FDT of kernels before 7.2) with this compatible and live update number"),
      min_size: z.number().int().nonnegative().optional(),
      max_size: z.number().int().nonnegative().optional(),
    }),
    'check a KHO debugfs entry: present or absent, FDT header, compatible, property, LUO state, size',
  ),
  log: step(
    'log',
    z
      .strictObject({
        contains: regex.optional(),
        absent: regex.optional(),
        boot: z.enum(['current', 'all']).default('current'),
      })
      // An empty log step would pass without looking at anything.
      .refine((l) => l.contains !== undefined || l.absent !== undefined, 'give contains, absent or both')
      .meta({ anyOf: [{ required: ['contains'] }, { required: ['absent'] }] }),
    'the kernel log (serial console) of the current boot, or of all boots, must contain / must not contain a line matching this regular expression',
  ),
  mutate_memfd: step(
    'mutate_memfd',
    z.strictObject({
      id: name,
      op: z.enum(['ftruncate', 'write-past-eof', 'fallocate', 'punch-hole', 'write', 'mmap-write']),
      offset: z.number().int().nonnegative().default(0).describe('ftruncate: the new size; fallocate, punch-hole, write, mmap-write: where'),
      length: z.number().int().positive().optional().describe('fallocate, punch-hole: how many bytes (default a page)'),
      data: z.string().min(1).optional().describe('write, mmap-write: the bytes (within the size)'),
    }),
    'change a memfd the way a program would (a frozen preserved memfd must refuse the size-changing ones with EPERM); a write that succeeds is recorded, so retrieve expects the new contents',
  ),
} as const;

export type StepKind = keyof typeof STEP_SCHEMAS;
export const STEP_KINDS = Object.keys(STEP_SCHEMAS) as StepKind[];
export type Step = { [K in StepKind]: z.output<(typeof STEP_SCHEMAS)[K]> & { kind: K } }[StepKind];

export const CAPABILITIES = REQUIREMENTS;

export const ScenarioHeader = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case words joined by -').optional().describe('default: the file name'),
  description: z.string().min(1),
  kernel: z
    .strictObject({
      profile: z.array(z.enum(Object.keys(PROFILES) as [string, ...string[]])).optional(),
      config: z.array(z.string().regex(/^CONFIG_[A-Za-z0-9_]+=.+$/)).optional(),
    })
    .optional()
    .describe('fragments on top of the kernel under test'),
  boot: z
    .strictObject({
      append: z.string().optional(),
      memory: z.number().int().min(256).optional().describe('MiB'),
      cpus: z.number().int().min(1).optional(),
    })
    .optional(),
  requires: z.array(z.enum(CAPABILITIES)).optional().describe('skip, with the reason, when the kernel lacks one (probed on the first boot)'),
  arch: z
    .array(z.enum(ARCHES as [Arch, ...Arch[]]))
    .min(1)
    .optional()
    .describe('the architectures the scenario makes sense on; on another one it is skipped with the reason (default: every one)'),
  kexec_into: z
    .string()
    .min(1)
    .refine(isKernelSpec, 'expected a kernel spec: debian:linux-source-X.Y[@suite], git:<repository>#<ref>, or a path')
    .optional()
    .describe('a kernel spec (like --kernel) to kexec into: kernel B, built with the same profiles and config as the kernel under test; --kexec-into wins'),
  timeout: z.number().positive().optional().describe('seconds for the whole scenario (default 300)'),
  steps: z.array(z.unknown()).min(1),
});

/** The file as written: the header plus the union of every step kind (for the published schema). */
export const ScenarioFile = ScenarioHeader.extend({
  steps: z.array(z.union(Object.values(STEP_SCHEMAS) as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]])).min(1),
});

function isKernelSpec(text: string): boolean {
  try {
    parseKernelSpec(text, 'kexec_into');
    return true;
  } catch {
    return false;
  }
}

export type ScenarioHeaderT = z.output<typeof ScenarioHeader>;

export function scenarioJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ScenarioFile, { io: 'input', target: 'draft-2020-12' });
}
