/** Paths the tests need: the repository root, the H.264 corpus, scratch folders. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package root not found above ${start}`);
    dir = parent;
  }
}

/** The repository root (folder with package.json). */
export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The H.264 test corpus (third-party streams and their ground truth, see its README and NOTICE); read-only. */
export const corpusDir = join(repoRoot, 'test', 'corpus');

/** Path of one corpus file. */
export function corpusFile(name: string): string {
  return join(corpusDir, name);
}

/** The compiled CLI entry point. */
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** A fresh scratch folder, removed by the returned cleanup function. */
export function scratchDir(prefix = 'rearview-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
