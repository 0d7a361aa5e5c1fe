#!/usr/bin/env node
// Records what real runs of the shipped scenarios found of the contract, for the README table:
//   node bench/record-contract.mjs handover-results/results.json [more results.json of the same kernel…]
// writes test/fixtures/contract/<kernel release>[-<profiles>].json (then update the README table:
// the contract-table unit test prints the expected text). Several runs of one kernel (the suite,
// then scenarios/stress) are merged: a promise's status comes from the checks of every run, by the
// rule a single run uses (contractStatus).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contractStatus } from '../dist/index.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: record-contract.mjs RESULTS_JSON [RESULTS_JSON…]');
  process.exit(2);
}
const runs = files.map((file) => {
  const run = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(run.contract)) {
    console.error(`${file}: no "contract" (a results.json of handover run from before the contract was recorded?)`);
    process.exit(2);
  }
  return run;
});
const kernelOf = (run) => [run.kernel.release.replace(/[-+].*$/, ''), ...(run.kernel.profiles ?? [])];
const [release, ...profiles] = kernelOf(runs[0]);
const odd = runs.find((r) => kernelOf(r).join('-') !== [release, ...profiles].join('-'));
if (odd !== undefined) {
  console.error(`the runs are of different kernels (${[release, ...profiles].join(' ')} and ${kernelOf(odd).join(' ')}): record each kernel on its own`);
  process.exit(2);
}
const ids = runs[0].contract.map((c) => c.id);
const out = {
  release,
  ...(profiles.length === 0 ? {} : { profiles }),
  from: runs.map((run) => `handover run (${run.scenarios.length} scenarios, ${run.kernel.spec}, ${run.kernel.release}) at ${run.startedAt}`).join('; '),
  statuses: Object.fromEntries(ids.map((id) => [id, contractStatus(runs.flatMap((r) => r.contract.find((c) => c.id === id)?.checks ?? []))])),
};
const dest = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'contract', `${[release, ...profiles].join('-')}.json`);
writeFileSync(dest, `${JSON.stringify(out, null, 2)}\n`);
console.log(`${dest}: ${Object.keys(out.statuses).length} promises`);
