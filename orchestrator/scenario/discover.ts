import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { PACKAGE_ROOT } from '../paths.ts';

export const SUITE_DIR = join(PACKAGE_ROOT, 'scenarios');

/** Scenario arguments are files, folders of *.yaml, or names of shipped scenarios; none = the suite. */
export async function findScenarioFiles(args: readonly string[]): Promise<string[]> {
  if (args.length === 0) return yamlIn(SUITE_DIR);
  const files: string[] = [];
  for (const arg of args) {
    const s = await stat(arg).catch(() => undefined);
    if (s?.isDirectory() === true) files.push(...(await yamlIn(arg)));
    else if (s?.isFile() === true) files.push(arg);
    else {
      const shipped = join(SUITE_DIR, `${arg}.yaml`);
      if ((await stat(shipped).catch(() => undefined))?.isFile() !== true) {
        const known = (await yamlIn(SUITE_DIR)).map((f) => f.slice(SUITE_DIR.length + 1, -5));
        throw new HandoverError('usage-error', `scenario '${arg}': no such file, folder or shipped scenario (shipped: ${known.join(', ')})`);
      }
      files.push(shipped);
    }
  }
  return files;
}

async function yamlIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
}
