/**
 * The /api/v1 answers of a real daemon (recording, one stream client
 * connected) have exactly the keys of the wire types in src/api/wire-types.ts,
 * which the client library and the web page read. Each sample below is typed
 * as its wire type, so the compiler proves the sample has every key of the
 * type and no other; the test proves the daemon's JSON has the sample's keys,
 * recursively, with values of the same JSON type.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type {
  ApiErrorDocument,
  RecordingDocument,
  RecordingsListDocument,
  RecordingsUsage,
  SettingsDocument,
  SettingsPatchResult,
  StatusDocument,
  StreamSlotPoolStatus,
} from '../../src/api/wire-types.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const usage: RecordingsUsage = { usedBytes: 1, freeBytes: 1, totalBytes: 1, files: 1 };
const pool: StreamSlotPoolStatus = {
  clients: 1,
  maxClients: 32,
  maxPerAddress: 4,
  behindLimitMs: 10_000,
  windowMs: 30_000,
  refused: { full: 0, 'per-address': 0, 'not-allowed': 0, 'not-streaming': 0, closing: 0 },
  evicted: 0,
  droppedBehind: 0,
};
const statusSample: StatusDocument = {
  version: 'v',
  cameraName: 'c',
  uptimeMs: 1,
  mode: 'simultaneous',
  activity: 'both',
  modeReason: 'r',
  windowEndsAtMs: 1,
  windowEndsAt: 'w',
  streamWindowMs: 1,
  stream: {
    source: 's',
    running: true,
    serving: true,
    width: 1,
    height: 1,
    resolution: 'r',
    fps: 1,
    bitrateBps: 1,
    measuredBitrateBps: 1,
    framesPublished: 1,
    clients: [{ kind: 'tcp', remote: 'r', connectedMs: 1, lagMs: 1, framesDropped: 1, bytesSent: 1, behindMs: 1 }],
    slots: { tcp: pool, ws: pool, webrtc: pool },
    webrtc: {
      maxViewers: 4,
      sessions: 0,
      refused: { offer: 0, full: 0, rate: 0, unavailable: 0 },
      keyframeRequests: 0,
      keyframesResent: 0,
      skips: 0,
      iceServers: 0,
    },
  },
  recording: {
    active: true,
    state: 'recording',
    reason: 'r',
    error: 'e',
    errorCode: 'c',
    currentSegment: 's',
    segmentMs: 1,
    profile: 'separate',
    width: 1,
    height: 1,
    resolution: 'r',
    bitrateBps: 1,
    thumbnails: { enabled: true, reason: 'r' },
  },
  disk: usage,
  publish: [],
  battery: { percent: 1, millivolts: 1, charging: true, gauge: 'max17048', gaugeError: 'e' },
  device: { backend: 'linux', reason: 'r' },
  temperatureC: 1,
  led: 'l',
  simulated: { battery: true, thermal: true, charging: true, led: true, button: true },
  downloads: { active: 1, max: 1 },
  eventClients: 1,
  clock: { set: true, source: 'ntp', reason: 'r', nowMs: 1, now: 'n' },
  upload: null,
};
const recordingSample: RecordingDocument = {
  name: 'n',
  startedAt: 's',
  modifiedAt: 'm',
  durationMs: 1,
  sizeBytes: 1,
  width: 1,
  height: 1,
  resolution: 'r',
  inProgress: true,
  protected: false,
  downloadUrl: 'd',
  mp4Url: 'm',
  thumbnailUrl: 't',
};
const listSample: RecordingsListDocument = { recordings: [recordingSample], usage };
const settingsSample: SettingsDocument = {
  resolution: 'r',
  video: { width: 1, height: 1, fps: 1, bitrateBps: 1, intraPeriod: 1, profile: 'baseline', level: 'l' },
  recordVideo: { width: 1, height: 1, fps: 1, bitrateBps: 1, intraPeriod: 1, profile: 'baseline', level: 'l' },
  segmentMs: 1,
  streamWindowMs: 1,
  maxFiles: 1,
  maxBytes: 1,
  minFreeBytes: 1,
  minFreePercent: 1,
  record: true,
  join: 'latest-keyframe',
  timestamps: true,
  cameraName: 'c',
  publish: [],
  webrtcIceServers: [],
  settingsFile: 'f',
  upload: null,
};
const patchSample: SettingsPatchResult = {
  ...settingsSample,
  applied: { restartedSource: true, restartRequired: ['k'] },
  changed: ['k'],
  restartRequired: ['k'],
};
const errorSample: ApiErrorDocument = { error: { code: 'c', message: 'm' } };

/**
 * Differences between the keys (and JSON value types) of `actual` and `sample`, as
 * readable lines. A null in `actual` is reported only at paths not listed in `nullable`.
 */
