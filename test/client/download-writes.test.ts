/**
 * CameraClient.download() on the disk side, against the real ApiServer: a
 * download of many chunks (each one a wait for the file stream to drain)
 * leaves no listener behind, so Node prints no MaxListenersExceededWarning;
 * a missing destination folder is created; one that cannot be (a regular
 * file in the way) fails with an error naming it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CameraClient } from '../../src/client/index.js';
import { startTestApi, type TestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';

/** Big enough for well over ten drain waits: each 64 KiB chunk fills the 16 KiB write buffer. */
const BIG_BYTES = 8 * 1024 * 1024;

let api: TestApi;
let recordings: { dir: string; cleanup: () => void };
let out: { dir: string; cleanup: () => void };
let client: CameraClient;

before(async () => {
  recordings = scratchDir();
  out = scratchDir();
  // A sparse file: 8 MiB to transfer, almost nothing on disk.
  const fd = openSync(join(recordings.dir, 'log0001.mkv'), 'w');
  writeSync(fd, Buffer.from('1a45dfa3', 'hex'));
  ftruncateSync(fd, BIG_BYTES);
  closeSync(fd);
  api = await startTestApi(recordings.dir);
  client = new CameraClient(`127.0.0.1:${api.port}`, { timeoutMs: 10_000 });
});

after(async () => {
  await api.close();
  recordings.cleanup();
  out.cleanup();
});

test('a download of many chunks leaves no listener behind: no MaxListenersExceededWarning', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  try {
    let updates = 0;
    const result = await client.download('log0001.mkv', join(out.dir, 'big.mkv'), { onProgress: () => updates++ });
    assert.equal(result.bytes, BIG_BYTES);
    assert.equal(statSync(join(out.dir, 'big.mkv')).size, BIG_BYTES);
    assert.ok(updates > 20, `the body came in many chunks (${updates}), so there were many drain waits`);
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(
    warnings.map((w) => `${w.name}: ${w.message}`),
    [],
  );
});

test('a missing destination folder is created, parents too', async () => {
  const dest = join(out.dir, 'rides', '2024', 'june', 'ride.mkv');
  const result = await client.download('log0001.mkv', dest);
  assert.equal(result.path, dest);
  assert.equal(statSync(dest).size, BIG_BYTES);
  const legacy = join(out.dir, 'legacy', 'nested', 'ride.mkv');
  await client.legacyDownload(join(recordings.dir, 'log0001.mkv'), legacy, { format: 'mkv' });
  assert.equal(statSync(legacy).size, BIG_BYTES);
});

test('a destination folder that cannot be created is named in the error', async () => {
  const file = join(out.dir, 'not-a-folder');
  writeFileSync(file, 'x');
  for (const folder of [file, join(file, 'rides')]) {
    await assert.rejects(client.download('log0001.mkv', join(folder, 'ride.mkv')), (err: NodeJS.ErrnoException) => {
      assert.equal(
        err.code,
        'ENOTDIR',
        'the file-system code stays, so callers tell a disk problem from a network one',
      );
      assert.equal(err.path, folder);
      assert.equal(err.message, `cannot create the download folder ${folder}: a file is in the way`);
      return true;
    });
  }
  assert.equal(readFileSync(file, 'utf8'), 'x', 'the file in the way is left alone');
});
