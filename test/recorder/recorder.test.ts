import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { readMatroskaHeader } from '../../src/recorder/matroska-file.js';
import { RECORDER_STATE } from '../../src/recorder/segment-numbering.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';
import { decodeErrors, HubFeeder, probe, noLimits, recordFrames } from './recording-fixtures.js';

test('records several segments cut at keyframes, each valid per ffprobe and starting with a keyframe', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({ hub: feeder.hub, dir, segmentMs: 2000, limits: noLimits, retentionIntervalMs: 0 });
    await recorder.start();
    // 7.5 s at 30 fps with a keyframe every second: segments of 2 s (60 frames) then the rest.
    for (let i = 0; i < 225; i += 15) {
      feeder.push(15);
      await recorder.flush();
      await recorder.thumbnailsIdle(); // faster than real time: let each segment's thumbnail finish (queue of one)
    }
    await recorder.close();
    const segments = readdirSync(dir)
      .filter((n) => n.endsWith('.mkv'))
      .sort();
    assert.deepEqual(segments, ['log0000.mkv', 'log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    // Regression: 60 frames at 30 fps add up to 1999.99 ms in floating point, and segments were cut a
    // keyframe late (90 frames); the cut now allows half a frame of slack.
    const expectedFrames = [60, 60, 60, 45];
    for (const [i, name] of segments.entries()) {
      const path = join(dir, name);
      const p = probe(path);
      assert.equal(p.frames, expectedFrames[i], `${name} frames`);
      assert.equal(p.width, 640);
      assert.equal(p.height, 360);
      assert.ok(p.firstFrameKey, `${name} starts with a keyframe`);
      const fedS = (expectedFrames[i] as number) / 30;
      assert.ok(Math.abs(p.durationS - fedS) <= 1 / 30 + 1e-3, `${name}: duration ${p.durationS} vs ${fedS} fed`);
      assert.equal(decodeErrors(path), '', `${name} decodes without errors`);
      const header = await readMatroskaHeader(path);
      assert.ok(
        header.startedAtMs !== null && Math.abs(header.startedAtMs - (Date.UTC(2026, 0, 2, 3, 4, 5) + i * 2000)) <= 1,
        `${name} DateUTC`,
      );
    }
    await recorder.thumbnailsIdle();
    const thumbs = readdirSync(dir)
      .filter((n) => n.endsWith('.jpg'))
      .sort();
    assert.equal(thumbs.length, 4);
    assert.match(thumbs[0] as string, /^log0000_\d+\.jpg$/);
    assert.equal(thumbs[0], `log0000_${Math.floor(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000)}.jpg`);
    for (const t of thumbs) assert.ok(statSync(join(dir, t)).size > 1000);
    assert.ok(!existsSync(join(dir, '.recording.json')), 'marker removed on clean close');
    assert.equal(recorder.status.state, 'closed');
    assert.equal(recorder.status.segmentsCompleted, 4);
  } finally {
    cleanup();
  }
});

test('a recorder that falls behind (slow disk) skips to the next keyframe: counted, logged, files still whole', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const lines: string[] = [];
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 2000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
      queueLimitBytes: 150_000, // about 1.2 s of the sample: pushing 4 s at once overflows it
      logger: new Logger({ level: 'warn', sink: (l) => lines.push(l) }),
    });
    await recorder.start();
    feeder.push(120); // all at once: the recorder cannot write that fast, its queue overflows
    await recorder.flush();
    feeder.push(60);
    await recorder.flush();
    await recorder.close();
    const st = recorder.status;
    assert.ok(st.dropEvents > 0 && st.framesDropped > 0, `drops: ${st.dropEvents} events, ${st.framesDropped} frames`);
    assert.ok(
      lines.some((l) => l.includes('disk too slow')),
      lines.join('\n'),
    );
    assert.equal(st.framesWritten + st.framesDropped, 180, 'every frame either written or counted as dropped');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.mkv'))) {
      assert.equal(decodeErrors(join(dir, name)), '', `${name} decodes cleanly despite the gap`);
      assert.ok(probe(join(dir, name)).firstFrameKey);
    }
  } finally {
    cleanup();
  }
});

