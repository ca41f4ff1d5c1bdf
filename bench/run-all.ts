/**
 * Runs every benchmark next to this file (`*-bench.js` in dist/bench/), one
 * after the other so they do not compete for the CPU, with their output
 * passed through. Exit code 1 when any of them failed.
 * Run: npm run bench.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const benches = readdirSync(here)
  .filter((f) => f.endsWith('-bench.js'))
  .sort();
const only = process.argv.slice(2);
let failed = 0;
for (const bench of benches) {
  if (only.length > 0 && !only.some((name) => bench.includes(name))) continue;
  console.log(`\n=== ${bench} ===`);
  const r = spawnSync(process.execPath, [join(here, bench)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`=== ${bench} FAILED (exit ${r.status ?? r.signal}) ===`);
  }
}
if (benches.length === 0) console.log('no benchmarks found');
process.exit(failed > 0 ? 1 : 0);
