/**
 * The 720p test streams of the web latency benchmarks: 10 s of 1280x720 30 fps
 * without B-frames at 8 Mbit/s, SPS/PPS before each IDR, an IDR every second.
 * High profile (the default, as the existing bench has always used), or
 * Constrained Baseline (the camera's default `--profile baseline`, and the
 * only kind Debian's Chromium takes over WebRTC: its offer lists 42001f,
 * 42e01f, 4d001f and f4001f, no High). Made once with ffmpeg into the OS temp
 * folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '../test/support/tools.js';

/** Path of the stream, encoding it first when missing. */
export function make720p(profile: 'high' | 'baseline' = 'high'): string {
  const out = join(
    tmpdir(),
    profile === 'high' ? 'rearview-bench-720p-8M.h264' : 'rearview-bench-720p-8M-baseline.h264',
  );
  if (existsSync(out)) return out;
  const ffmpeg = requireTool('ffmpeg');
  const r = spawnSync(ffmpeg, [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-t',
    '10',
    '-c:v',
    'libx264',
    '-profile:v',
    profile,
    '-bf',
    '0',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-b:v',
    '8M',
    '-maxrate',
    '8M',
    '-bufsize',
    '8M',
    '-g',
    '30',
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-x264-params',
    'repeat-headers=1',
    '-bsf:v',
    'h264_mp4toannexb',
    '-f',
    'h264',
    out,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
  return out;
}
