/**
 * Test helpers for the recorder tests: a real StreamHub fed with access
 * units parsed from an H.264 file at a chosen frame rate and capture clock,
 * and ffprobe/ffmpeg checks of the files written.
 */
import { spawnSync } from 'node:child_process';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { accessUnitsOfFile } from '../hub/access-units.js';
import { requireTool } from '../support/tools.js';

/** Feeds access units into a hub at `fps`, stamping capture times from `startMs`. */
export class HubFeeder {
  readonly hub: StreamHub;
  private index = 0;
  private readonly startMs: number;

  constructor(
    readonly units: AccessUnit[],
    readonly fps = 30,
    startMs = Date.UTC(2026, 0, 2, 3, 4, 5),
    hub?: StreamHub,
  ) {
    this.hub = hub ?? new StreamHub();
    this.startMs = startMs;
  }

  /** A feeder over the access units of a file. */
  static ofFile(path: string, fps = 30, startMs?: number): HubFeeder {
    return new HubFeeder(accessUnitsOfFile(path), fps, startMs);
  }

  /** Capture time of the next frame, ms since the epoch. */
  get nextCapturedAtMs(): number {
    return Math.round(this.startMs + (this.index * 1000) / this.fps);
  }

  /** Pushes `n` frames (looping over the file), synchronously. */
  push(n: number): void {
    for (let i = 0; i < n; i++) {
      const au = this.units[this.index % this.units.length] as AccessUnit;
      if (this.index > 0 && this.index % this.units.length === 0) this.hub.discontinuity('loop');
      // Whole milliseconds, as capture clocks give.
      this.hub.accessUnit(au, this.nextCapturedAtMs);
      this.index++;
    }
  }
}

/** Rotation limits that never delete anything. */
export const noLimits = { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 };

/**
 * Records `frames` frames from `feeder` into `dir` with a fresh Recorder
 * (no rotation, no thumbnails), pushing `step` frames at a time and letting
 * the recorder catch up after each, then closes it.
 */
export async function recordFrames(
  feeder: HubFeeder,
  dir: string,
  frames: number,
  options: { segmentMs?: number; step?: number } = {},
): Promise<void> {
  const step = options.step ?? 15;
  const recorder = new Recorder({
    hub: feeder.hub,
    dir,
    segmentMs: options.segmentMs ?? 600_000,
    limits: noLimits,
    thumbnails: false,
    retentionIntervalMs: 0,
  });
  await recorder.start();
  for (let i = 0; i < frames; i += step) {
    feeder.push(Math.min(step, frames - i));
    await recorder.flush();
  }
  await recorder.close();
}

/** What ffprobe says about a file. */
export interface ProbeResult {
  frames: number;
  durationS: number;
  width: number;
  height: number;
  firstFrameKey: boolean;
  codec: string;
}

/** ffprobe: counted frames, container duration, size, whether the first frame is a keyframe. */
export function probe(path: string): ProbeResult {
  const ffprobe = requireTool('ffprobe');
  const r = spawnSync(
    ffprobe,
    [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames,width,height,codec_name:format=duration',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ffprobe failed on ${path}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as {
    streams: { nb_read_frames: string; width: number; height: number; codec_name: string }[];
    format: { duration?: string };
  };
  const s = j.streams[0];
  if (!s) throw new Error(`no video stream in ${path}`);
  const f = spawnSync(
    ffprobe,
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-read_intervals',
      '%+#1',
      '-show_entries',
      'frame=key_frame',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  return {
    frames: Number(s.nb_read_frames),
    durationS: Number(j.format.duration ?? NaN),
    width: s.width,
    height: s.height,
    codec: s.codec_name,
    firstFrameKey: f.stdout.trim().startsWith('1'),
  };
}

/** Decode errors reported by `ffmpeg -v error -i FILE -f null -` (empty string: none). */
export function decodeErrors(path: string): string {
  const r = spawnSync(requireTool('ffmpeg'), ['-v', 'error', '-i', path, '-f', 'null', '-'], { encoding: 'utf8' });
  return (r.stderr + (r.status === 0 ? '' : `exit ${r.status}`)).trim();
}
