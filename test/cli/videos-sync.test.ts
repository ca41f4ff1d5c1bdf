/**
 * `rearview videos sync` against the real ApiServer over real MKV segments:
 * the first run downloads everything, the second downloads nothing, and a
 * download cut in the middle (a TCP proxy that closes the connection) is
 * resumed by the next run with a Range request and verified by size.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeRecordings, startTestApi, type TestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { startTcpProxy } from '../client/tcp-proxy.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { runCli } from './cli-run.js';

let api: TestApi;
let recordings: { dir: string; cleanup: () => void };

before(async () => {
  recordings = scratchDir();
  makeRecordings(recordings.dir, 3);
  api = await startTestApi(recordings.dir);
});

after(async () => {
  await api.close();
  recordings.cleanup();
});

interface Summary {
  downloaded: string[];
  resumed: string[];
  skipped: string[];
  failed: unknown[];
  bytesTransferred: number;
}

test('sync twice: everything, then nothing', async () => {
  const out = scratchDir();
  try {
    const dest = join(out.dir, 'rides');
    const first = await runCli(['videos', 'sync', dest, '--camera', `127.0.0.1:${api.port}`, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const s1 = JSON.parse(first.stdout) as Summary;
    assert.deepEqual(s1.downloaded, ['log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    for (const name of s1.downloaded)
      assert.deepEqual(readFileSync(join(dest, name)), readFileSync(join(recordings.dir, name)));
    assert.equal(first.stderr, '', 'no progress output when stderr is not a terminal');

    const second = await runCli(['videos', 'sync', dest, '--camera', `127.0.0.1:${api.port}`, '--json']);
    assert.equal(second.code, 0, second.stderr);
    const s2 = JSON.parse(second.stdout) as Summary;
    assert.deepEqual(s2.downloaded, []);
    assert.deepEqual(s2.skipped, ['log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    assert.equal(s2.bytesTransferred, 0);

    // Human summary.
    const third = await runCli(['videos', 'sync', dest, '--camera', `127.0.0.1:${api.port}`]);
    assert.equal(third.code, 0);
    assert.match(third.stdout, /^synced 0 new \(0 B\), 3 already there\n$/);
  } finally {
    out.cleanup();
  }
});

test('a download cut in the middle is resumed by the next sync', async () => {
  const out = scratchDir();
  const proxy = await startTcpProxy(api.port);
  try {
    const size = statSync(join(recordings.dir, 'log0001.mkv')).size;
    // Headers are a few hundred bytes: cut each connection inside the first file's body.
    proxy.cutAfterBytes = Math.floor(size / 2);
    const cut = await runCli(['videos', 'sync', out.dir, '--camera', `127.0.0.1:${proxy.port}`, '--json']);
    assert.equal(cut.code, ExitCode.CONNECT, cut.stderr);
    assert.equal(cut.stderr.trim().split('\n').length, 1, `one line: ${cut.stderr}`);
    assert.match(cut.stderr, /^rearview: .*log0001\.mkv.*interrupted|^rearview: .*ended early/);
    const partial = join(out.dir, 'log0001.mkv.part');
    assert.ok(existsSync(partial), 'the part file stays for the next run');
    const partBytes = statSync(partial).size;
    assert.ok(partBytes > 0 && partBytes < size, `part holds ${partBytes} of ${size} bytes`);

    const resumed = await runCli(['videos', 'sync', out.dir, '--camera', `127.0.0.1:${api.port}`, '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const s = JSON.parse(resumed.stdout) as Summary;
    assert.deepEqual(s.resumed, ['log0001.mkv']);
    assert.deepEqual(s.downloaded, ['log0002.mkv', 'log0003.mkv']);
    // Only the missing half of the first file travelled again.
    const total = 3 * size;
    assert.equal(s.bytesTransferred, total - partBytes);
    for (const name of ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'])
      assert.deepEqual(readFileSync(join(out.dir, name)), readFileSync(join(recordings.dir, name)));
    assert.deepEqual(
      readdirSync(out.dir).filter((f) => f.endsWith('.part')),
      [],
    );
  } finally {
    await proxy.close();
    out.cleanup();
  }
});

test('videos list, download and thumbs', async () => {
  const out = scratchDir();
  try {
    const list = await runCli(['videos', 'list', '--camera', `127.0.0.1:${api.port}`, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const entries = JSON.parse(list.stdout) as { name: string; sizeBytes: number }[];
    assert.deepEqual(
      entries.map((e) => e.name),
      ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'],
    );
    const human = await runCli(['videos', 'list', '--camera', `127.0.0.1:${api.port}`]);
    assert.equal(human.stdout.trim().split('\n').length, 3);

    const dl = await runCli(['videos', 'download', 'log0002.mkv', '-o', out.dir, '--camera', `127.0.0.1:${api.port}`]);
    assert.equal(dl.code, 0, dl.stderr);
    assert.deepEqual(readFileSync(join(out.dir, 'log0002.mkv')), readFileSync(join(recordings.dir, 'log0002.mkv')));

    // MP4 converted by the camera.
    const mp4 = await runCli([
      'videos',
      'download',
      'log0001.mkv',
      '--format',
      'mp4',
      '-o',
      out.dir,
      '--camera',
      `127.0.0.1:${api.port}`,
    ]);
    assert.equal(mp4.code, 0, mp4.stderr);
    const head = readFileSync(join(out.dir, 'log0001.mp4')).subarray(4, 8).toString('latin1');
    assert.equal(head, 'ftyp', 'an MP4 file');

    const thumbs = await runCli(['videos', 'thumbs', join(out.dir, 'thumbs'), '--camera', `127.0.0.1:${api.port}`]);
    assert.equal(thumbs.code, 0, thumbs.stderr);
    assert.equal(readdirSync(join(out.dir, 'thumbs')).filter((f) => /^log000\d_\d+\.jpg$/.test(f)).length, 3);
  } finally {
    out.cleanup();
  }
});
