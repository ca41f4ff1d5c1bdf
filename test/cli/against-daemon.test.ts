/**
 * The client tools against a complete `rearview serve` (recording 1-second
 * segments, HTTP API, mDNS) started by the test on free ports: `status`,
 * `videos sync` twice (the second run downloads only segments finished in
 * between) and resuming a cut download, CameraClient against the daemon's
 * API, and the mDNS advertisement carrying the API port the daemon bound.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CameraClient, type Recording } from '../../src/client/index.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { startTcpProxy } from '../client/tcp-proxy.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { runCli } from './cli-run.js';
import { listenForCamera } from '../support/mdns.js';

const name = `daemon-${randomUUID().slice(0, 8)}`;
// mDNS on loopback only (inherited by the serve child): see test/discovery/mdns.test.ts.
process.env.REARVIEW_MDNS_INTERFACE = '127.0.0.1';
let serve: ServeProcess;
let recordings: { dir: string; cleanup: () => void };
let client: CameraClient;

/** Polls the camera until at least `n` finished recordings exist. */
async function finished(n: number): Promise<Recording[]> {
  let done: Recording[] = [];
  await waitFor(
    async () => {
      done = (await client.recordings()).filter((r) => !r.inProgress);
      return done.length >= n;
    },
    `${n} finished recordings`,
    20_000,
    100,
  );
  return done;
}

before(async () => {
  recordings = scratchDir();
  serve = await startServe(
    [
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--bind',
      '127.0.0.1',
      '--recordings',
      recordings.dir,
      '--segment',
      '1s',
      '--name',
      name,
    ],
    { rawArgs: true, waitForApi: true },
  );
  client = new CameraClient(`127.0.0.1:${serve.apiPort}`);
});

after(async () => {
  await serve.close();
  recordings.cleanup();
});

test('status and CameraClient against the daemon', async () => {
  await client.assertRearview();
  const status = await client.status();
  assert.equal(status.cameraName, name);
  const r = await runCli(['status', '--camera', `127.0.0.1:${serve.apiPort}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^stream\s+serving 640x360/m);
  assert.match(r.stdout, /^recording\s+on, writing log\d{4}\.mkv/m);
});

test('videos sync twice against the daemon: the second run fetches only what was finished since', async () => {
  await finished(2);
  const out = scratchDir();
  try {
    const first = await runCli(['videos', 'sync', out.dir, '--camera', `127.0.0.1:${serve.apiPort}`, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const s1 = JSON.parse(first.stdout) as { downloaded: string[]; pending: string[] };
    assert.ok(s1.downloaded.length >= 2);
    // The segment being written is left for later. Between two 1 s segments (sealing one, creating
    // the next) no segment is being written, and then every listed one is finished: 0 or 1 pending.
    assert.ok(s1.pending.length <= 1, `at most the segment being written is left for later: ${first.stdout}`);
    assert.ok(
      s1.pending.every((n) => !s1.downloaded.includes(n)),
      'a pending segment is not downloaded',
    );
    for (const n of s1.downloaded)
      assert.deepEqual(readFileSync(join(out.dir, n)), readFileSync(join(recordings.dir, n)));
    const second = await runCli(['videos', 'sync', out.dir, '--camera', `127.0.0.1:${serve.apiPort}`, '--json']);
    assert.equal(second.code, 0, second.stderr);
    const s2 = JSON.parse(second.stdout) as { downloaded: string[]; skipped: string[] };
    assert.deepEqual(
      s2.skipped.slice(0, s1.downloaded.length),
      s1.downloaded,
      'everything from the first run is skipped',
    );
    assert.ok(
      s2.downloaded.every((n) => !s1.downloaded.includes(n)),
      'nothing is downloaded twice',
    );
  } finally {
    out.cleanup();
  }
});

test('a sync cut in the middle resumes against the daemon', async () => {
  const done = await finished(2);
  const target = done[0] as Recording;
  const out = scratchDir();
  const proxy = await startTcpProxy(serve.apiPort as number);
  try {
    proxy.cutAfterBytes = 2000 + Math.floor((target.sizeBytes ?? 0) / 2);
    const cut = await runCli(['videos', 'sync', out.dir, '--camera', `127.0.0.1:${proxy.port}`]);
    assert.equal(cut.code, ExitCode.CONNECT, cut.stderr);
    assert.ok(existsSync(join(out.dir, `${target.name}.part`)));
    const resumed = await runCli(['videos', 'sync', out.dir, '--camera', `127.0.0.1:${serve.apiPort}`, '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok((JSON.parse(resumed.stdout) as { resumed: string[] }).resumed.includes(target.name));
    assert.equal(statSync(join(out.dir, target.name)).size, target.sizeBytes);
    assert.deepEqual(readFileSync(join(out.dir, target.name)), readFileSync(join(recordings.dir, target.name)));
  } finally {
    await proxy.close();
    out.cleanup();
  }
});

test('the daemon advertises the API and stream ports it bound over mDNS', async () => {
  const mine = await listenForCamera(name);
  assert.ok(mine, 'heard the daemon');
  assert.equal(mine.apiPort, serve.apiPort);
  assert.equal(mine.streamPort, serve.streamPort);
});
