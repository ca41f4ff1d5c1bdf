/**
 * Exclusive mode and the web page's live view (WebSocket /api/v1/live) in
 * the real daemon. Round 1 gated only port 5000: the live view kept
 * streaming while the camera recorded and did not hold the window open.
 * Proves: a WebSocket client is counted as a stream client (window
 * cleared while it is connected, its leaving switches to recording), the
 * live view is refused with 503 while recording, and the daemon's one
 * recorder is paused and resumed (never replaced). Polls status with
 * deadlines; the window (60 s) never expires here.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { ApiService } from '../../src/api/api-service.js';
import { LIVE_WS_PATH } from '../../src/api/web-mount.js';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import type { StatusDocument } from '../../src/api/status-document.js';
import { RearviewDaemon } from '../../src/daemon.js';
import type { RecorderService } from '../../src/recorder/recorder-service.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

async function status(base: string): Promise<StatusDocument> {
  return (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDocument;
}

/** Opens the live view; resolves once it has received `frames` binary messages. */
async function liveClient(port: number, frames: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${LIVE_WS_PATH}`);
  let n = 0;
  const enough = new Promise<void>((resolve, reject) => {
    ws.on('message', (_d, isBinary) => {
      if (isBinary && ++n >= frames) resolve();
    });
    ws.on('error', reject);
    ws.on('close', () => reject(new Error(`closed after ${n} frames`)));
  });
  await enough;
  return ws;
}

/** The HTTP status a refused upgrade answered with. */
function refusedStatus(port: number): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${LIVE_WS_PATH}`);
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the live view was accepted while recording'));
    });
    ws.on('error', () => undefined);
  });
}

describe('exclusive mode gates the web live view too', () => {
  const scratch = scratchDir('rearview-exclusive-ws-');
  let daemon: RearviewDaemon;
  let base = '';
  let apiPort = 0;
  let recorderService: RecorderService;

  before(async () => {
    const config = mergeConfig(defaultConfig(), {
      mode: 'exclusive',
      streamWindowMs: '60s',
      streamPort: 0,
      apiPort: 0,
      bind: '127.0.0.1',
      recordingsDir: scratch.dir,
      mdns: false,
      deviceBackend: 'simulated',
      segmentMs: '2s',
      minFreeBytes: 0,
      minFreePercent: 0,
    });
    daemon = new RearviewDaemon(config);
    await daemon.start();
    apiPort = daemon.apiAddress!.port;
    base = `http://127.0.0.1:${apiPort}`;
    recorderService = daemon.services.find((s) => s.name === 'recorder') as RecorderService;
    assert.ok(daemon.services.find((s) => s.name === 'api') instanceof ApiService);
  });
  after(async () => {
    await daemon?.close();
    scratch.cleanup();
  });

  it('pauses the recorder during the start-up window', async () => {
    await waitFor(() => recorderService.recorder.isPaused, 'the recorder paused', 15_000, 20);
    assert.equal((await status(base)).recording.active, false);
  });

  it('counts a live-view client as a stream client; its leaving switches to recording', async () => {
    const ws = await liveClient(apiPort, 5);
    await waitFor(
      async () => (await status(base)).windowEndsAtMs === null,
      'the client to hold the window open',
      15_000,
      20,
    );
    const s = await status(base);
    assert.equal(s.activity, 'streaming');
    assert.equal(s.modeReason, 'client connected');
    ws.close();
    await once(ws, 'close');
    await waitFor(async () => (await status(base)).activity === 'recording', 'recording', 15_000, 20);
    assert.equal((await status(base)).modeReason, 'last stream client left');
    assert.equal(recorderService.recorder.isPaused, false, 'the same recorder resumed');
    await waitFor(
      async () =>
        (await status(base)).recording.active === true && readdirSync(scratch.dir).some((f) => f.endsWith('.mkv')),
      'a segment being recorded',
      15_000,
      20,
    );
  });

  it('refuses the live view with 503 while recording', async () => {
    assert.equal(await refusedStatus(apiPort), 503);
    assert.equal((await status(base)).activity, 'recording', 'a refused client does not reopen the stream');
  });

  it('PUT /restart-stream-mode reopens the live view and pauses the same recorder', async () => {
    const before = recorderService.recorder;
    assert.equal(
      await (await fetch(`${base}/restart-stream-mode`, { method: 'PUT' })).text(),
      'Restarted streaming mode',
    );
    await waitFor(async () => (await status(base)).recording.active === false, 'recording paused', 15_000, 20);
    assert.equal(recorderService.recorder, before);
    assert.equal(before.isPaused, true);
    const ws = await liveClient(apiPort, 3);
    ws.close();
    await once(ws, 'close');
    await waitFor(
      async () => (await status(base)).activity === 'recording',
      'recording again after the live view left',
      15_000,
      20,
    );
  });

  it('a stream window shortened over PATCH /api/v1/settings applies to the next window', async () => {
    const patched = await fetch(`${base}/api/v1/settings`, {
      method: 'PATCH',
      body: JSON.stringify({ streamWindowMs: '1s' }),
    });
    assert.deepEqual(((await patched.json()) as { restartRequired: string[] }).restartRequired, []);
    await fetch(`${base}/restart-stream-mode`, { method: 'PUT' });
    const s = await status(base);
    assert.equal(s.activity, 'streaming');
    const endsInMs = (s.windowEndsAtMs ?? Number.NaN) - Date.now();
    assert.ok(endsInMs <= 1000, `window of 1 s, ends in ${endsInMs} ms`);
    await waitFor(
      async () => (await status(base)).activity === 'recording',
      'the 1 s window to expire without a client',
      15_000,
      20,
    );
    assert.equal((await status(base)).modeReason, 'no stream client within 1 s');
    assert.equal(await refusedStatus(apiPort), 503);
  });
});
