import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { buildKernel, createProgress, formatSeconds, HandoverError, type Machine, startMachine, writeSshAccess } from '../index.ts';
import { addKernelOptions, addMachineOptions, kernelRequest, positiveInt, type KernelOptions, type MachineCliOptions } from './options.ts';
import { runCommand } from './run-command.ts';

type Opts = KernelOptions & MachineCliOptions;

/** Builds (or finds) the kernel, boots it and logs in, with progress on stderr. */
async function bootFromCli(opts: Opts, signal: AbortSignal, extraAppend = '', interactiveConsole = false): Promise<Machine> {
  const progress = createProgress();
  const kernel = await buildKernel({ ...kernelRequest(opts), progress, signal });
  const machine = await startMachine({
    kernel,
    accel: opts.accel,
    memoryMiB: opts.memory,
    cpus: opts.cpus,
    progress,
    signal,
    append: [opts.append ?? '', extraAppend].join(' ').trim(),
    interactiveConsole,
  });
  progress.info(describeBoot(machine));
  return machine;
}

function describeBoot(m: Machine): string {
  const a = m.vm.accel;
  const accel = `${a.accel} (${a.reason})`;
  return `guest up in ${formatSeconds(m.timings.sshMs / 1000)} under ${accel}`;
}

/** A kernel crash seen on the console explains a dropped SSH session better than the drop itself. */
function crashOr(m: Machine, err: unknown): unknown {
  const crash = m.vm.crashes[0];
  if (crash === undefined) return err;
  return new HandoverError('kernel-crash', `the guest kernel crashed: ${crash.title}`, {
    evidence: crash.excerpt,
    artifacts: { console: m.vm.consoleLog },
  });
}

export function registerMachine(program: Command): void {
  addMachineOptions(addKernelOptions(program.command('boot').description('boot a guest and keep it up until Ctrl-C; prints how to connect'))).action(
    (opts: Opts) =>
      runCommand(async (signal) => {
        await using m = await bootFromCli(opts, signal);
        const ssh = await writeSshAccess(m.dir, m.keys, m.vm.sshPort);
        process.stdout.write(
          `${describeBoot(m)}\n  ssh:     ${ssh}\n  console: ${m.vm.consoleLog}\nCtrl-C to stop.\n`,
        );
        const exit = m.vm.waitForExit({ deadlineMs: 2 ** 31 - 1 });
        const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        await Promise.race([exit, stopped]);
        if (m.vm.crashes.length > 0) throw crashOr(m, undefined);
        return 0;
      }),
  );

  addMachineOptions(addKernelOptions(program.command('exec').description('run one command in a fresh guest; exits with its exit code')))
    .option('-t, --timeout <seconds>', 'fail the command after this long', positiveInt, 600)
    .argument('<command...>', 'the command and its arguments (after --)')
    .action((command: string[], opts: Opts & { timeout: number }) =>
      runCommand(async (signal) => {
        await using m = await bootFromCli(opts, signal);
        const r = await m.guest.exec(command, { timeoutMs: opts.timeout * 1000 }).catch((err: unknown) => {
          throw crashOr(m, err);
        });
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        if (m.vm.crashes.length > 0) throw crashOr(m, undefined);
        if (r.exitCode === null) {
          throw new HandoverError('step-failed', `${command.join(' ')}: killed by ${r.signal ?? 'a signal'}`);
        }
        return r.exitCode;
      }),
    );

  addMachineOptions(addKernelOptions(program.command('shell').description('boot a guest and open an interactive shell in it'))).action((opts: Opts) =>
    runCommand(async (signal) => {
      await using m = await bootFromCli(opts, signal);
      process.stderr.write(`exit the shell to stop it\n`);
      const stdin = process.stdin;
      const stdout = process.stdout;
      const channel = await m.guest.openShell({ rows: stdout.rows || 24, cols: stdout.columns || 80, term: process.env.TERM ?? 'vt100' });
      if (stdin.isTTY) stdin.setRawMode(true);
      const resize = () => channel.setWindow(stdout.rows || 24, stdout.columns || 80, 0, 0);
      stdout.on('resize', resize);
      stdin.pipe(channel);
      channel.pipe(stdout);
      const code = await new Promise<number>((resolve) => {
        channel.on('exit', (c: number | null) => resolve(c ?? 0));
        channel.on('close', () => resolve(0));
        signal.addEventListener('abort', () => resolve(130), { once: true });
      });
      stdin.unpipe(channel);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdout.off('resize', resize);
      return code;
    }),
  );
}

/** Ctrl-] detaches from the console, as in telnet. */
const DETACH = 0x1d;

export function registerConsole(program: Command): void {
  addMachineOptions(addKernelOptions(program.command('console').description('boot a guest and attach to its serial console (Ctrl-] to stop)'))).action(
    (opts: Opts) =>
      runCommand(async (signal) => {
        await using m = await bootFromCli(opts, signal, 'handover.console=shell', true);
        const stdin = process.stdin;
        process.stderr.write('serial console attached; Ctrl-] stops the guest\r\n');
        process.stdout.write(await readFile(m.vm.consoleLog));
        const off = m.vm.onConsoleData((b) => process.stdout.write(b));
        if (stdin.isTTY) stdin.setRawMode(true);
        const detached = new Promise<number>((resolve) => {
          stdin.on('data', (b: Buffer) => {
            const at = b.indexOf(DETACH);
            if (at >= 0) {
              if (at > 0) m.vm.writeConsole(b.subarray(0, at));
              resolve(0);
            } else {
              m.vm.writeConsole(b);
            }
          });
          stdin.on('end', () => resolve(0));
          signal.addEventListener('abort', () => resolve(130), { once: true });
        });
        m.vm.writeConsole('\n');
        const code = await Promise.race([detached, m.vm.waitForExit({ deadlineMs: 2 ** 31 - 1 }).then(() => 0)]);
        off();
        if (stdin.isTTY) stdin.setRawMode(false);
        stdin.pause();
        return code;
      }),
  );
}