test('frames delivered in bursts with the same capture time get increasing timestamps, one frame apart', async () => {
  // Regression: under load the daemon's source delivered several frames in the same millisecond; they got
  // timestamps 1/90 ms apart, equal after rounding to Matroska's 1 ms, and ffmpeg reported
  // "non monotonically increasing dts" on the recorded file.
  const { dir, cleanup } = scratchDir();
  try {
    const units = accessUnitsOfFile(samplePath);
    const hub = new StreamHub();
    const recorder = new Recorder({
      hub,
      dir,
      segmentMs: 600_000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    const t0 = Date.UTC(2026, 0, 2);
    for (let i = 0; i < 90; i++) {
      hub.accessUnit(units[i] as AccessUnit, t0 + Math.floor(i / 3) * 100); // three frames per 100 ms, same stamp
      if (i % 15 === 14) await recorder.flush();
    }
    await recorder.close();
    const path = join(dir, 'log0000.mkv');
    assert.equal(decodeErrors(path), '');
    assert.equal(probe(path).frames, 90);
    const r = spawnSync(
      requireTool('ffprobe'),
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path],
      { encoding: 'utf8' },
    );
    const pts = r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map(Number);
    // On the nominal 30 fps grid: the bursts are spread one frame interval apart.
    for (let i = 1; i < pts.length; i++) {
      const step = (pts[i] as number) - (pts[i - 1] as number);
      assert.ok(Math.abs(step - 1 / 30) <= 0.0015, `packet ${i}: ${pts[i]} after ${pts[i - 1]}`);
    }
  } finally {
    cleanup();
  }
});

test('a dropped stretch stays a gap in the timestamps; a capture clock jump does not break the segment', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const units = accessUnitsOfFile(samplePath);
    const hub = new StreamHub();
    const recorder = new Recorder({
      hub,
      dir,
      segmentMs: 600_000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    const t0 = Date.UTC(2026, 0, 2);
    const stamps: number[] = [];
    // 0..59 at 30 fps; 60..89 never arrive (a second lost); 90..119 at their time; then the wall clock jumps back an hour.
    for (let i = 0; i < 60; i++) stamps.push(t0 + Math.round((i * 1000) / 30));
    for (let i = 90; i < 120; i++) stamps.push(t0 + Math.round((i * 1000) / 30));
    for (let i = 120; i < 150; i++) stamps.push(t0 - 3_600_000 + Math.round((i * 1000) / 30));
    const order = [...Array(60).keys(), ...Array.from({ length: 60 }, (_, k) => 90 + k)];
    for (const [k, i] of order.entries()) {
      hub.accessUnit(units[i % units.length] as AccessUnit, stamps[k] as number);
      if (k % 15 === 14) await recorder.flush();
    }
    await recorder.close();
    const path = join(dir, 'log0000.mkv');
    assert.equal(decodeErrors(path), '');
    const r = spawnSync(
      requireTool('ffprobe'),
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path],
      { encoding: 'utf8' },
    );
    const pts = r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map(Number);
    assert.equal(pts.length, 120);
    assert.ok(
      Math.abs((pts[60] as number) - 3.0) < 0.002,
      `the frame after the lost second is at 3.0 s, got ${pts[60]}`,
    );
    for (let i = 1; i < pts.length; i++)
      assert.ok((pts[i] as number) > (pts[i - 1] as number), `packet ${i} increases`);
    assert.ok(
      Math.abs((pts[119] as number) - (pts[89] as number) - 30 / 30) < 0.002,
      'after the jump the stream continues at 30 fps',
    );
  } finally {
    cleanup();
  }
});

