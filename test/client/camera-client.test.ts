/**
 * CameraClient against the real ApiServer (legacy routes and /api/v1) over a
 * folder of real MKV segments, and its errors against servers that are not
 * cameras, answer too late, or are not there.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { copyFileSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CameraClient, type ClientError, cameraBaseUrl, type SettingsPatch } from '../../src/client/index.js';
import { FIXTURE_MTIMES_S, makeRecordings, startTestApi, type TestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

let api: TestApi;
let recordings: { dir: string; cleanup: () => void };
let out: { dir: string; cleanup: () => void };
let client: CameraClient;

before(async () => {
  recordings = scratchDir();
  out = scratchDir();
  makeRecordings(recordings.dir, 3);
  api = await startTestApi(recordings.dir);
  client = new CameraClient(`127.0.0.1:${api.port}`, { timeoutMs: 5000 });
});

after(async () => {
  await api.close();
  recordings.cleanup();
  out.cleanup();
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

test('cameraBaseUrl accepts host, host:port and URLs', () => {
  assert.equal(cameraBaseUrl('velovision-rearview.local'), 'http://velovision-rearview.local:8000');
  assert.equal(cameraBaseUrl('192.168.9.1:8080'), 'http://192.168.9.1:8080');
  assert.equal(cameraBaseUrl('http://[::1]:9000/'), 'http://[::1]:9000');
  assert.throws(() => cameraBaseUrl(''), TypeError);
});

test('legacy routes: greeting, battery, temperature, charging, stream status, list', async () => {
  await client.assertRearview();
  // The simulated device: battery 87 % at start (1 % less every 6 minutes), 3600 + 550 * 87 / 100 mV,
  // 48.3 degC, not charging; the harness's stream is running and the mode accepts clients.
  assert.equal(await client.batteryPercent(), 87);
  assert.equal(await client.batteryMillivolts(), 4079);
  assert.equal(await client.cpuTemperatureC(), 48);
  assert.equal(await client.isCharging(), false);
  assert.equal(await client.cameraStreamStatus(), true);
  const list = await client.listLocalVideos();
  assert.deepEqual(
    list.map((v) => v.path.split('/').pop()),
    ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'],
  );
  assert.match(list[0]?.date_updated ?? '', /^\d+$/);
  assert.match(await client.blinkOn(), /LED/);
  assert.match(await client.blinkOff(), /LED/);
  assert.match(await client.restartStreamMode(), /stream/i);
});

test('v1: status, recordings, settings', async () => {
  assert.equal(await client.hasV1(), true);
  const status = await client.status();
  assert.equal(status.version, '0.1.0-test');
  const recs = await client.recordings();
  assert.equal(recs.length, 3);
  const first = recs[0]!;
  assert.equal(first.name, 'log0001.mkv');
  assert.equal(first.sizeBytes, statSync(join(recordings.dir, 'log0001.mkv')).size);
  assert.equal(first.inProgress, false);
  assert.match(first.thumbnailUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/recordings\/log0001_\d+\.jpg$/);
  const jpeg = await client.thumbnail(first);
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
  const settings = await client.settings();
  assert.equal(settings.segmentMs, 60_000);
  assert.equal(settings.cameraName, 'velovision-rearview');
  const spec = await client.openApi();
  assert.ok(spec.paths, 'the OpenAPI document has paths');
});

test('patchSettings: the camera validates, applies and answers with the new settings', async () => {
  const next = await client.patchSettings({ segmentMs: '30s', cameraName: 'rear-test' });
  assert.equal(next.segmentMs, 30_000, 'durations as text are parsed by the camera');
  assert.equal(next.cameraName, 'rear-test');
  assert.deepEqual(api.applied.at(-1)?.changed.sort(), ['cameraName', 'segmentMs']);
  assert.equal((await client.settings()).segmentMs, 30_000);
  // Not a settable key (nor in the SettingsPatch type): the camera refuses it.
  await assert.rejects(
    client.patchSettings({ streamPort: 6000 } as SettingsPatch),
    (err: ClientError) => err.code === 'ERR_CLIENT_HTTP' && err.status === 400,
  );
  await assert.rejects(
    client.patchSettings({ segmentMs: -5 }),
    (err: ClientError) => err.code === 'ERR_CLIENT_HTTP' && err.status === 400,
  );
  assert.equal((await client.settings()).segmentMs, 30_000, 'a refused patch changes nothing');
  await client.patchSettings({ segmentMs: 60_000, cameraName: 'velovision-rearview' });
});

test('legacy thumbnail and downloads: the thumbnail bytes, the MKV itself, and an MP4 of the same frames', async () => {
  const list = await client.listLocalVideos();
  const second = list[1]!;
  assert.equal(second.path, join(recordings.dir, 'log0002.mkv'));
  const thumbName = `log0002_${FIXTURE_MTIMES_S[1]}.jpg`;
  assert.deepEqual(
    Buffer.from(await client.legacyThumbnail(second.path)),
    readFileSync(join(recordings.dir, thumbName)),
  );

  const mkv = await client.legacyDownload(second.path, join(out.dir, 'legacy.mkv'), { format: 'mkv' });
  const source = readFileSync(join(recordings.dir, 'log0002.mkv'));
  assert.equal(mkv.bytes, source.length);
  assert.deepEqual(readFileSync(join(out.dir, 'legacy.mkv')), source);

  const mp4 = await client.legacyDownload(second.path, join(out.dir, 'legacy.mp4'));
  assert.equal(mp4.bytes, statSync(join(out.dir, 'legacy.mp4')).size);
  const probe = spawnSync(
    requireTool('ffprobe'),
    [
      '-v',
      'error',
      '-count_frames',
      '-show_entries',
      'format=format_name:stream=codec_name,width,height,nb_read_frames',
      '-of',
      'json',
      join(out.dir, 'legacy.mp4'),
    ],
    { encoding: 'utf8' },
  );
  const info = JSON.parse(probe.stdout) as {
    format: { format_name: string };
    streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[];
  };
  assert.match(info.format.format_name, /mp4/);
  assert.deepEqual(
    info.streams.map((st) => [st.codec_name, st.width, st.height, Number(st.nb_read_frames)]),
    [['h264', 320, 180, 30]],
    'the fixture: 1 s of 320x180 at 30 fps',
  );
  await assert.rejects(
    client.legacyThumbnail('/etc/passwd'),
    (err: ClientError) => err.code === 'ERR_CLIENT_HTTP' && (err.status === 400 || err.status === 404),
  );
});

test('download with progress, then resume a partial download with Range', async () => {
  const source = readFileSync(join(recordings.dir, 'log0002.mkv'));
  const dest = join(out.dir, 'log0002.mkv');
  const seen: number[] = [];
  const full = await client.download('log0002.mkv', dest, {
    onProgress: (bytes, total) => {
      seen.push(bytes);
      assert.equal(total, source.length);
    },
  });
  assert.equal(full.resumed, false);
  assert.equal(full.bytes, source.length);
  assert.deepEqual(readFileSync(dest), source);
  assert.equal(seen.at(-1), source.length);
  assert.ok(
    seen.every((v, i) => i === 0 || v >= (seen[i - 1] as number)),
    'progress never goes back',
  );

  // A cut download: the first 1000 bytes are in the .part file.
  const dest3 = join(out.dir, 'log0003.mkv');
  const source3 = readFileSync(join(recordings.dir, 'log0003.mkv'));
  writeFileSync(`${dest3}.part`, source3.subarray(0, 1000));
  const resumed = await client.download('log0003.mkv', dest3);
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.transferredBytes, source3.length - 1000);
  assert.deepEqual(readFileSync(dest3), source3);
  assert.equal(existsSync(`${dest3}.part`), false);

  // A part that already holds the whole file: 416 from the server, renamed without a transfer.
  const dest1 = join(out.dir, 'log0001.mkv');
  const source1 = readFileSync(join(recordings.dir, 'log0001.mkv'));
  writeFileSync(`${dest1}.part`, source1);
  const complete = await client.download('log0001.mkv', dest1);
  assert.equal(complete.transferredBytes, 0);
  assert.deepEqual(readFileSync(dest1), source1);
});

test('delete one recording, then all', async () => {
  await client.deleteRecording('log0001.mkv');
  assert.deepEqual(
    (await client.recordings()).map((r) => r.name),
    ['log0002.mkv', 'log0003.mkv'],
  );
  await assert.rejects(
    client.deleteRecording('log0001.mkv'),
    (err: ClientError) => err.code === 'ERR_CLIENT_HTTP' && err.status === 404 && err.remoteCode !== undefined,
  );
  await client.deleteAllRecordings();
  assert.deepEqual(await client.recordings(), []);
  // The legacy wipe, on a fresh set (copies of earlier downloads): says how many it deleted and leaves none.
  copyFileSync(join(out.dir, 'log0002.mkv'), join(recordings.dir, 'log0005.mkv'));
  copyFileSync(join(out.dir, 'log0003.mkv'), join(recordings.dir, 'log0006.mkv'));
  // The camera caches its folder listing briefly: wait until it shows the copies.
  await waitFor(async () => (await client.listLocalVideos()).length === 2, 'the copied segments in the list');
  assert.equal(await client.legacyWipe(), 'Wiped 2 local videos');
  assert.deepEqual(await client.listLocalVideos(), []);
});

test('errors say what failed: not a Rearview, HTTP status, timeout, unreachable', async () => {
  const other = await listen((_req, res) => res.end('hello from a router'));
  const silent = await listen(() => {
    // never answers
  });
  try {
    await assert.rejects(
      new CameraClient(`127.0.0.1:${other.port}`).assertRearview(),
      (err: ClientError) => err.code === 'ERR_NOT_REARVIEW' && /not a Rearview/.test(err.message),
    );
    await assert.rejects(
      new CameraClient(`127.0.0.1:${other.port}`).batteryPercent(),
      (err: ClientError) => err.code === 'ERR_NOT_REARVIEW',
    );
    await assert.rejects(
      new CameraClient(`127.0.0.1:${silent.port}`, { timeoutMs: 200 }).status(),
      (err: ClientError) => err.code === 'ERR_CLIENT_TIMEOUT' && /200 ms/.test(err.message),
    );
    const unused = await listen(() => undefined);
    const closedPort = unused.port;
    await new Promise<void>((resolve) => unused.server.close(() => resolve()));
    await assert.rejects(
      new CameraClient(`127.0.0.1:${closedPort}`).status(),
      (err: ClientError) => err.code === 'ERR_CLIENT_CONNECT' && /connection refused/.test(err.message),
    );
  } finally {
    other.server.closeAllConnections();
    other.server.close();
    silent.server.closeAllConnections();
    silent.server.close();
  }
});
