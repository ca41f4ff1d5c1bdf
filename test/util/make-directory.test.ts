/**
 * makeDirectory ends where Node's recursive mkdir spins for ever: a path
 * under /proc and a path below a dangling symbolic link reject with ENOENT;
 * nested folders are created; a file in the way is ENOTDIR.
 */
import assert from 'node:assert/strict';
import { statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeDirectory } from '../../src/util/make-directory.js';
import { scratchDir } from '../support/paths.js';

const scratch = scratchDir('rearview-mkdir-');
after(scratch.cleanup);

test('a folder that cannot exist rejects with ENOENT instead of spinning (procfs, a dangling link)', async () => {
  await assert.rejects(makeDirectory('/proc/rearview-no-such/recordings'), { code: 'ENOENT' });
  const dangling = join(scratch.dir, 'dangling');
  symlinkSync(join(scratch.dir, 'nowhere'), dangling);
  await assert.rejects(makeDirectory(join(dangling, 'recordings')), { code: 'ENOENT' });
});

test('creates missing parents, accepts an existing folder, refuses a file in the way', async () => {
  const nested = join(scratch.dir, 'a', 'b', 'c');
  await makeDirectory(nested);
  assert.ok(statSync(nested).isDirectory());
  await makeDirectory(nested);
  const file = join(scratch.dir, 'file');
  writeFileSync(file, 'x');
  await assert.rejects(makeDirectory(file), { code: 'ENOTDIR' });
  await assert.rejects(makeDirectory(join(file, 'sub')), { code: 'ENOTDIR' });
});
