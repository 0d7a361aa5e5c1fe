import { access, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { crossPrefix } from '../host/arch.ts';
import { runTool } from '../host/run-tool.ts';
import { archOf, type KernelBuild } from '../kernel/build.ts';
import { cacheDir } from '../paths.ts';

/** The upstream LUO kselftests (tools/testing/selftests/liveupdate/) handover can run in its guest. */
export const KSELFTESTS = ['liveupdate', 'luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'] as const;
export type Kselftest = (typeof KSELFTESTS)[number];

/**
 * Compiles one kselftest from the tree under test, statically, against that kernel's exported
 * uapi headers (as the selftests' own Makefile would, with glibc), with the compiler of the kernel's
 * architecture (aarch64-linux-gnu-gcc for an arm64 kernel on an x86_64 host); cached per kernel build.
 */
export async function kselftestBinary(kernel: KernelBuild, test: Kselftest): Promise<string> {
  const out = join(await cacheDir('kselftests', kernel.metadata.key), test);
  if (await access(out).then(() => true, () => false)) return out;
  const selftests = join(kernel.metadata.source.dir, 'tools/testing/selftests');
  const dir = join(selftests, 'liveupdate');
  const source = join(dir, `${test}.c`);
  if (!(await access(source).then(() => true, () => false))) {
    throw new HandoverError('step-failed', `this tree has no kselftest ${test} (${source} is missing)`);
  }
  const lib = await helperLibrary(dir);
  const partial = `${out}.partial-${process.pid}`;
  await runTool(
    `${crossPrefix(archOf(kernel.metadata))}gcc`,
    ['-static', '-O2', '-D_GNU_SOURCE', '-Wall', '-Wno-unused-function', '-isystem', kernel.artifacts.headers, '-I', lib.include, '-I', selftests, '-o', partial, source, lib.source],
    { outcome: 'build-failed', what: `compile kselftest ${test}` },
  );
  await rename(partial, out);
  return out;
}

/**
 * The tests' helper library, wherever this tree keeps it: 7.3 has `lib/lu_utils.c` with
 * `lib/include/`, 7.2 a flat `luo_test_utils.c` beside the tests (the same stage interface).
 */
async function helperLibrary(dir: string): Promise<{ source: string; include: string }> {
  const layouts = [
    { source: join(dir, 'lib/lu_utils.c'), include: join(dir, 'lib/include') },
    { source: join(dir, 'luo_test_utils.c'), include: dir },
  ];
  for (const l of layouts) if (await access(l.source).then(() => true, () => false)) return l;
  throw new HandoverError('step-failed', `this tree's LUO kselftests have no helper library handover knows (looked for ${layouts.map((l) => l.source).join(', ')})`);
}
