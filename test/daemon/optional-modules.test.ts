/**
 * The camera has 512 MB: the code of optional features loads only when they
 * are configured (or, for WebRTC, when the first viewer comes). A real
 * `rearview serve` child, recording, with the module log of
 * support/module-load-log.ts preloaded: with nothing configured it has loaded
 * no publishing, upload or WebRTC module and has not mapped libdatachannel's
 * addon; configured, the same checks see those modules load (so the log is
 * known to see lazy imports).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import ndc from 'node-datachannel';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { repoRoot, scratchDir } from '../support/paths.js';

const preload = pathToFileURL(join(repoRoot, 'dist', 'test', 'support', 'module-load-log.js')).href;

/** The publishing and upload modules, as they appear in module URLs. */
const PUBLISH = ['/src/outputs/publish-service.js', '/src/outputs/publisher.js', '/src/outputs/flv-writer.js'];
const UPLOAD = ['/src/upload/upload-service.js', '/src/upload/uploader.js', '/src/upload/s3-client.js'];
const WEBRTC = '/node_modules/node-datachannel/';
const ADDON = 'node_datachannel.node';

async function serveWithLog(
  args: string[],
): Promise<{ serve: ServeProcess; modules: () => string[]; maps: () => string; cleanup: () => Promise<void> }> {
  const scratch = scratchDir('rearview-modules-');
  const log = join(scratch.dir, 'modules.log');
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim(),
    REARVIEW_TEST_MODULE_LOG: log,
    AWS_ACCESS_KEY_ID: 'test-key',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
  };
  const serve = await startServe(
    ['--source', 'sample', '--bind', '127.0.0.1', '--recordings', join(scratch.dir, 'recordings'), '--no-mdns']
      .concat(['--stream-port', '0', '--api-port', '0'])
      .concat(args),
    { env, rawArgs: true, waitForApi: true },
  );
  return {
    serve,
    modules: () => readFileSync(log, 'utf8').split('\n'),
    maps: () => readFileSync(`/proc/${serve.process.pid}/maps`, 'utf8'),
    cleanup: async () => {
      await serve.close();
      scratch.cleanup();
    },
  };
}

const loaded = (modules: string[], part: string): boolean => modules.some((m) => m.includes(part));

/** A recvonly H.264 offer made by node-datachannel in this process, as a WHEP viewer sends it. */
async function makeOffer(pc: ndc.PeerConnection): Promise<string> {
  const video = new ndc.Video('0', 'RecvOnly');
  video.addH264Codec(102, 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
  pc.addTrack(video);
  const gathered = new Promise<void>((resolve) =>
    pc.onGatheringStateChange((state) => {
      if (state === 'complete') resolve();
    }),
  );
  pc.setLocalDescription();
  if (pc.gatheringState() !== 'complete') await gathered;
  return pc.localDescription()?.sdp ?? '';
}

test('nothing configured: no publishing, upload or WebRTC code loaded; the first WHEP viewer loads WebRTC', async () => {
  const d = await serveWithLog([]);
  const pc = new ndc.PeerConnection('optional-modules-test', { iceServers: [] });
  try {
    const base = `http://127.0.0.1:${d.serve.apiPort}`;
    const status = (await (await fetch(`${base}/api/v1/status`)).json()) as { publish: unknown[]; upload: unknown };
    assert.deepEqual(status.publish, []);
    assert.equal(status.upload, null);
    const modules = d.modules();
    assert.ok(loaded(modules, '/src/daemon.js'), 'the log sees the daemon modules');
    assert.ok(loaded(modules, '/src/outputs/webrtc-output.js'), 'the WHEP route is there');
    for (const m of [...PUBLISH, ...UPLOAD, WEBRTC])
      assert.ok(!loaded(modules, m), `${m} loaded without being configured`);
    assert.ok(!d.maps().includes(ADDON), `${ADDON} mapped with no WebRTC viewer`);

    // The first viewer brings the stack (the positive control of the two checks above).
    const res = await fetch(`${base}/api/v1/whep`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: await makeOffer(pc),
    });
    assert.equal(res.status, 201, await res.text());
    assert.ok(loaded(d.modules(), WEBRTC), 'node-datachannel loaded for the viewer');
    assert.ok(d.maps().includes(ADDON), `${ADDON} mapped for the viewer`);
    await fetch(base + (res.headers.get('location') ?? ''), { method: 'DELETE' });
  } finally {
    pc.close();
    await d.cleanup();
  }
});

test('publishing and uploads configured: their modules load, WebRTC still does not', async () => {
  // Nothing listens on port 9 (discard) here: the publisher and the uploader retry, which is enough.
  const d = await serveWithLog([
    '--publish',
    'rtsp://127.0.0.1:9/live/cam',
    '--upload',
    's3://rides/cam',
    '--upload-endpoint',
    'http://127.0.0.1:9',
    '--upload-insecure',
    '--upload-path-style',
    '--upload-when',
    'always',
  ]);
  try {
    const modules = d.modules();
    for (const m of [...PUBLISH.slice(0, 2), ...UPLOAD]) assert.ok(loaded(modules, m), `${m} not loaded`);
    assert.ok(!loaded(modules, WEBRTC), 'node-datachannel loaded with no WebRTC viewer');
    assert.ok(!d.maps().includes(ADDON));
  } finally {
    await d.cleanup();
  }
});
