/**
 * A segment recorded by our Recorder from the camera-like 720p30 8 Mbit/s
 * stream (bench/camera-stream.ts), made once and kept: what the daemon's
 * downloads convert, for the conversion and memory benchmarks.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAnnexB } from '../src/h264/h264-stream-parser.js';
import { StreamHub } from '../src/hub/stream-hub.js';
import { Recorder } from '../src/recorder/recorder.js';
import { ensureCameraStream } from './camera-stream.js';

/** Records `seconds` of the stream (looping it) into `dir`/log0000.mkv, as fast as the disk takes it; reused when already there. */
export async function recordSegment(dir: string, seconds: number): Promise<string> {
  const path = join(dir, 'log0000.mkv');
  if (existsSync(path) && existsSync(join(dir, 'done'))) return path;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`bench: recording a ${seconds} s segment into ${dir} ...\n`);
  const units = parseAnnexB(readFileSync(ensureCameraStream())).accessUnits;
  const hub = new StreamHub();
  const recorder = new Recorder({
    hub,
    dir,
    segmentMs: (seconds + 10) * 1000,
    thumbnails: false,
    retentionIntervalMs: 0,
    limits: { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 },
    queueLimitBytes: 512 * 1024 * 1024,
    queueLimitMs: 3_600_000,
  });
  await recorder.start();
  const frames = seconds * 30;
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < frames; i++) {
    // Looping needs no discontinuity: every second starts with SPS+PPS+IDR, and the same parameter sets keep one segment.
    hub.accessUnit(units[i % units.length]!, t0 + Math.round((i * 1000) / 30));
    if (i % 60 === 59) await recorder.flush();
  }
  await recorder.flush();
  await recorder.close();
  spawnSync('touch', [join(dir, 'done')]);
  return path;
}

/** Capture time of the first frame of recordClipSegments' footage. */
export const CLIP_T0 = Date.UTC(2026, 0, 1);

/** `minutes + 1` one-minute segments of the camera-like stream in `dir`, made once and kept. */
export async function recordClipSegments(dir: string, minutes: number): Promise<void> {
  if (existsSync(join(dir, 'done'))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`bench: recording ${minutes + 1} one-minute segments into ${dir} ...\n`);
  const units = parseAnnexB(readFileSync(ensureCameraStream())).accessUnits;
  const hub = new StreamHub();
  const recorder = new Recorder({
    hub,
    dir,
    segmentMs: 60_000,
    thumbnails: false,
    retentionIntervalMs: 0,
    limits: { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 },
    queueLimitBytes: 512 * 1024 * 1024,
    queueLimitMs: 3_600_000,
  });
  await recorder.start();
  // One frame past the last minute, so the last segment is cut and sealed at its keyframe.
  const frames = (minutes + 1) * 60 * 30 + 1;
  for (let i = 0; i < frames; i++) {
    hub.accessUnit(units[i % units.length]!, CLIP_T0 + Math.round((i * 1000) / 30));
    if (i % 60 === 59) await recorder.flush();
  }
  await recorder.flush();
  await recorder.close();
  writeFileSync(join(dir, 'done'), '');
}
