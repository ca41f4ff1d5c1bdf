/**
 * PATCH /api/v1/settings applied to the running daemon. Round 1 only
 * restarted the source for video.*: segment length, rotation limits and
 * the rest were saved but ignored until the next start, and the answer did
 * not say so. Proves, against a real daemon (simultaneous mode, recording
 * on): segmentMs and rotation limits reach the running recorder (a rotation
 * pass deletes the oldest segments at once), streamWindowMs the mode
 * controller, record pauses/resumes the recorder, join reaches the web live
 * view, and keys that cannot apply live come back in `restartRequired`.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiService } from '../../src/api/api-service.js';
import type { SettingsPatchResult } from '../../src/api/settings-store.js';
import type { StatusDocument } from '../../src/api/status-document.js';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { RearviewDaemon } from '../../src/daemon.js';
import type { RecorderService } from '../../src/recorder/recorder-service.js';
import { scratchDir } from '../support/paths.js';

async function patch(base: string, body: unknown): Promise<SettingsPatchResult> {
  const r = await fetch(`${base}/api/v1/settings`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as SettingsPatchResult;
  assert.equal(r.status, 200, JSON.stringify(json));
  return json;
}

describe('settings applied live', () => {
  const scratch = scratchDir('rearview-settings-live-');
  const recordings = join(scratch.dir, 'recordings');
  let daemon: RearviewDaemon;
  let base = '';
  let recorder: RecorderService['recorder'];
  let api: ApiService;

  before(async () => {
    // Old segments from an earlier run: rotation limits are tested on them.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(recordings, { recursive: true });
    for (let n = 1; n <= 5; n++) writeFileSync(join(recordings, `log000${n}.mkv`), Buffer.alloc(1000));
    const config = mergeConfig(defaultConfig(), {
      streamPort: 0,
      apiPort: 0,
      bind: '127.0.0.1',
      recordingsDir: recordings,
      mdns: false,
      deviceBackend: 'simulated',
      minFreeBytes: 0,
      minFreePercent: 0,
    });
    daemon = new RearviewDaemon(config, { configFile: join(scratch.dir, 'rearview.json') });
    await daemon.start();
    base = `http://127.0.0.1:${daemon.apiAddress!.port}`;
    recorder = (daemon.services.find((s) => s.name === 'recorder') as RecorderService).recorder;
    api = daemon.services.find((s) => s.name === 'api') as ApiService;
  });
  after(async () => {
    await daemon?.close();
    scratch.cleanup();
  });

  it('segmentMs and streamWindowMs apply at once; nothing waits for a restart', async () => {
    const r = await patch(base, { segmentMs: '5s', streamWindowMs: '90s' });
    assert.deepEqual(r.changed, ['segmentMs', 'streamWindowMs']);
    assert.deepEqual(r.restartRequired, []);
    assert.deepEqual(r.applied, { restartedSource: false, restartRequired: [] });
    assert.equal(recorder.settings.segmentMs, 5000);
    assert.equal(api.modes?.streamWindowMs, 90_000);
    const status = (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDocument;
    assert.equal(status.recording.segmentMs, 5000);
  });

  it('rotation limits reach the running recorder and rotate at once', async () => {
    assert.ok(existsSync(join(recordings, 'log0001.mkv')));
    const r = await patch(base, { maxFiles: 3 });
    assert.deepEqual(r.restartRequired, []);
    assert.equal(recorder.settings.limits.maxFiles, 3);
    // The answer comes after the rotation pass: the oldest segments are gone.
    assert.equal(existsSync(join(recordings, 'log0001.mkv')), false);
    assert.equal(existsSync(join(recordings, 'log0002.mkv')), false);
  });

  it('record pauses and resumes the same recorder', async () => {
    let r = await patch(base, { record: false });
    assert.deepEqual(r.restartRequired, []);
    assert.equal(recorder.isPaused, true);
    r = await patch(base, { record: true });
    assert.deepEqual(r.restartRequired, []);
    assert.equal(recorder.isPaused, false);
  });

  it('join reaches the web live view and is listed for port 5000; timestamps and cameraName need a restart', async () => {
    const r = await patch(base, { join: 'next-keyframe', timestamps: false, cameraName: 'bike' });
    assert.deepEqual(r.changed, ['join', 'timestamps', 'cameraName']);
    assert.deepEqual(r.restartRequired, ['join', 'timestamps', 'cameraName']);
    assert.equal((api as unknown as { web: { ws: { join: string } } }).web.ws.join, 'next-keyframe');
  });
});

describe('settings applied live, started without recording', () => {
  const scratch = scratchDir('rearview-settings-norec-');
  let daemon: RearviewDaemon;
  after(async () => {
    await daemon?.close();
    scratch.cleanup();
  });

  it('turning record on needs a restart (there is no recorder to resume)', async () => {
    const config = mergeConfig(defaultConfig(), {
      streamPort: 0,
      apiPort: 0,
      bind: '127.0.0.1',
      recordingsDir: join(scratch.dir, 'rec'),
      mdns: false,
      deviceBackend: 'simulated',
      record: false,
    });
    daemon = new RearviewDaemon(config, { configFile: join(scratch.dir, 'rearview.json') });
    await daemon.start();
    const base = `http://127.0.0.1:${daemon.apiAddress!.port}`;
    const r = await patch(base, { record: true, segmentMs: '10s' });
    assert.deepEqual(r.restartRequired, ['record']);
    assert.equal(daemon.config.record, true, 'saved and in the config for the next start');
  });
});
