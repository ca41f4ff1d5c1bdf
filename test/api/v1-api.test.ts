/**
 * /api/v1: status, recordings with Range, delete, settings (validated,
 * persisted, applied), Server-Sent Events, /metrics, the OpenAPI document
 * against the route table, and GET / content negotiation with the web mount.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openApiPath } from '../../src/api/openapi-document.js';
import type {
  RecordingDocument,
  SettingsDocument,
  SettingsPatchResult,
  StatusDocument,
} from '../../src/api/wire-types.js';
import { scratchDir } from '../support/paths.js';
import { curl, FIXTURE_MTIMES_S, makeRecordings, startTestApi, type TestApi } from './api-harness.js';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('/api/v1', () => {
  const scratch = scratchDir('rearview-v1-');
  const rec = join(scratch.dir, 'recordings');
  const configFile = join(scratch.dir, 'rearview.json');
  let api: TestApi;
  let mkvSize = 0;

  before(async () => {
    writeFileSync(configFile, JSON.stringify({ source: 'sample', cameraName: 'bike' }, null, 2));
    const { mkdirSync, statSync } = await import('node:fs');
    mkdirSync(rec);
    makeRecordings(rec, 3);
    mkvSize = statSync(join(rec, 'log0001.mkv')).size;
    api = await startTestApi(rec, {
      configFile,
      api: {
        web: {
          handleRequest: (req, res) => {
            if ((req.url ?? '/').startsWith('/assets/') || /text\/html/.test(req.headers.accept ?? '')) {
              res.writeHead(200, { 'content-type': 'text/html' });
              res.end('<!doctype html><title>rearview</title>');
              return true;
            }
            return false;
          },
        },
      },
    });
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('GET /api/v1/status has mode, stream clients, resolution, battery, simulated flags, uptime, version', async () => {
    const r = await curl([`${api.url}/api/v1/status`], scratch.dir);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /application\/json/);
    const s = JSON.parse(r.text) as StatusDocument;
    assert.equal(s.mode, 'simultaneous');
    assert.equal(s.activity, 'both');
    assert.equal(s.windowEndsAt, null);
    assert.equal(s.version, '0.1.0-test');
    assert.equal(typeof s.uptimeMs, 'number');
    assert.equal(s.stream.resolution, '640x360');
    assert.equal(s.stream.fps, 30);
    assert.equal(s.stream.bitrateBps, 1_000_000);
    assert.equal(s.stream.clients[0]?.lagMs, 12);
    assert.equal(s.stream.clients[0]?.framesDropped, 3);
    assert.equal(s.recording.active, true);
    assert.equal(s.disk?.files, 3);
    assert.equal(typeof s.battery.percent, 'number');
    assert.equal(typeof s.battery.millivolts, 'number');
    assert.equal(s.battery.charging, false);
    assert.equal(typeof s.temperatureC, 'number');
    assert.deepEqual(s.simulated, { battery: true, thermal: true, charging: true, led: true, button: true });
  });

  it('GET /api/v1/recordings lists ISO dates, duration, size, resolution and URLs, old to new', async () => {
    const r = await curl([`${api.url}/api/v1/recordings`], scratch.dir);
    const body = JSON.parse(r.text) as { recordings: RecordingDocument[] };
    assert.deepEqual(
      body.recordings.map((x) => x.name),
      ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'],
    );
    const first = body.recordings[0]!;
    assert.equal(first.modifiedAt, new Date(FIXTURE_MTIMES_S[0]! * 1000).toISOString());
    assert.equal(first.durationMs, 1000);
    assert.equal(first.sizeBytes, mkvSize);
    assert.equal(first.resolution, '320x180');
    assert.equal(first.downloadUrl, '/api/v1/recordings/log0001.mkv');
    assert.equal(first.mp4Url, '/api/v1/recordings/log0001.mp4');
    assert.equal(first.thumbnailUrl, `/api/v1/recordings/log0001_${FIXTURE_MTIMES_S[0]}.jpg`);
    assert.ok(!JSON.stringify(body).includes(rec), 'no absolute paths in the v1 list');
    const thumb = await curl([`${api.url}${first.thumbnailUrl}`], scratch.dir);
    assert.equal(thumb.headers['content-type'], 'image/jpeg');
  });

  it('GET /api/v1/recordings/:name serves .mkv with Range and .mp4', async () => {
    const whole = await curl([`${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(whole.status, 200);
    assert.equal(whole.body.length, mkvSize);
    assert.equal(whole.headers['accept-ranges'], 'bytes');
    assert.deepEqual(whole.body, readFileSync(join(rec, 'log0001.mkv')));
    const part = await curl(['-H', 'Range: bytes=100-199', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 100-199/${mkvSize}`);
    assert.deepEqual(part.body, whole.body.subarray(100, 200));
    const tail = await curl(['-H', 'Range: bytes=-10', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.deepEqual(tail.body, whole.body.subarray(mkvSize - 10));
    const bad = await curl(['-H', `Range: bytes=${mkvSize}-`, `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], `bytes */${mkvSize}`);
    const mp4 = await curl([`${api.url}/api/v1/recordings/log0001.mp4`], scratch.dir);
    assert.equal(mp4.status, 200);
    assert.equal(mp4.headers['content-type'], 'video/mp4');
    assert.equal(mp4.body.subarray(4, 8).toString('latin1'), 'ftyp');
    const missing = await curl([`${api.url}/api/v1/recordings/log0042.mkv`], scratch.dir);
    assert.equal(missing.status, 404);
    assert.equal((JSON.parse(missing.text) as ErrorBody).error.code, 'ERR_NOT_FOUND');
  });

  it('wrong methods on /api/v1 get 405 with Allow and a JSON error; unknown /api paths 404', async () => {
    const r = await curl(['-X', 'PUT', `${api.url}/api/v1/recordings`], scratch.dir);
    assert.equal(r.status, 405);
    assert.match(r.headers.allow ?? '', /GET/);
    assert.equal((JSON.parse(r.text) as ErrorBody).error.code, 'ERR_API_METHOD');
    const n = await curl([`${api.url}/api/v1/nothing`], scratch.dir);
    assert.equal(n.status, 404);
  });

  it('GET/PATCH /api/v1/settings: validated, persisted to the config file, applied', async () => {
    const before = JSON.parse((await curl([`${api.url}/api/v1/settings`], scratch.dir)).text) as SettingsDocument;
    assert.equal(before.resolution, '640x360');
    assert.equal(before.settingsFile, configFile);
    const bad = await curl(
      [
        '-X',
        'PATCH',
        '-H',
        'content-type: application/json',
        '-d',
        '{"video":{"fps":"fast"}}',
        `${api.url}/api/v1/settings`,
      ],
      scratch.dir,
    );
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.text) as ErrorBody).error.code, 'ERR_CONFIG');
    const ro = await curl(['-X', 'PATCH', '-d', '{"apiToken":"x"}', `${api.url}/api/v1/settings`], scratch.dir);
    assert.equal(ro.status, 400, 'apiToken is not settable over the API');
    const odd = await curl(
      ['-X', 'PATCH', '-d', '{"resolution":"641x360"}', `${api.url}/api/v1/settings`],
      scratch.dir,
    );
    assert.equal(odd.status, 400);
    const notJson = await curl(['-X', 'PATCH', '-d', '{', `${api.url}/api/v1/settings`], scratch.dir);
    assert.equal((JSON.parse(notJson.text) as ErrorBody).error.code, 'ERR_API_BAD_REQUEST');
    const ok = await curl(
      [
        '-X',
        'PATCH',
        '-d',
        '{"resolution":"1280x720","video":{"bitrateBps":"4M"},"segmentMs":"30s","streamWindowMs":"90s"}',
        `${api.url}/api/v1/settings`,
      ],
      scratch.dir,
    );
    assert.equal(ok.status, 200, ok.text);
    const body = JSON.parse(ok.text) as SettingsPatchResult;
    assert.equal(body.resolution, '1280x720');
    assert.equal(body.video.bitrateBps, 4_000_000);
    assert.equal(body.segmentMs, 30_000);
    assert.equal(body.applied.restartedSource, true);
    assert.deepEqual(api.applied.at(-1)?.sourceChanged, true);
    assert.equal(api.modes.streamWindowMs, 90_000);
    const file = JSON.parse(readFileSync(configFile, 'utf8')) as {
      cameraName: string;
      segmentMs: string;
      video: { width: number; bitrateBps: number };
    };
    assert.equal(file.cameraName, 'bike', 'other keys of the file are kept');
    assert.equal(file.video.width, 1280);
    assert.equal(file.video.bitrateBps, 4_000_000);
    assert.equal(file.segmentMs, '30000ms');
    // Regression: a JSON number on segmentMs was read as seconds (30000 s), not ms.
    const same = await curl(['-X', 'PATCH', '-d', '{"segmentMs":30000}', `${api.url}/api/v1/settings`], scratch.dir);
    assert.deepEqual((JSON.parse(same.text) as { changed: string[] }).changed, []);
  });

  it('GET /api/v1/events delivers hello, then a recording-removed event on DELETE', async () => {
    const events: string[] = [];
    let buffer = '';
    const req = request(`${api.url}/api/v1/events`);
    const gotRemoved = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            if (!ev) continue;
            events.push(ev);
            if (ev === 'hello') void curl(['-X', 'DELETE', `${api.url}/api/v1/recordings/log0003.mkv`], scratch.dir);
            if (ev === 'recording-removed') {
              assert.deepEqual(JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null'), { name: 'log0003.mkv' });
              resolve();
            }
          }
        });
      });
      req.on('error', reject);
    });
    req.end();
    await gotRemoved;
    req.destroy();
    assert.deepEqual(events.slice(0, 1), ['hello']);
  });

  it('GET /metrics is Prometheus text', async () => {
    const r = await curl([`${api.url}/metrics`], scratch.dir);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^# TYPE rearview_uptime_seconds gauge$/m);
    // Regression: series were labelled by remote ip:port, a new series per connection.
    assert.match(r.text, /^rearview_stream_client_lag_ms\{kind="tcp"\} 12$/m);
    assert.match(r.text, /^rearview_stream_client_dropped_frames\{kind="tcp"\} 3$/m);
    assert.doesNotMatch(r.text, /remote=/);
    assert.match(r.text, /^rearview_device_simulated\{part="battery"\} 1$/m);
    assert.match(r.text, /^rearview_http_requests_total\{route="\/api\/v1\/status",code="200"\} \d+$/m);
    for (const line of r.text.trim().split('\n'))
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+)$/, line);
    assert.match(r.text, /^rearview_resident_memory_bytes [1-9]\d*$/m);
    assert.match(r.text, /^rearview_heap_bytes\{kind="used"\} [1-9]\d*$/m);
    assert.match(r.text, /^rearview_external_memory_bytes\{kind="array_buffers"\} \d+$/m);
    // The event-loop delay histogram: cumulative buckets, ascending, the last one equal to the count.
    assert.match(r.text, /^# TYPE rearview_event_loop_delay_seconds histogram$/m);
    const buckets = [...r.text.matchAll(/^rearview_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)];
    assert.equal(buckets.at(-1)?.[1], '+Inf');
    const counts = buckets.map((m) => Number(m[2]));
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
    );
    assert.equal(String(counts.at(-1)), /^rearview_event_loop_delay_seconds_count (\d+)$/m.exec(r.text)?.[1]);
  });

  it('the OpenAPI document and the route table agree', async () => {
    const doc = JSON.parse((await curl([`${api.url}/api/v1/openapi.json`], scratch.dir)).text) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    const fromRouter = new Set(api.server.router.routes.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`));
    const fromDoc = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)));
    assert.deepEqual([...fromDoc].sort(), [...fromRouter].sort());
    // Every documented operation is really answered (not 404/501) by the server.
    for (const key of fromDoc) {
      const [method = '', path = ''] = key.split(' ');
      if (method !== 'get' || path.includes('{') || path === '/api/v1/events' || path === '/wipe-local-videos')
        continue;
      const r = await curl([`${api.url}${path}`], scratch.dir);
      assert.ok(r.status !== 404 && r.status !== 501, `${key}: ${r.status}`);
    }
    for (const must of [
      '/api/v1/status',
      '/api/v1/recordings',
      '/api/v1/recordings/{name}',
      '/api/v1/settings',
      '/api/v1/events',
      '/metrics',
      '/list-local-videos',
      '/download-video',
    ]) {
      assert.ok(doc.paths[must], must);
    }
  });

  it('GET / gives the web page to a browser and the greeting to curl; assets go to the web handler', async () => {
    const browser = await curl(['-H', 'Accept: text/html,application/xhtml+xml,*/*;q=0.8', `${api.url}/`], scratch.dir);
    assert.match(browser.text, /<!doctype html>/);
    const plain = await curl([`${api.url}/`], scratch.dir);
    assert.equal(plain.text, 'Welcome to Velovision Rearview');
    const asset = await curl([`${api.url}/assets/app.js`], scratch.dir);
    assert.equal(asset.status, 200);
  });
});
