#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's test
// runner. Listing the files ourselves keeps helper modules under dist/test
// (fixtures, harnesses, child-process runners) from being run as tests, which
// Node 20's directory matching would do. Optional arguments filter by path
// substring: `node scripts/run-tests.mjs h264 recorder`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'dist', 'test');

function collect(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return collect(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = collect(testDir)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort();
if (files.length === 0) {
  console.error(
    `run-tests: no test files found under ${relative(root, testDir)}${filters.length ? ` matching ${filters.join(', ')}` : ''}`,
  );
  process.exit(1);
}
// Each file gets 7 minutes: a guard against a hang, not a speed goal. recorder-crash (20 real
// SIGKILLs) takes about a minute alone and over three beside the abuse suite's daemons.
// The browser tests (test/web: a real daemon and a real Chromium, Firefox or WebKit each) run
// after the rest, one file at a time: beside two other files on a two-core machine a browser's
// decoder falls behind, and what they measure (pictures shown, drops, first picture) is then the
// machine's load, not the page.
const webDir = join(testDir, 'web');
const inWeb = (f) => f.startsWith(webDir + sep);
const phases = [
  { files: files.filter((f) => !inWeb(f)), concurrency: 3 },
  { files: files.filter(inWeb), concurrency: 1 },
].filter((phase) => phase.files.length > 0);

function run({ files: phaseFiles, concurrency }) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=420000', ...phaseFiles],
      { stdio: 'inherit', cwd: root },
    );
    child.on('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1)));
  });
}

let failed = false;
for (const phase of phases) {
  // Both phases run even when the first fails, so one run reports every failure.
  if ((await run(phase)) !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
