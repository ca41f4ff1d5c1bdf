/**
 * Settings changed on a running Recorder (PATCH /api/v1/settings): round 1
 * had segment length and rotation limits fixed at construction, so changes
 * waited for a daemon restart. Proves setSegmentMs() moves the next cut to
 * the first keyframe past the new length, and setLimits() runs a rotation
 * pass at once that keeps the segment being written.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Recorder } from '../../src/recorder/recorder.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { HubFeeder, probe, noLimits } from './recording-fixtures.js';

test('setSegmentMs and setLimits apply to the running recorder', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    // The sample: 30 fps, a keyframe every 30 frames.
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
    assert.throws(() => recorder.setSegmentMs(0), RangeError);
    recorder.setSegmentMs(1000);
    assert.equal(recorder.settings.segmentMs, 1000);
    feeder.push(75); // frames 45..119: cuts at the keyframes of frames 60 and 90
    await recorder.flush();
    const segments = (): string[] =>
      readdirSync(dir)
        .filter((n) => n.endsWith('.mkv'))
        .sort();
    assert.deepEqual(segments(), ['log0000.mkv', 'log0001.mkv', 'log0002.mkv']);
    assert.equal(recorder.currentSegmentPath, join(dir, 'log0002.mkv'));

    await recorder.setLimits({ maxFiles: 2 });
    assert.deepEqual(recorder.settings.limits, { ...noLimits, maxFiles: 2 });
    assert.deepEqual(segments(), ['log0001.mkv', 'log0002.mkv'], 'the oldest went at once, the current one stayed');
    await recorder.close();
    assert.equal(probe(join(dir, 'log0001.mkv')).frames, 30);
    assert.equal(probe(join(dir, 'log0002.mkv')).frames, 30);
  } finally {
    cleanup();
  }
});
