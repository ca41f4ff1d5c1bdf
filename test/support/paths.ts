/** Paths the tests need: the repository root, the shared corpus, scratch folders. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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

/** The read-only external H.264 corpus beside the repository. */
export const corpusDir = resolve(repoRoot, '..', 'shared', 'h264-corpus');

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
