import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoverError } from '../errors.ts';
import { PACKAGE_ROOT } from '../paths.ts';

export const SUITE_DIR = join(PACKAGE_ROOT, 'scenarios');
/**
 * Shipped but slow (the upstream stress counts): a folder below the suite, so a run of the suite
 * (its *.yaml only) leaves them out, while `handover run many-sessions`, `handover run
 * scenarios/stress` and the full test run (HANDOVER_FULL=1) take them.
 */
export const STRESS_DIR = join(SUITE_DIR, 'stress');

/** The stress scenarios' files. */
export function findStressFiles(): Promise<string[]> {
  return yamlIn(STRESS_DIR);
}

/** Scenario arguments are files, folders of *.yaml, or names of shipped (or stress) scenarios; none = the suite. */
export async function findScenarioFiles(args: readonly string[]): Promise<string[]> {
  if (args.length === 0) return yamlIn(SUITE_DIR);
  const files: string[] = [];
  for (const arg of args) {
    const s = await stat(arg).catch(() => undefined);
    if (s?.isDirectory() === true) files.push(...(await yamlIn(arg)));
    else if (s?.isFile() === true) files.push(arg);
    else {
      const shipped = [join(SUITE_DIR, `${arg}.yaml`), join(STRESS_DIR, `${arg}.yaml`)];
      const found = [];
      for (const f of shipped) if ((await stat(f).catch(() => undefined))?.isFile() === true) found.push(f);
      if (found[0] === undefined) {
        const known = [...(await yamlIn(SUITE_DIR)), ...(await yamlIn(STRESS_DIR))].map((f) => f.slice(f.lastIndexOf('/') + 1, -5));
        throw new HandoverError('usage-error', `scenario '${arg}': no such file, folder or shipped scenario (shipped: ${known.join(', ')})`);
      }
      files.push(found[0]);
    }
  }
  return files;
}

async function yamlIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
}
