/**
 * `npm run bench`: every benchmark in its own process (chDB allows one data directory per
 * process). Each prints ratios against a peer measured in the same run.
 *   npm run bench              all of them
 *   npm run bench -- ingest    one by name
 *   npm run bench -- load --seconds 15    options after the names go to every benchmark run
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['ingest', 'balances', 'page', 'load'];
const selected = process.argv.slice(2).filter((a) => BENCHES.includes(a));
const options = process.argv.slice(2).filter((a) => !BENCHES.includes(a));
let failed = false;
for (const name of selected.length ? selected : BENCHES) {
  console.log(`\n# bench: ${name}`);
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...options], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed = true;
    console.log(`\nbench ${name} exited ${result.status ?? result.signal}`);
  }
}
process.exit(failed ? 1 : 0);
