#!/usr/bin/env node
// Records what a real run of the whole shipped suite found of the contract, for the README table:
//   node bench/record-contract.mjs handover-results/results.json
// writes test/fixtures/contract/<kernel release>[-<profiles>].json (then update the README table: the
// contract-table unit test prints the expected text).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [file] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: record-contract.mjs RESULTS_JSON');
  process.exit(2);
}
const run = JSON.parse(readFileSync(file, 'utf8'));
if (!Array.isArray(run.contract)) {
  console.error(`${file}: no "contract" (a results.json of handover run from before the contract was recorded?)`);
  process.exit(2);
}
const release = run.kernel.release.replace(/[-+].*$/, '');
const profiles = run.kernel.profiles ?? [];
const out = {
  release,
  ...(profiles.length === 0 ? {} : { profiles }),
  from: `handover run (${run.scenarios.length} scenarios, ${run.kernel.spec}, ${run.kernel.release}) at ${run.startedAt}`,
  statuses: Object.fromEntries(run.contract.map((c) => [c.id, c.status])),
};
const dest = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'contract', `${[release, ...profiles].join('-')}.json`);
writeFileSync(dest, `${JSON.stringify(out, null, 2)}\n`);
console.log(`${dest}: ${Object.keys(out.statuses).length} promises`);
