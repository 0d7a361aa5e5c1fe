import type { Command } from 'commander';
import { buildKernel } from '../kernel/build.ts';
import { DEFAULT_KERNEL_SPEC } from '../kernel/spec.ts';
import { createProgress, formatSeconds } from '../report/progress.ts';
import { runCommand } from './run-command.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerKernel(program: Command): void {
  const kernel = program.command('kernel').description('build kernels for KHO/LUO testing');
  kernel
    .command('build')
    .description('build (or find in the cache) a kernel with the KHO/LUO fragments, verifying every requested symbol')
    .option('-k, --kernel <spec>', 'debian:linux-source-X.Y[@suite], git:<repo>#<ref>, or a path', DEFAULT_KERNEL_SPEC)
    .option('-c, --config <fragment|CONFIG_X=val>', 'a fragment file or one item, after the built-in ones (repeatable)', collect, [])
    .option('-p, --profile <name>', 'a built-in profile, e.g. debug (repeatable)', collect, [])
    .option('-j, --jobs <n>', 'parallel make jobs (default: CPU count)', (v) => Number.parseInt(v, 10))
    .option('--no-ccache', 'do not use ccache even when installed')
    .option('--json', 'print the build result as JSON on stdout')
    .action((opts: { kernel: string; config: string[]; profile: string[]; jobs?: number; ccache: boolean; json?: boolean }) =>
      runCommand(async (signal) => {
        const build = await buildKernel({
          kernel: opts.kernel,
          config: opts.config,
          profiles: opts.profile,
          ccache: opts.ccache,
          progress: createProgress(),
          signal,
          ...(opts.jobs === undefined ? {} : { jobs: opts.jobs }),
        });
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(build, null, 2)}\n`);
        } else {
          const m = build.metadata;
          const how = build.cacheHit ? `cache hit in ${formatSeconds(build.seconds)}` : `built in ${formatSeconds(build.seconds)}`;
          process.stdout.write(
            [
              `kernel ${m.release}: ${how}`,
              `  source:    ${m.source.describe}`,
              `  config:    ${m.config.requested} requested symbols verified, .config sha256 ${m.config.hash.slice(0, 16)}`,
              `  artifacts: ${build.dir}`,
              `  reproduce: ${m.reproducer}`,
            ].join('\n') + '\n',
          );
        }
        return 0;
      }),
    );
}
