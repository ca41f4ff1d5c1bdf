/**
 * A V4L2 webcam (`config.captureDevice`, e.g. /dev/video0), or a moving test
 * pattern when none is configured, encoded by ffmpeg's libx264 tuned like
 * the camera: zero latency, no B-frames, one IDR per intra period, SPS/PPS
 * repeated before every IDR, each packet flushed to stdout at once.
 * Uses `ffmpeg` from PATH, else the static binary bundled with the package.
 */
import { createRequire } from 'node:module';
import type { RearviewConfig, VideoSettings } from '../config.js';
import type { Logger } from '../log/logger.js';
import { findOnPath } from './process-runner.js';
import { ProcessSource, type CommandLine, type ProcessSourceFactoryOptions } from './process-source.js';

/** The encoder half of the ffmpeg arguments (after the input). */
export function ffmpegEncodeArgs(video: VideoSettings): string[] {
  const intra = String(video.intraPeriod);
  const bitrate = String(video.bitrateBps);
  return [
    '-an',
    '-c:v', 'libx264',
    '-preset', 'ultrafast',
    '-tune', 'zerolatency',
    '-profile:v', video.profile,
    '-level:v', video.level,
    // Webcams often deliver 4:2:2; Baseline/Main need 4:2:0.
    '-pix_fmt', 'yuv420p',
    '-bf', '0',
    '-g', intra,
    '-keyint_min', intra,
    '-sc_threshold', '0',
    '-b:v', bitrate,
    '-maxrate', bitrate,
    '-bufsize', bitrate,
    '-x264-params', 'repeat-headers=1',
    '-flush_packets', '1',
    '-f', 'h264',
    '-',
  ];
}

/** All ffmpeg arguments: webcam input when `captureDevice` is set, else the paced test pattern. */
export function ffmpegArgs(video: VideoSettings, captureDevice: string | undefined): string[] {
  const common = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];
  const input = captureDevice
    ? ['-f', 'v4l2', '-framerate', String(video.fps), '-video_size', `${video.width}x${video.height}`, '-i', captureDevice]
    : ['-re', '-f', 'lavfi', '-i', `testsrc2=size=${video.width}x${video.height}:rate=${video.fps}`];
  return [...common, ...input, ...ffmpegEncodeArgs(video)];
}

/** `ffmpeg` when it is on PATH, else the bundled static binary, else plain `ffmpeg` (spawn reports it missing). */
export function ffmpegExecutable(pathVar: string | undefined): string {
  if (findOnPath('ffmpeg', pathVar)) return 'ffmpeg';
  try {
    const bundled = createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string };
    return bundled.path;
  } catch {
    return 'ffmpeg';
  }
}

/** The ffmpeg command line for the config. */
export function ffmpegCommandLine(config: Pick<RearviewConfig, 'video' | 'captureDevice'>, pathVar: string | undefined): CommandLine {
  return { command: ffmpegExecutable(pathVar), args: ffmpegArgs(config.video, config.captureDevice) };
}

/** An `ffmpeg` capture source built from the config. */
export function createFfmpegSource(config: RearviewConfig, logger: Logger, options: ProcessSourceFactoryOptions = {}): ProcessSource {
  const env = options.env ?? process.env;
  return new ProcessSource({ ...options, name: 'ffmpeg', commandLine: ffmpegCommandLine(config, env.PATH), logger, env });
}
