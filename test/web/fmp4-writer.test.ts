/**
 * The page's fragmented-MP4 writer (MSE fallback), checked with independent
 * tools: the sample clip written as init segment + one fragment per frame is
 * read back by ffprobe (codec, size, frame count, keyframes, timestamps) and
 * decoded by ffmpeg without errors. Also the clock-offset estimator and the
 * tolerant readers of the API's JSON, which run in the page.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FMP4_TIMESCALE, initSegment, mediaSegment } from '../../src/web/fmp4-writer.js';
import { ClockSync } from '../../src/web/clock-sync.js';
import type { RecordingDocument } from '../../src/api/wire-types.js';
import { toRecordingView } from '../../src/web/web-api.js';
import { statusRows } from '../../src/web/status-panel.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

describe('fmp4-writer', () => {
  it('writes fragments that ffprobe reads back frame for frame and ffmpeg decodes cleanly', (t) => {
    const { dir, cleanup } = scratchDir('rearview-fmp4-');
    t.after(cleanup);
    const aus = accessUnitsOfFile(samplePath).slice(0, 90);
    const first = aus[0]!;
    const sps = first.nals.find((n) => n.type === 7)!.data;
    const pps = first.nals.find((n) => n.type === 8)!.data;
    const parts: Uint8Array[] = [initSegment({ width: 640, height: 360, sps, pps })];
    aus.forEach((au, i) => {
      parts.push(
        mediaSegment({
          sequence: i + 1,
          decodeTime90k: i * 3000,
          duration90k: 3000,
          isKey: au.isKey,
          nals: au.nals.filter((n) => n.type !== 7 && n.type !== 8 && n.type !== 9).map((n) => n.data),
        }),
      );
    });
    const file = join(dir, 'live.mp4');
    writeFileSync(file, Buffer.concat(parts));

    const probe = spawnSync(
      requireTool('ffprobe'),
      [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-count_frames',
        '-show_entries',
        'stream=codec_name,profile,width,height,nb_read_frames,time_base:packet=pts,flags',
        '-of',
        'json',
        file,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const info = JSON.parse(probe.stdout) as {
      streams: Array<{
        codec_name: string;
        profile: string;
        width: number;
        height: number;
        nb_read_frames: string;
        time_base: string;
      }>;
      packets: Array<{ pts: number; flags: string }>;
    };
    const s = info.streams[0]!;
    assert.deepEqual([s.codec_name, s.profile, s.width, s.height], ['h264', 'Constrained Baseline', 640, 360]);
    assert.equal(s.time_base, `1/${FMP4_TIMESCALE}`);
    assert.equal(Number(s.nb_read_frames), 90);
    assert.deepEqual(
      info.packets.map((p) => p.pts),
      aus.map((_, i) => i * 3000),
    );
    assert.deepEqual(
      info.packets.map((p) => p.flags.startsWith('K')),
      aus.map((au) => au.isKey),
    );

    const decode = spawnSync(requireTool('ffmpeg'), ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-'], {
      encoding: 'utf8',
    });
    assert.equal(decode.status, 0, decode.stderr);
    assert.equal(decode.stderr.trim(), '', 'no decode errors');
  });

  it('writes 64-bit decode times past 2^32', () => {
    const seg = mediaSegment({
      sequence: 1,
      decodeTime90k: 2 ** 33 + 5,
      duration90k: 3000,
      isKey: true,
      nals: [Uint8Array.of(0x65, 1, 2)],
    });
    const text = Buffer.from(seg).toString('latin1');
    const at = text.indexOf('tfdt');
    const view = new DataView(seg.buffer, seg.byteOffset + at + 8);
    assert.equal(view.getUint32(0), 2);
    assert.equal(view.getUint32(4), 5);
  });
});

describe('ClockSync', () => {
  it('takes the offset from the ping with the smallest round trip', () => {
    let browserMs = 1000;
    const clock = new ClockSync(8, () => browserMs);
    assert.equal(clock.offsetMs, undefined);
    // Camera clock = browser + 5000 ms. Slow ping: 100 ms round trip, asymmetric.
    const slow = clock.ping();
    browserMs += 80;
    const cameraAtSlow = browserMs + 5000;
    browserMs += 20;
    clock.pong(slow.id, cameraAtSlow);
    assert.equal(clock.rttMs, 100);
    assert.equal(clock.offsetMs, 5000 + 30); // off by the asymmetry, within rtt/2
    const fast = clock.ping();
    browserMs += 2;
    clock.pong(fast.id, browserMs + 5000 - 1);
    assert.equal(clock.rttMs, 2);
    assert.equal(clock.offsetMs, 5000);
    assert.equal(clock.correctionMs, 5000);
    assert.equal(clock.cameraNowMs(), browserMs + 5000);
    clock.pong(999, 0); // unknown id: ignored
    assert.equal(clock.offsetMs, 5000);
    clock.reset();
    assert.equal(clock.offsetMs, undefined);
    assert.equal(clock.correctionMs, 0);
  });

  it('applies no correction while the offset is within its uncertainty', () => {
    // Regression: the page showed a latency of -15 ms on the camera's own
    // machine because one slow pong (busy page while the first pictures
    // decoded) made the clocks look 18 ms apart.
    let browserMs = 0;
    const clock = new ClockSync(8, () => browserMs);
    const p = clock.ping();
    browserMs += 40;
    clock.pong(p.id, 2); // same clock, reply stamped early, received late
    assert.equal(clock.offsetMs, -18);
    assert.equal(clock.correctionMs, 0);
    assert.equal(clock.cameraNowMs(), browserMs);
  });
});

describe('page readers of the API JSON', () => {
  it('reads a /api/v1/recordings entry', () => {
    const r = toRecordingView({
      name: 'log0007.mkv',
      startedAt: '2026-11-24T10:00:00.000Z',
      modifiedAt: '2026-11-24T10:01:00.000Z',
      durationMs: 60_000,
      sizeBytes: 61_000_000,
      width: 1280,
      height: 720,
      resolution: '1280x720',
      inProgress: false,
      protected: false,
      downloadUrl: '/api/v1/recordings/log0007.mkv',
      mp4Url: '/api/v1/recordings/log0007.mp4',
      thumbnailUrl: '/api/v1/recordings/log0007_1764000000.jpg',
    })!;
    assert.equal(r.startedAtMs, Date.parse('2026-11-24T10:00:00.000Z'));
    assert.deepEqual([r.durationMs, r.sizeBytes, r.width, r.height], [60_000, 61_000_000, 1280, 720]);
    assert.equal(r.playUrl, '/api/v1/recordings/log0007.mp4');
    assert.equal(r.downloadUrl, '/api/v1/recordings/log0007.mp4');
    assert.equal(r.mkvUrl, '/api/v1/recordings/log0007.mkv');
    assert.equal(r.deleteUrl, '/api/v1/recordings/log0007.mkv');
    assert.equal(
      toRecordingView({ nothing: 1 } as unknown as RecordingDocument),
      undefined,
      'an entry without a name is skipped',
    );
  });

  it('turns a /api/v1/status document into labelled rows', () => {
    const rows = Object.fromEntries(
      statusRows({
        mode: 'exclusive',
        activity: 'streaming',
        modeReason: 'start-up',
        windowEndsAtMs: Date.UTC(2026, 10, 24, 10, 0, 0),
        battery: { percent: 87, millivolts: 4080, charging: false },
        temperatureC: 48.3,
        stream: { clients: [{}, {}], resolution: '640x360', fps: 30, measuredBitrateBps: 990_000 },
        recording: { active: false, currentSegment: null },
        disk: { usedBytes: 2_000_000, freeBytes: 3e9, totalBytes: 3.2e10 },
        uptimeMs: 3_900_000,
        version: '0.1.0',
        simulated: { battery: true, thermal: false },
      }),
    );
    assert.equal(rows.Mode, 'exclusive');
    assert.equal(rows.Now, 'streaming (start-up)');
    assert.ok(rows['Streaming window ends']);
    assert.equal(rows.Battery, '87 %');
    assert.equal(rows['Battery voltage'], '4.08 V');
    assert.equal(rows.Charging, 'no');
    assert.equal(rows.Temperature, '48.3 °C');
    assert.equal(rows['Stream clients'], '2');
    assert.equal(rows.Resolution, '640×360');
    assert.equal(rows.Bitrate, '0.99 Mbit/s');
    assert.equal(rows.Recording, 'not recording');
    assert.equal(rows['Disk free'], '3.0 GB of 32 GB');
    assert.equal(rows.Uptime, '1 h 5 min');
    assert.equal(rows['Simulated hardware'], 'battery');
  });

  it('shows each publishing target in one row, with the error while it does not publish', () => {
    const rows = statusRows({
      publish: [
        { url: 'rtsp://***:***@media.example/ride/cam-1', state: 'publishing', lastError: 'old' },
        { url: 'srt://ingest.example:9000?passphrase=***', state: 'retrying', lastError: 'connection refused' },
      ],
    }).filter(([label]) => label === 'Publishing');
    assert.deepEqual(
      rows.map(([, text]) => text),
      [
        'rtsp://***:***@media.example/ride/cam-1: publishing',
        'srt://ingest.example:9000?passphrase=***: retrying (connection refused)',
      ],
    );
  });
});
