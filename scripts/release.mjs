#!/usr/bin/env node
// Builds the release artefact a camera installs without building anything (docs/deploy.md):
//   npm run release [-- --out DIR]        (default DIR: release/)
// Writes DIR/rearview-VERSION.tgz (`npm pack` of the built package: dist/, assets, docs, deploy/,
// and npm-shrinkwrap.json, a copy of package-lock.json, so the camera gets exactly the dependency
// versions tested here), DIR/rearview-VERSION.tgz.sha256 and DIR/install.sh (deploy/install.sh,
// the one file to copy beside the tarball). Runs on any machine: nothing in it is built for a CPU.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
let outDir = join(root, 'release');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out' && args[i + 1]) outDir = resolve(args[++i]);
  else {
    console.error(`release: unknown argument ${args[i]} (usage: npm run release [-- --out DIR])`);
    process.exit(2);
  }
}

const run = (cmd, cmdArgs, cwd) =>
  execFileSync(cmd, cmdArgs, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

console.log('release: building (tsc and the web page)');
execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// The package is packed from a staging copy so npm-shrinkwrap.json can go in without
// touching the checkout (npm never packs package-lock.json).
const stage = mkdtempSync(join(tmpdir(), 'rearview-release-'));
try {
  for (const entry of ['package.json', 'README.md', ...pkg.files]) {
    const from = join(root, entry);
    if (!existsSync(from))
      throw new Error(`release: ${entry} (package.json "files") does not exist; run from a full checkout`);
    cpSync(from, join(stage, entry), { recursive: true });
  }
  // `npm ci` on the camera runs the root package's `prepare` (here: the TypeScript build); the
  // artefact is built already, and the camera has no TypeScript.
  // npm leaves npm-shrinkwrap.json out unless "files" names it.
  const staged = { ...pkg, files: [...pkg.files, 'npm-shrinkwrap.json'], scripts: { ...pkg.scripts } };
  delete staged.scripts.prepare;
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`);
  if (!existsSync(join(stage, 'dist/src/cli/main.js')))
    throw new Error('release: dist/src/cli/main.js missing after the build');
  copyFileSync(join(root, 'package-lock.json'), join(stage, 'npm-shrinkwrap.json'));
  mkdirSync(outDir, { recursive: true });
  // --ignore-scripts: the build ran above; `prepare` would run tsc again in a folder without sources.
  const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', outDir], stage));
  const tarball = join(outDir, packed[0].filename);
  const digest = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  writeFileSync(`${tarball}.sha256`, `${digest}  ${basename(tarball)}\n`);
  copyFileSync(join(root, 'deploy/install.sh'), join(outDir, 'install.sh'));
  chmodSync(join(outDir, 'install.sh'), 0o755);
  const mib = (packed[0].size / 1048576).toFixed(2);
  console.log(`release: ${tarball} (${mib} MiB packed, ${packed[0].entryCount} files, sha256 ${digest})`);
  console.log(`release: ${join(outDir, 'install.sh')}`);
  console.log(`on the camera: sudo ./install.sh ./${basename(tarball)}`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
