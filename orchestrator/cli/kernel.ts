import type { Command } from 'commander';
import { buildKernel, createProgress, formatSeconds } from '../index.ts';
import { addKernelOptions, kernelRequest, type KernelOptions } from './options.ts';
import { runCommand } from './run-command.ts';

export function registerKernel(program: Command): void {
  const kernel = program.command('kernel').description('build kernels for KHO/LUO testing');
  addKernelOptions(
    kernel
      .command('build')
      .description('build (or find in the cache) a kernel with the KHO/LUO fragments, verifying every requested symbol'),
  )
    .option('--json', 'print the build result as JSON on stdout')
    .action((opts: KernelOptions & { json?: boolean }) =>
      runCommand(async (signal) => {
        const build = await buildKernel({ ...kernelRequest(opts), progress: createProgress(), signal });
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(build, null, 2)}\n`);
          return 0;
        }
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
        return 0;
      }),
    );
}