test('pause() finishes the segment and skips frames; resume() starts a new segment at the next keyframe', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 600_000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    feeder.push(45);
    await recorder.flush();
    recorder.pause();
    recorder.pause();
    feeder.push(40);
    await recorder.flush();
    assert.equal(recorder.status.state, 'paused');
    assert.equal(recorder.status.currentSegment, null);
    recorder.resume();
    feeder.push(50); // resumes at the keyframe of frame 90
    await recorder.flush();
    await recorder.close();
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith('.mkv'))
        .sort(),
      ['log0000.mkv', 'log0001.mkv'],
    );
    assert.equal(probe(join(dir, 'log0000.mkv')).frames, 45);
    assert.equal(probe(join(dir, 'log0001.mkv')).frames, 45);
    assert.equal(recorder.status.framesSkipped, 40 + 5);
  } finally {
    cleanup();
  }
});

// Behaviour change (F21): the next segment used to replace an old file holding its number after a
// wrap; opening a segment now never deletes or truncates anything, a taken number is skipped.
test('numbering wraps after log9999 and skips a taken number instead of replacing it', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    await recordFrames(feeder, dir, 30, { segmentMs: 1000, step: 30 });
    // A folder where the device wrapped: log9998, log9999 newest, log0000 an old file not rotated yet.
    const seg = join(dir, 'log0000.mkv');
    copyFileSync(seg, join(dir, 'log9998.mkv'));
    copyFileSync(seg, join(dir, 'log9999.mkv'));
    rmSync(join(dir, RECORDER_STATE)); // no state: the numbers on disk decide
    const before = readFileSync(seg);
    const now = Date.now() / 1000;
    utimesSync(seg, now - 100, now - 100);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    feeder.push(60);
    await recorder.flush();
    await recorder.close();
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith('.mkv'))
        .sort(),
      ['log0000.mkv', 'log0001.mkv', 'log0002.mkv', 'log9998.mkv', 'log9999.mkv'],
    );
    assert.deepEqual(readFileSync(seg), before, 'log0000 kept as it was: the taken number was skipped');
    assert.equal(JSON.parse(readFileSync(join(dir, RECORDER_STATE), 'utf8')).lastSegment, 'log0002.mkv');
  } finally {
    cleanup();
  }
});

// Regression (F21, data loss): numbering followed the newest modification time, and opening a
// segment deleted whatever held its number. A ride recorded while the clock was wrong (a Pi without
// a real-time clock) looked older than the ride before it, so the next ride was numbered right after
// that earlier ride and overwrote the back-dated one, a segment per cut.
test('a clock that went backwards never makes the recorder overwrite an earlier ride', async () => {
  for (const withState of [true, false]) {
    const { dir, cleanup } = scratchDir();
    try {
      const feeder = HubFeeder.ofFile(samplePath, 30);
      const ride = async (frames: number): Promise<void> => {
        if (!withState) rmSync(join(dir, RECORDER_STATE), { force: true });
        const recorder = new Recorder({
          hub: feeder.hub,
          dir,
          segmentMs: 1000,
          limits: noLimits,
          retentionIntervalMs: 0,
          thumbnails: false,
        });
        await recorder.start();
        feeder.push(frames);
        await recorder.flush();
        await recorder.close();
      };
      await ride(180); // ride A: log0000..log0005
      await ride(180); // ride B: log0006..log0011
      const rideB = ['log0006.mkv', 'log0007.mkv', 'log0008.mkv', 'log0009.mkv', 'log0010.mkv', 'log0011.mkv'];
      const bytesB = rideB.map((n) => readFileSync(join(dir, n)));
      for (const n of rideB) utimesSync(join(dir, n), 1000, 1000); // ride B stamped 1970 (no RTC, no NTP yet)
      await ride(90); // ride C
      const mkvNames = readdirSync(dir)
        .filter((n) => n.endsWith('.mkv'))
        .sort();
      assert.equal(mkvNames.length, 15, `withState=${withState}: ${mkvNames.join(' ')}`);
      assert.deepEqual(
        mkvNames.slice(12),
        ['log0012.mkv', 'log0013.mkv', 'log0014.mkv'],
        'ride C continues after ride B',
      );
      for (const [i, n] of rideB.entries())
        assert.deepEqual(readFileSync(join(dir, n)), bytesB[i], `${n} byte-identical (withState=${withState})`);
    } finally {
      cleanup();
    }
  }
});

