/**
 * Exclusive mode in the real daemon: port 5000 serves while the streaming
 * window is open and a client is connected; when the last client leaves the
 * camera records and port 5000 refuses clients; PUT /restart-stream-mode
 * reopens it and stops the recording. Waits on events and polls status with
 * deadlines (the window itself is tested with a fake clock in
 * mode-controller.test.ts; here it is 60 s and never expires).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import type { StatusDocument } from '../../src/api/status-document.js';
import { RearviewDaemon } from '../../src/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

async function status(base: string): Promise<StatusDocument> {
  return (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDocument;
}

/** Connects to port 5000 and resolves with the bytes received before close, or once `enough` bytes arrived. */
function streamClient(
  port: number,
  enough: number,
): { socket: Socket; result: Promise<{ bytes: number; closed: boolean }> } {
  const socket = connect(port, '127.0.0.1');
  const result = new Promise<{ bytes: number; closed: boolean }>((resolve) => {
    let bytes = 0;
    socket.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes >= enough) resolve({ bytes, closed: false });
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ bytes, closed: true }));
  });
  return { socket, result };
}

/** The error code of a connection attempt to `port` ('' when it connected). */
function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('exclusive mode in the daemon', () => {
  const scratch = scratchDir('rearview-exclusive-');
  let daemon: RearviewDaemon;
  let base = '';
  let streamPort = 0;

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
    base = `http://127.0.0.1:${daemon.apiAddress!.port}`;
    streamPort = daemon.streamAddress!.port;
  });
  after(async () => {
    await daemon?.close();
    scratch.cleanup();
  });

  it('starts streaming with a window and without recording', async () => {
    const s = await status(base);
    assert.equal(s.mode, 'exclusive');
    assert.equal(s.activity, 'streaming');
    assert.equal(s.modeReason, 'start-up');
    assert.ok((s.windowEndsAtMs ?? 0) > Date.now());
    await waitFor(
      async () => (await status(base)).recording.active === false,
      'the start-up recorder to stop',
      15_000,
      20,
    );
  });

  it('serves a client; the last client leaving switches to recording and port 5000 refuses', async () => {
    const first = streamClient(streamPort, 10_000);
    const got = await first.result;
    assert.equal(got.closed, false, 'the stream is served in the window');
    await waitFor(async () => (await status(base)).windowEndsAtMs === null, 'the client to be counted', 15_000, 20);
    first.socket.destroy();
    await waitFor(async () => (await status(base)).activity === 'recording', 'recording', 15_000, 20);
    const s = await status(base);
    assert.equal(s.modeReason, 'last stream client left');
    assert.equal(s.stream.serving, false);
    assert.equal(await (await fetch(`${base}/camera-stream-status`)).text(), 'false');
    // Nothing listens on the stream port while recording (the device ran no stream server then).
    await waitFor(async () => (await connectError(streamPort)) === 'ECONNREFUSED', 'port 5000 closed', 15_000, 20);
    await waitFor(
      async () =>
        (await status(base)).recording.active === true && readdirSync(scratch.dir).some((f) => f.endsWith('.mkv')),
      'a segment being recorded',
      15_000,
      20,
    );
  });

  it('PUT /restart-stream-mode reopens the stream and stops recording', async () => {
    const r = await fetch(`${base}/restart-stream-mode`, { method: 'PUT' });
    assert.equal(await r.text(), 'Restarted streaming mode');
    const s = await status(base);
    assert.equal(s.activity, 'streaming');
    assert.equal(s.modeReason, 'restart-stream-mode request');
    await waitFor(
      async () => (await status(base)).recording.active === false,
      'recording stopped while streaming',
      15_000,
      20,
    );
    await waitFor(async () => (await connectError(streamPort)) === '', 'port 5000 open again', 15_000, 20);
    await waitFor(async () => (await status(base)).activity === 'recording', 'the probe client left', 15_000, 20);
    await fetch(`${base}/restart-stream-mode`, { method: 'PUT' });
    const c = streamClient(streamPort, 10_000);
    assert.equal((await c.result).closed, false);
    c.socket.destroy();
    await waitFor(
      async () => (await status(base)).activity === 'recording',
      'recording again after the client left',
      15_000,
      20,
    );
  });
});