function shapeDifferences(sample: unknown, actual: unknown, nullable: readonly string[], path = '$'): string[] {
  if (actual === null) return sample === null || nullable.includes(path) ? [] : [`${path}: null`];
  if (Array.isArray(sample)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${typeof actual}`];
    // An empty list of objects shows no keys: the caller waits until there is an element.
    if (actual.length === 0) return typeof sample[0] === 'object' ? [`${path}: empty, nothing to compare`] : [];
    return actual.flatMap((item, i) => shapeDifferences(sample[0], item, nullable, `${path}[${i}]`));
  }
  if (typeof sample === 'object' && sample !== null) {
    if (typeof actual !== 'object' || Array.isArray(actual))
      return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    const want = Object.keys(sample).sort();
    const got = Object.keys(actual).sort();
    const lines = [
      ...got.filter((k) => !want.includes(k)).map((k) => `${path}.${k}: not in the wire type`),
      ...want.filter((k) => !got.includes(k)).map((k) => `${path}.${k}: missing from the answer`),
    ];
    for (const k of want.filter((key) => got.includes(key))) {
      lines.push(
        ...shapeDifferences(
          (sample as Record<string, unknown>)[k],
          (actual as Record<string, unknown>)[k],
          nullable,
          `${path}.${k}`,
        ),
      );
    }
    return lines;
  }
  return typeof actual === typeof sample ? [] : [`${path}: expected a ${typeof sample}, got ${JSON.stringify(actual)}`];
}

describe('/api/v1 answers have exactly the keys of the wire types', () => {
  let camera: InProcessDaemon;
  let base = '';
  let viewer: Socket;

  before(async () => {
    camera = await startDaemonInProcess({
      record: true,
      segmentMs: '1s',
      deviceBackend: 'simulated',
      minFreeBytes: 0,
      minFreePercent: 0,
    });
    base = `http://127.0.0.1:${(camera.daemon.apiAddress as { port: number }).port}`;
    viewer = connect(camera.streamPort, '127.0.0.1');
    viewer.on('data', () => undefined);
    await new Promise<void>((resolve, reject) => viewer.once('connect', resolve).once('error', reject));
  });
  after(async () => {
    viewer?.destroy();
    await camera?.close();
  });

  async function get(path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
    const res = await fetch(base + path, init);
    return { status: res.status, body: (await res.json()) as unknown };
  }

  it('GET /api/v1/status', async () => {
    // Wait for the figures that start as null: the measured bitrate and the stream client.
    let body: unknown;
    await waitFor(
      async () => {
        body = (await get('/api/v1/status')).body;
        const s = body as StatusDocument;
        return (
          s.stream.clients.length === 1 && s.stream.measuredBitrateBps !== null && s.recording.currentSegment !== null
        );
      },
      'a stream client, a measured bitrate and a segment being written',
      20_000,
      50,
    );
    // Simultaneous mode has no streaming window; thumbnails are on (no reason); recording, so no reason or
    // error; no web page without --web.
    const nullable = [
      '$.windowEndsAtMs',
      '$.windowEndsAt',
      '$.recording.thumbnails.reason',
      '$.recording.reason',
      '$.recording.error',
      '$.recording.errorCode',
      '$.stream.slots.ws',
      '$.battery.gaugeError',
      '$.clock.source',
      '$.clock.reason',
    ];
    assert.deepEqual(shapeDifferences(statusSample, body, nullable), []);
  });

  it('GET /api/v1/recordings', async () => {
    let body: unknown;
    await waitFor(
      async () => {
        body = (await get('/api/v1/recordings')).body;
        return (body as RecordingsListDocument).recordings.some((r) => !r.inProgress && r.thumbnailUrl !== null);
      },
      'a finished segment with its thumbnail',
      20_000,
      50,
    );
    // A thumbnail comes a moment after its segment (at least one entry has one, compared above);
    // the segment being written may not know its duration, start or size in pixels yet.
    const nullable = (body as RecordingsListDocument).recordings.flatMap((r, i) => [
      `$.recordings[${i}].thumbnailUrl`,
      ...(r.inProgress
        ? ['durationMs', 'startedAt', 'width', 'height', 'resolution'].map((k) => `$.recordings[${i}].${k}`)
        : []),
    ]);
    assert.deepEqual(shapeDifferences(listSample, body, nullable), []);
  });

  it('GET and PATCH /api/v1/settings', async () => {
    const { body } = await get('/api/v1/settings');
    assert.deepEqual(shapeDifferences(settingsSample, body, []), []);
    const patched = await get('/api/v1/settings', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ maxFiles: 500 }),
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(shapeDifferences(patchSample, patched.body, []), []);
  });

  it('an error', async () => {
    const { status, body } = await get('/api/v1/recordings/log9999.mkv');
    assert.equal(status, 404);
    assert.deepEqual(shapeDifferences(errorSample, body, []), []);
  });
});
