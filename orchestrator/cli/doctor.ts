import { Option, type Command } from 'commander';
import { ARCHES, fixHost, formatChecks, runChecks, type Arch } from '../index.ts';
import { runCommand } from './run-command.ts';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the host: QEMU, kernel build tools, guest packages, disk, accelerator')
    .option('--fix', 'install missing Debian packages (apt-get, when root; otherwise print the command)')
    .option('--json', 'print the checks as JSON')
    .option('--tests', "also what the test suite needs (Chromium for the HTML report's test, the arm64 tools for its arm64 run)")
    .option('--coverage-tools', "also what run --coverage needs (gcov; lcov's genhtml for the HTML view)")
    // Not --arch: that is the kernel option handover.yaml's arch: fills in, and doctor reads no project file.
    .addOption(new Option('--arches <arch...>', 'also what guests of these architectures need (arm64 on x86_64: qemu-system-aarch64 and the cross gcc)').choices([...ARCHES]))
    .action((opts: { fix?: boolean; json?: boolean; tests?: boolean; coverageTools?: boolean; arches?: Arch[] }) =>
      runCommand(async () => {
        const scope = { tests: opts.tests === true, coverage: opts.coverageTools === true, arches: opts.arches ?? [] };
        let checks = await runChecks(scope);
        if (opts.fix === true) checks = await fixHost(checks, (l) => process.stderr.write(`doctor: ${l}\n`), scope);
        const failed = checks.filter((c) => !c.ok && c.required);
        if (opts.json === true) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
        else if (opts.fix !== true || failed.length > 0) process.stdout.write(`${formatChecks(checks)}\n`);
        else process.stdout.write(`doctor: host ready (${checks.length} checks)\n`);
        if (failed.length > 0) {
          process.stderr.write(`doctor: missing: ${failed.map((c) => c.name).join(', ')}; run 'handover doctor --fix'\n`);
          return 5;
        }
        return 0;
      }),
    );
}
