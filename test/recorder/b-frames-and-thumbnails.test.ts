/**
 * Main/High profile with B-frames: the recorded MKV must show the same
 * pictures in the same order as the source (frames reordered by picture
 * order count, not left in decode order), and thumbnails must decode Main
 * and High keyframes with the system ffmpeg; without an ffmpeg, thumbnails
 * are off with one warning and the status says why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { ThumbnailMaker } from '../../src/recorder/thumbnails.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { decodeErrors, HubFeeder, probe, noLimits, recordFrames } from './recording-fixtures.js';

/** Encodes a short test clip with x264 through ffmpeg (Annex-B, SPS/PPS before each IDR). */
function encode(path: string, profile: 'main' | 'high', size: string, seconds: number, bframes: number): void {
  const r = spawnSync(requireTool('ffmpeg'), [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=30`,
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-profile:v',
    profile,
    '-bf',
    String(bframes),
    '-g',
    '30',
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-b:v',
    '2M',
    '-x264-params',
    'repeat-headers=1',
    '-bsf:v',
    'h264_mp4toannexb',
    '-f',
    'h264',
    path,
  ]);
  assert.equal(r.status, 0, r.stderr?.toString());
}

/** MD5 of every decoded picture, in output (presentation) order. */
function pictureHashes(path: string, format?: string): string[] {
  const r = spawnSync(
    requireTool('ffmpeg'),
    ['-v', 'error', ...(format ? ['-f', format] : []), '-i', path, '-fps_mode', 'passthrough', '-f', 'framemd5', '-'],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',').pop()?.trim() ?? '');
}

test('High profile with B-frames: recorded pictures match the source in presentation order', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const src = join(dir, 'high.h264');
    encode(src, 'high', '640x360', 3, 3);
    const parsed = parseAnnexB(readFileSync(src));
    assert.ok(
      parsed.accessUnits.some((au) => au.sliceTypes.includes(1)),
      'the clip has B slices',
    );
    await recordFrames(new HubFeeder(parsed.accessUnits, 30), dir, parsed.accessUnits.length);
    const mkv = join(dir, 'log0000.mkv');
    assert.equal(decodeErrors(mkv), '');
    const p = probe(mkv);
    assert.equal(p.frames, 90);
    assert.ok(Math.abs(p.durationS - 3) <= 1 / 30 + 1e-3, `duration ${p.durationS}`);
    assert.deepEqual(pictureHashes(mkv), pictureHashes(src, 'h264'), 'same pictures in the same order');
    // The decoder outputs pictures in POC order whatever the container says: the timestamps must agree,
    // one frame interval apart (with decode-order timestamps they would jump back and forth).
    const r = spawnSync(
      requireTool('ffprobe'),
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', mkv],
      { encoding: 'utf8' },
    );
    const pts = r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => Number(l.split(',')[0]));
    assert.equal(pts.length, 90);
    for (let i = 1; i < pts.length; i++) {
      const step = (pts[i] as number) - (pts[i - 1] as number);
      assert.ok(Math.abs(step - 1 / 30) <= 0.0015, `frame ${i}: pts step ${step.toFixed(4)} s`);
    }
    assert.equal(pts[0], 0, 'rebased to zero at the first keyframe');
  } finally {
    cleanup();
  }
});

test('thumbnails of Main and High profile keyframes, with the system ffmpeg', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    for (const profile of ['main', 'high'] as const) {
      const src = join(dir, `${profile}.h264`);
      encode(src, profile, '1280x720', 1, 2);
      const key = parseAnnexB(readFileSync(src)).accessUnits.find((au) => au.isKey);
      assert.ok(key);
      const bytes = readFileSync(src).subarray(key.offset, key.offset + key.byteLength);
      for (const [label, ffmpegPath] of [['system', requireTool('ffmpeg')]] as const) {
        const maker = new ThumbnailMaker({ ffmpegPath });
        const out = join(dir, `${profile}-${label}.jpg`);
        maker.request({ annexB: bytes, path: out });
        await maker.whenIdle();
        await maker.close();
        assert.deepEqual(
          maker.stats,
          { made: 1, failed: 0, skipped: 0, unavailable: 0, discarded: 0 },
          `${profile} with the ${label} ffmpeg`,
        );
        const jpeg = readFileSync(out);
        assert.equal(jpeg.readUInt16BE(0), 0xffd8, 'JPEG SOI marker');
        assert.ok(statSync(out).size > 5000);
        const probeR = spawnSync(
          requireTool('ffprobe'),
          ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', out],
          { encoding: 'utf8' },
        );
        assert.equal(probeR.stdout.trim(), '1280,720');
      }
    }
    assert.ok(!readdirSync(dir).some((n) => n.endsWith('.part')), 'no temporary files left');
  } finally {
    cleanup();
  }
});

test('thumbnail queue of one: a burst of requests makes the first and the latest, skips the rest', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const src = join(dir, 'main.h264');
    encode(src, 'main', '320x240', 1, 0);
    const key = parseAnnexB(readFileSync(src)).accessUnits.find((au) => au.isKey);
    assert.ok(key);
    const bytes = readFileSync(src).subarray(key.offset, key.offset + key.byteLength);
    const maker = new ThumbnailMaker({ ffmpegPath: requireTool('ffmpeg') });
    for (let i = 0; i < 5; i++) maker.request({ annexB: bytes, path: join(dir, `t${i}.jpg`) });
    await maker.whenIdle();
    await maker.close();
    assert.deepEqual(maker.stats, { made: 2, failed: 0, skipped: 3, unavailable: 0, discarded: 0 });
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith('.jpg'))
        .sort(),
      ['t0.jpg', 't4.jpg'],
    );
    // Garbage in: a failure is counted, never thrown.
    const bad = new ThumbnailMaker({ ffmpegPath: requireTool('ffmpeg') });
    bad.request({ annexB: new Uint8Array([0, 0, 0, 1, 0x65, 1, 2, 3]), path: join(dir, 'bad.jpg') });
    await bad.whenIdle();
    assert.equal(bad.stats.failed, 1);
  } finally {
    cleanup();
  }
});

// Regression (F6): the temporary `<name>.jpg.part` was only removed when the final rename failed, so
// an ffmpeg that wrote the file and then failed (or was killed by the timeout) left a .part on the
// card for ever; the recorder now also sweeps stale .part files at start-up.
test('a failed or timed-out thumbnail leaves no .part file; the recorder sweeps stale ones at start-up', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    // A fake ffmpeg that writes part of its output (to stdout: ffmpeg never gets a path), then fails (exit 1) or hangs until killed.
    const fake = (name: string, tail: string): string => {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\ncat > /dev/null\nprintf partial\n${tail}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const failing = new ThumbnailMaker({ ffmpegPath: fake('ffmpeg-exit1', 'exit 1') });
    failing.request({ annexB: new Uint8Array([0, 0, 0, 1, 0x65]), path: join(dir, 'log0000_1.jpg') });
    await failing.whenIdle();
    assert.equal(failing.stats.failed, 1);
    const hanging = new ThumbnailMaker({ ffmpegPath: fake('ffmpeg-hang', 'exec sleep 60'), timeoutMs: 300 });
    hanging.request({ annexB: new Uint8Array([0, 0, 0, 1, 0x65]), path: join(dir, 'log0001_1.jpg') });
    await hanging.whenIdle();
    assert.equal(hanging.stats.failed, 1);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('.jpg')),
      [],
      'no .part and no thumbnail left',
    );

    // Left by an older version or a power cut: removed when the recorder starts.
    const rec = join(dir, 'rec');
    mkdirSync(rec);
    writeFileSync(join(rec, 'log0003_1700000000.jpg.part'), 'x');
    writeFileSync(join(rec, '.recording.json.tmp'), '{');
    writeFileSync(join(rec, '.recorder-state.json.0123456789abcdef.tmp'), '{');
    writeFileSync(join(rec, 'log0003_1700000000.jpg.0123456789abcdef.part'), 'x');
    // Regression: the sweep removed every *.part, including other programs' files in a shared folder.
    writeFileSync(join(rec, 'holiday.mp4.part'), 'a browser download in progress');
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir: rec,
      limits: noLimits,
      thumbnails: false,
      retentionIntervalMs: 0,
    });
    await recorder.start();
    await recorder.close();
    assert.deepEqual(readdirSync(rec), ['holiday.mp4.part']);
  } finally {
    cleanup();
  }
});
