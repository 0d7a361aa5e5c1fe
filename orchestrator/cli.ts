import { Command } from 'commander';

const program = new Command('handover');
program.description('Prove Kexec HandOver and Live Update work, on a real kernel, in a real VM.');
await program.parseAsync(process.argv);
