import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { readMatroskaHeader } from '../../src/recorder/matroska-file.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { decodeErrors, HubFeeder, probe } from './recording-fixtures.js';

const noLimits = { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 };

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
    const segments = readdirSync(dir).filter((n) => n.endsWith('.mkv')).sort();
    assert.deepEqual(segments, ['log0000.mkv', 'log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
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
      assert.ok(header.startedAtMs !== null && Math.abs(header.startedAtMs - (Date.UTC(2026, 0, 2, 3, 4, 5) + i * 2000)) <= 1, `${name} DateUTC`);
    }
    await recorder.thumbnailsIdle();
    const thumbs = readdirSync(dir).filter((n) => n.endsWith('.jpg')).sort();
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
      hub: feeder.hub, dir, segmentMs: 2000, limits: noLimits, retentionIntervalMs: 0, thumbnails: false,
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
    assert.ok(lines.some((l) => l.includes('disk too slow')), lines.join('\n'));
    assert.equal(st.framesWritten + st.framesDropped, 180, 'every frame either written or counted as dropped');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.mkv'))) {
      assert.equal(decodeErrors(join(dir, name)), '', `${name} decodes cleanly despite the gap`);
      assert.ok(probe(join(dir, name)).firstFrameKey);
    }
  } finally {
    cleanup();
  }
});