// Regression (second review, N8): a state file naming log0002 while log0003..log0005 had been
// recorded after it (another firmware on the same card) made rotation rank those newest
// segments as the oldest and delete them first.
test('a stale state file does not make rotation delete the newest segments', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    await recordFrames(feeder, dir, 30, { segmentMs: 1000, step: 30 });
    const seg = join(dir, 'log0000.mkv');
    const now = Date.now() / 1000;
    for (let n = 1; n <= 5; n++) {
      const name = join(dir, `log000${n}.mkv`);
      copyFileSync(seg, name);
      utimesSync(name, now - 100 + n, now - 100 + n);
    }
    writeFileSync(join(dir, RECORDER_STATE), JSON.stringify({ lastSegment: 'log0002.mkv' }));
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: { ...noLimits, maxFiles: 5 },
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    await recorder.close();
    const mkv = readdirSync(dir)
      .filter((n) => n.endsWith('.mkv'))
      .sort();
    assert.ok(!mkv.includes('log0000.mkv'), `the oldest segment goes first: ${mkv.join(' ')}`);
    for (const n of ['log0003.mkv', 'log0004.mkv', 'log0005.mkv'])
      assert.ok(mkv.includes(n), `${n} kept: ${mkv.join(' ')}`);
  } finally {
    cleanup();
  }
});

// Regression (F21): recover() deleted the newest segment (and its thumbnail) on ANY error reading its
// header: an I/O error on a flaky card or a file from another muxer cost a ride. Only a file proven to
// hold no frame (smaller than a header and not Matroska) is deleted now.
test('recovery at start-up deletes only a file proven to hold no frame', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    // log0001: not Matroska, 4 KB (another muxer, a damaged header): kept. log0002: 10 bytes, cut
    // before its header: deleted. The marker names a folder, so reading it fails with EISDIR: kept.
    writeFileSync(join(dir, 'log0001.mkv'), Buffer.alloc(4096, 7));
    writeFileSync(join(dir, 'log0002.mkv'), Buffer.alloc(10, 7));
    writeFileSync(join(dir, 'log0002_1700000000.jpg'), 'j');
    mkdirSync(join(dir, 'log0003.mkv'));
    writeFileSync(join(dir, '.recording.json'), JSON.stringify({ name: 'log0003.mkv', startedAtMs: 0, pid: 1 }));
    writeFileSync(join(dir, RECORDER_STATE), JSON.stringify({ lastSegment: 'log0002.mkv' }));
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    assert.equal(recorder.status.errors, 0, JSON.stringify(recorder.status.lastError));
    await recorder.close();
    assert.ok(existsSync(join(dir, 'log0001.mkv')), 'unreadable header, not proven empty: kept');
    assert.equal(statSync(join(dir, 'log0001.mkv')).size, 4096);
    assert.ok(
      !existsSync(join(dir, 'log0002.mkv')) && !existsSync(join(dir, 'log0002_1700000000.jpg')),
      'cut before its header: deleted',
    );
    assert.ok(statSync(join(dir, 'log0003.mkv')).isDirectory(), 'I/O error: left alone');
  } finally {
    cleanup();
  }
});

// Regression (F16): close() closed the reader first, which cleared its queue, so the frames queued
// behind a slow card (up to queueLimitMs) were discarded on every shutdown instead of being written
// into the final segment.
test('close() writes the frames still queued into the final segment', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 600_000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    feeder.push(90); // all queued at once: the recorder has written at most the first when close() runs
    const closing = recorder.close();
    const again = recorder.close();
    await closing;
    await again;
    assert.equal(recorder.status.framesWritten, 90);
    assert.equal(probe(join(dir, 'log0000.mkv')).frames, 90, 'every queued frame is in the file');
  } finally {
    cleanup();
  }
});
