/**
 * A V4L2 webcam (`config.captureDevice`, e.g. /dev/video0), or a moving test
 * pattern when none is configured, encoded by ffmpeg's libx264 tuned like
 * the camera: zero latency, no B-frames, one IDR per intra period, SPS/PPS
 * repeated before every IDR, an AUD opening every frame, each packet flushed to stdout at once.
 * The ffmpeg is the project's findFfmpeg(): REARVIEW_FFMPEG, else PATH.
 */
import type { RearviewConfig, VideoSettings } from '../config.js';
import type { Logger } from '../log/logger.js';
import { findFfmpeg } from '../util/ffmpeg-path.js';
import { ProcessSource, type CommandLine, type ProcessSourceFactoryOptions } from './process-source.js';

/** The encoder half of the ffmpeg arguments (after the input). */
export function ffmpegEncodeArgs(video: VideoSettings): string[] {
  const intra = String(video.intraPeriod);
  const bitrate = String(video.bitrateBps);
  return [
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-profile:v',
    video.profile,
    '-level:v',
    video.level,
    // Webcams often deliver 4:2:2; Baseline/Main need 4:2:0.
    '-pix_fmt',
    'yuv420p',
    '-bf',
    '0',
    '-g',
    intra,
    '-keyint_min',
    intra,
    '-sc_threshold',
    '0',
    '-b:v',
    bitrate,
    '-maxrate',
    bitrate,
    '-bufsize',
    bitrate,
    // aud=1: an access unit delimiter opens every frame, so the frame before it is known complete.
    '-x264-params',
    'repeat-headers=1:aud=1',
    '-flush_packets',
    '1',
    '-f',
    'h264',
    '-',
  ];
}

/** All ffmpeg arguments: webcam input when `captureDevice` is set, else the paced test pattern. */
export function ffmpegArgs(video: VideoSettings, captureDevice: string | undefined): string[] {
  const common = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];
  const input = captureDevice
    ? [
        '-f',
        'v4l2',
        '-framerate',
        String(video.fps),
        '-video_size',
        `${video.width}x${video.height}`,
        '-i',
        captureDevice,
      ]
    : ['-re', '-f', 'lavfi', '-i', `testsrc2=size=${video.width}x${video.height}:rate=${video.fps}`];
  return [...common, ...input, ...ffmpegEncodeArgs(video)];
}

/** The project's ffmpeg (findFfmpeg: REARVIEW_FFMPEG, else PATH) for `env`, else plain `ffmpeg` (spawn reports it missing). */
export function ffmpegExecutable(env: NodeJS.ProcessEnv): string {
  return findFfmpeg(env) ?? 'ffmpeg';
}

/** The ffmpeg command line for the config. */
export function ffmpegCommandLine(
  config: Pick<RearviewConfig, 'video' | 'captureDevice'>,
  env: NodeJS.ProcessEnv,
): CommandLine {
  return { command: ffmpegExecutable(env), args: ffmpegArgs(config.video, config.captureDevice) };
}

/** An `ffmpeg` capture source built from the config. */
export function createFfmpegSource(
  config: RearviewConfig,
  logger: Logger,
  options: ProcessSourceFactoryOptions = {},
): ProcessSource {
  const env = options.env ?? process.env;
  return new ProcessSource({ ...options, name: 'ffmpeg', commandLine: ffmpegCommandLine(config, env), logger, env });
}
