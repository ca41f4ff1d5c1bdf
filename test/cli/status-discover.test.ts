/**
 * `rearview status` (human and --json) against the real ApiServer, and
 * `rearview discover --json` hearing an advertiser on this machine, and the
 * hint at --camera and discover when no camera address was given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeRecordings, startTestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { MdnsAdvertiser } from '../../src/discovery/mdns-advertiser.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { createServer } from 'node:net';
import { runCli } from './cli-run.js';

test('status prints the camera state, or the /api/v1/status document with --json', async () => {
  const recordings = scratchDir();
  makeRecordings(recordings.dir, 2);
  const api = await startTestApi(recordings.dir);
  try {
    const json = await runCli(['status', '--camera', `127.0.0.1:${api.port}`, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as {
      api: string;
      version: string;
      stream: { resolution: string };
      battery: { percent: number };
    };
    assert.equal(doc.api, 'v1');
    assert.equal(doc.version, '0.1.0-test');
    assert.equal(doc.stream.resolution, '640x360');
    assert.equal(typeof doc.battery.percent, 'number');

    const human = await runCli(['status', '--camera', `127.0.0.1:${api.port}`]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^camera\s+.* at http:\/\/127\.0\.0\.1:\d+, version 0\.1\.0-test/m);
    assert.match(human.stdout, /^stream\s+serving 640x360 @ 30 fps/m);
    assert.match(human.stdout, /^disk\s+2 segments/m);
    assert.match(human.stdout, /^battery\s+\d+ %/m);
    assert.ok(!human.stdout.includes('\u001b['), 'no colour when stdout is not a terminal');
  } finally {
    await api.close();
    recordings.cleanup();
  }
});

test('discover --json lists a camera advertised on this machine', async () => {
  const name = `cli-camera-${randomUUID().slice(0, 8)}`;
  const advertiser = new MdnsAdvertiser({ name, streamPort: 25000, apiPort: 28000, width: 1280, height: 720 });
  await advertiser.start();
  try {
    const r = await runCli(['discover', '--timeout', '3s', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const cams = JSON.parse(r.stdout) as { name: string; streamPort: number; apiPort: number; resolution: string }[];
    const mine = cams.find((c) => c.name === name);
    assert.ok(mine, `heard ${cams.map((c) => c.name).join(', ')}`);
    assert.equal(mine.streamPort, 25000);
    assert.equal(mine.apiPort, 28000);
    assert.equal(mine.resolution, '1280x720');
  } finally {
    await advertiser.close();
  }
});

test('status without --camera: the error says which address was tried and points at --camera and discover (exit 4)', async () => {
  const unused = createServer();
  await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
  const closedPort = (unused.address() as { port: number }).port;
  await new Promise<void>((resolve) => unused.close(() => resolve()));

  const r = await runCli(['status'], { env: { REARVIEW_CAMERA: `127.0.0.1:${closedPort}` } });
  assert.equal(r.code, ExitCode.CONNECT, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, /^rearview: cannot reach camera: .*connection refused/);
  assert.ok(
    (lines[0] as string).endsWith(
      `(no --camera given, so tried REARVIEW_CAMERA=127.0.0.1:${closedPort}; give --camera HOST[:PORT], or find cameras with \`rearview discover\`)`,
    ),
    lines[0],
  );

  // Given with --camera, the address was meant: no hint.
  const given = await runCli(['status', '--camera', `127.0.0.1:${closedPort}`]);
  assert.equal(given.code, ExitCode.CONNECT);
  assert.doesNotMatch(given.stderr, /discover/);

  // videos says the same, with --camera before or after the subcommand counting as given.
  const videos = await runCli(['videos', 'list'], { env: { REARVIEW_CAMERA: `127.0.0.1:${closedPort}` } });
  assert.equal(videos.code, ExitCode.CONNECT);
  assert.match(videos.stderr, /no --camera given, so tried REARVIEW_CAMERA=.*rearview discover/);
  for (const args of [
    ['videos', '--camera', `127.0.0.1:${closedPort}`, 'list'],
    ['videos', 'list', '--camera', `127.0.0.1:${closedPort}`],
  ]) {
    const r2 = await runCli(args);
    assert.equal(r2.code, ExitCode.CONNECT);
    assert.doesNotMatch(r2.stderr, /discover/, args.join(' '));
  }
});
