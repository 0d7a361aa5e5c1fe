// A scenario's crash reports decoded with the vmlinux of the kernel each boot ran (kernel A for the
// cold boot, the kexec target after it): one symbolizer call per vmlinux. The verdict is already
// decided; this only adds function, file and line beside the raw lines.

import { dirname } from 'node:path';
import type { KernelBuild } from '../kernel/build.ts';
import { symbolizeReports } from '../kernel/symbolize.ts';
import type { CrashDecoding } from './results.ts';

export interface CrashToDecode {
  title: string;
  boot: number;
  lines: readonly string[];
}

/** Symbolizing must never hold a run up for long: addr2line is killed at this. */
export const DECODE_DEADLINE_MS = 60_000;

export async function decodeCrashes(
  crashes: readonly CrashToDecode[],
  kernelOf: (boot: number) => KernelBuild,
  bannerOf: (boot: number) => string | undefined,
  deadlineMs = DECODE_DEADLINE_MS,
): Promise<CrashDecoding[]> {
  const out: CrashDecoding[] = [];
  const byKernel = new Map<KernelBuild, number[]>();
  crashes.forEach((c, i) => {
    const k = kernelOf(c.boot);
    byKernel.set(k, [...(byKernel.get(k) ?? []), i]);
  });
  for (const [k, idx] of byKernel) {
    const decoded = await symbolizeReports(
      idx.map((i) => ({ lines: (crashes[i] as CrashToDecode).lines, banner: bannerOf((crashes[i] as CrashToDecode).boot) })),
      {
        vmlinux: k.artifacts.vmlinux,
        systemMap: k.artifacts.systemMap,
        // The build tree (the outputDir's parent) is a copy of the source: its paths are the tree's.
        stripPrefixes: [k.metadata.source.dir, k.metadata.make.outputDir, dirname(k.metadata.make.outputDir)],
        buildDir: k.metadata.make.outputDir,
        deadlineMs,
      },
    );
    idx.forEach((i, n) => {
      const c = crashes[i] as CrashToDecode;
      const d = decoded[n];
      if (d !== undefined) out[i] = { title: c.title, boot: c.boot, ...d };
    });
  }
  return out.filter((d) => d !== undefined);
}
