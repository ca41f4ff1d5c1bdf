/**
 * Child process for the crash tests: records the sample clip through a real
 * StreamHub and Recorder as fast as it can (segments of --segment ms of
 * media), printing after every few frames what has been written:
 * `<segment> <frames in it>`. The test kills it with SIGKILL.
 *
 * Usage: node recorder-runner.js DIR SEGMENT_MS [PACE_MS]
 * (PACE_MS: wall-clock pause per 3 frames, default 5, so a kill lands at random points).
 */
import { Recorder } from '../../src/recorder/recorder.js';
import { samplePath } from '../hub/access-units.js';
import { HubFeeder } from './recording-fixtures.js';

const [dir, segmentArg, paceArg] = process.argv.slice(2);
if (!dir || !segmentArg) throw new Error('usage: recorder-runner DIR SEGMENT_MS [PACE_MS]');
const paceMs = Number(paceArg ?? 5);
const feeder = HubFeeder.ofFile(samplePath, 30, Date.now());
const recorder = new Recorder({
  hub: feeder.hub,
  dir,
  segmentMs: Number(segmentArg),
  limits: { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 },
  thumbnails: false,
  retentionIntervalMs: 0,
});
await recorder.start();
process.stdout.write(`started ${JSON.stringify(recorder.status.repairedSegments)}\n`);
for (;;) {
  feeder.push(3);
  await recorder.flush();
  const s = recorder.status;
  process.stdout.write(`${s.currentSegment} ${s.currentSegmentFrames}\n`);
  await new Promise((r) => setTimeout(r, paceMs));
}
