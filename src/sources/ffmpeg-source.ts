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

/**
 * The encoder half of the ffmpeg arguments (after the input) for one output:
 * `-` (stdout) by default; `pipe:3` for the recording output. The stream
 * uses the `ultrafast` preset (lowest latency and CPU); recordings use
 * `superfast`, which adds CABAC and 8x8 transforms, so High profile really is
 * High at the same bitrate.
 */
export function ffmpegEncodeArgs(video: VideoSettings, output = '-', preset = 'ultrafast'): string[] {
  const intra = String(video.intraPeriod);
  const bitrate = String(video.bitrateBps);
  return [
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    preset,
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
    output,
  ];
}

/** The x264 preset of the recording output (see ffmpegEncodeArgs). */
export const RECORDING_PRESET = 'superfast';

/** The input arguments: the webcam at `video`'s size and rate, else the paced test pattern. */
function ffmpegInputArgs(video: VideoSettings, captureDevice: string | undefined): string[] {
  return captureDevice
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
}

const COMMON_ARGS = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];

/** All ffmpeg arguments: webcam input when `captureDevice` is set, else the paced test pattern. */
export function ffmpegArgs(video: VideoSettings, captureDevice: string | undefined): string[] {
  return [...COMMON_ARGS, ...ffmpegInputArgs(video, captureDevice), ...ffmpegEncodeArgs(video)];
}

/**
 * One capture, two encodes in one ffmpeg: the stream profile to stdout and
 * the recording profile to `pipe:3`. The camera (or test pattern) is opened
 * at the larger of the two sizes and the higher rate; `split` feeds each
 * output, scaled and rate-converted only where it differs. The filter text
 * is built from validated integers only, one argv element.
 */
export function ffmpegDualArgs(
  stream: VideoSettings,
  recording: VideoSettings,
  captureDevice: string | undefined,
): string[] {
  const larger = recording.width * recording.height >= stream.width * stream.height ? recording : stream;
  const capture: VideoSettings = { ...larger, fps: Math.max(stream.fps, recording.fps) };
  const branch = (input: string, video: VideoSettings, label: string): string => {
    const filters: string[] = [];
    if (video.width !== capture.width || video.height !== capture.height)
      filters.push(`scale=${video.width}:${video.height}`);
    if (video.fps !== capture.fps) filters.push(`fps=${video.fps}`);
    return `[${input}]${filters.length > 0 ? filters.join(',') : 'null'}[${label}]`;
  };
  const graph = `[0:v]split=2[s][r];${branch('s', stream, 'stream')};${branch('r', recording, 'recording')}`;
  return [
    ...COMMON_ARGS,
    ...ffmpegInputArgs(capture, captureDevice),
    '-filter_complex',
    graph,
    '-map',
    '[stream]',
    ...ffmpegEncodeArgs(stream, '-'),
    '-map',
    '[recording]',
    ...ffmpegEncodeArgs(recording, 'pipe:3', RECORDING_PRESET),
  ];
}

/** The project's ffmpeg (findFfmpeg: REARVIEW_FFMPEG, else PATH) for `env`, else plain `ffmpeg` (spawn reports it missing). */
export function ffmpegExecutable(env: NodeJS.ProcessEnv): string {
  return findFfmpeg(env) ?? 'ffmpeg';
}

/** The ffmpeg command line for the config; with `separate`, both profiles (the recording one on fd 3). */
export function ffmpegCommandLine(
  config: Pick<RearviewConfig, 'video' | 'captureDevice'> & { recordVideo?: VideoSettings },
  env: NodeJS.ProcessEnv,
  separate = false,
): CommandLine {
  return {
    command: ffmpegExecutable(env),
    args: separate
      ? ffmpegDualArgs(config.video, config.recordVideo ?? config.video, config.captureDevice)
      : ffmpegArgs(config.video, config.captureDevice),
  };
}

/** An `ffmpeg` capture source built from the config; `separate` adds the recording output. */
export function createFfmpegSource(
  config: RearviewConfig,
  logger: Logger,
  options: ProcessSourceFactoryOptions = {},
  separate = false,
): ProcessSource {
  const env = options.env ?? process.env;
  return new ProcessSource({
    ...options,
    name: 'ffmpeg',
    commandLine: ffmpegCommandLine(config, env, separate),
    recordingOutput: separate,
    logger,
    env,
  });
}
