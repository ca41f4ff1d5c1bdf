#!/usr/bin/env node
// Marks the package's bin files executable after a build. tsc writes them 0644, and npm sets the
// mode only when it links a package: `npx rearview` in a clone made again where an earlier one
// was (npx keeps its link to the folder) would otherwise fail with "Permission denied".
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const path of Object.values(typeof bin === 'string' ? { bin } : (bin ?? {}))) {
  chmodSync(join(root, path), 0o755);
}
