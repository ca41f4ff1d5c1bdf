/**
 * `rearview videos` and `status` against a camera with only the original
 * firmware's routes: the real ApiServer behind a proxy that answers every
 * /api/v1 request like the device did (501 "Unknown GET request"). sync
 * falls back to GET /list-local-videos and POST /download-video (the .mkv),
 * skips by name on the second run, and leaves the newest (recording) segment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeRecordings, startTestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { runCli } from './cli-run.js';

test('sync, list and status fall back to the legacy routes of the original firmware', async () => {
  const recordings = scratchDir();
  const out = scratchDir();
  makeRecordings(recordings.dir, 3);
  const api = await startTestApi(recordings.dir);
  const legacy = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/api/')) {
      res.writeHead(501).end(`Unknown ${req.method} request`);
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: api.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
  const camera = `127.0.0.1:${(legacy.address() as { port: number }).port}`;
  try {
    const first = await runCli(['videos', 'sync', out.dir, '--camera', camera, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const s1 = JSON.parse(first.stdout) as { downloaded: string[]; pending: string[] };
    assert.deepEqual(s1.downloaded, ['log0001.mkv', 'log0002.mkv']);
    assert.deepEqual(s1.pending, ['log0003.mkv'], 'the newest segment is the one being recorded');
    for (const name of s1.downloaded)
      assert.deepEqual(readFileSync(join(out.dir, name)), readFileSync(join(recordings.dir, name)));
    const second = await runCli(['videos', 'sync', out.dir, '--camera', camera, '--json']);
    assert.deepEqual((JSON.parse(second.stdout) as { skipped: string[] }).skipped, ['log0001.mkv', 'log0002.mkv']);
    assert.deepEqual(readdirSync(out.dir).sort(), ['log0001.mkv', 'log0002.mkv']);

    const list = await runCli(['videos', 'list', '--camera', camera, '--json']);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { name: string }[]).map((v) => v.name),
      ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'],
    );

    const status = await runCli(['status', '--camera', camera, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as { api: string; recordings: number; battery: { percent: number } };
    assert.equal(doc.api, 'legacy');
    assert.equal(doc.recordings, 3);
    assert.equal(typeof doc.battery.percent, 'number');
  } finally {
    legacy.closeAllConnections();
    legacy.close();
    await api.close();
    recordings.cleanup();
    out.cleanup();
  }
});
