/**
 * The device's own capture pipeline through `gst-launch-1.0`: libcamera,
 * the Pi's V4L2 hardware encoder with SPS/PPS repeated before every IDR,
 * `h264parse config-interval=-1` (parameter sets in front of every IDR even
 * when the encoder forgets) and `alignment=au` (whole access units, each
 * opened by an AUD), written as Annex-B to stdout by `fdsink fd=1`.
 * `config.gstPipeline` replaces everything before `! fdsink`.
 */
import type { RearviewConfig, VideoSettings } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ProcessSource, type CommandLine, type ProcessSourceFactoryOptions } from './process-source.js';

/**
 * What an argument of the default pipeline may contain. gst-launch joins its
 * arguments and parses the text again (escaping spaces but not tabs), so a
 * value with whitespace, a quote or a backslash would add pipeline elements.
 * The values come validated from the config (integers in range, levels from
 * a closed set); this is the last check before the command line.
 */
const GST_ARG_RE = /^[A-Za-z0-9_.,=()/:!-]+$/;

/** The encode after a raw-video pad: size and rate caps, the V4L2 hardware encoder, h264parse. */
function encodeBranch(video: VideoSettings, profileCaps: boolean): string[] {
  return [
    'videoconvert',
    '!',
    `video/x-raw,width=${video.width},height=${video.height},framerate=${video.fps}/1`,
    '!',
    'v4l2h264enc',
    `extra-controls=controls,video_bitrate=${video.bitrateBps},repeat_sequence_header=1,h264_i_frame_period=${video.intraPeriod}`,
    '!',
    `video/x-h264,level=(string)${video.level}${profileCaps ? `,profile=(string)${video.profile}` : ''},stream-format=byte-stream`,
    '!',
    'h264parse',
    'config-interval=-1',
    '!',
    // Whole access units: h264parse then opens each with an AUD, the frame boundary the framer needs.
    'video/x-h264,stream-format=byte-stream,alignment=au',
  ];
}

/** Refuses an argument gst-launch would split (see GST_ARG_RE). */
function checkGstArgs(args: string[]): string[] {
  const bad = args.find((a) => !GST_ARG_RE.test(a));
  if (bad !== undefined)
    throw new ConfigError(`gstreamer: refusing a pipeline argument gst-launch would split: ${JSON.stringify(bad)}`);
  return args;
}

/** The default pipeline (before `! fdsink fd=1`), as gst-launch arguments. Throws ConfigError if a value would not stay one argument. */
export function defaultGstPipeline(video: VideoSettings): string[] {
  return checkGstArgs(['libcamerasrc', '!', ...encodeBranch(video, false)]);
}

/**
 * One camera, two hardware encodes (not yet run on hardware): libcamerasrc's
 * always pad `src` carries the recording profile and its request pad `src_0`
 * a second stream of the same sensor (on a Raspberry Pi the ISP's second,
 * low-resolution output, so no software scaling), each through its own
 * `v4l2h264enc`. The recording goes to fd 3, the stream to fd 1; complete
 * gst-launch arguments, sinks included.
 */
export function dualGstPipeline(stream: VideoSettings, recording: VideoSettings): string[] {
  return checkGstArgs([
    'libcamerasrc',
    'name=cam',
    'cam.src',
    '!',
    'queue',
    '!',
    ...encodeBranch(recording, true),
    '!',
    'fdsink',
    'fd=3',
    'cam.src_0',
    '!',
    'queue',
    '!',
    ...encodeBranch(stream, true),
    '!',
    'fdsink',
    'fd=1',
  ]);
}

/**
 * Splits a pipeline description into arguments the way a POSIX shell would
 * for plain words, 'single' and "double" quotes and backslash escapes, so a
 * pipeline copied from a shell command line works unchanged. gst-launch
 * re-joins its arguments, so the split only has to keep quoted values whole.
 */
export function splitPipeline(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new ConfigError(`gstPipeline: unterminated ${quote} quote`);
  if (inWord) args.push(current);
  return args;
}

/** The gst-launch command line for the config (its pipeline, or the default); `separate`: both profiles (see dualGstPipeline). */
export function gstreamerCommandLine(
  config: Pick<RearviewConfig, 'video' | 'gstPipeline'> & { recordVideo?: VideoSettings },
  separate = false,
): CommandLine {
  if (separate)
    return {
      command: 'gst-launch-1.0',
      args: ['-q', ...dualGstPipeline(config.video, config.recordVideo ?? config.video)],
    };
  let pipeline = defaultGstPipeline(config.video);
  if (config.gstPipeline !== undefined && config.gstPipeline.trim() !== '') {
    pipeline = splitPipeline(config.gstPipeline.trim());
    // Accept a pipeline pasted with a trailing '!' or with its own fdsink.
    const sinkAt = pipeline.indexOf('fdsink');
    if (sinkAt >= 0) pipeline = pipeline.slice(0, sinkAt);
    while (pipeline[pipeline.length - 1] === '!') pipeline.pop();
    if (pipeline.length === 0) throw new ConfigError('gstPipeline: empty pipeline');
  }
  return { command: 'gst-launch-1.0', args: ['-q', ...pipeline, '!', 'fdsink', 'fd=1'] };
}

/** A `gstreamer` capture source built from the config. */
export function createGstreamerSource(
  config: RearviewConfig,
  logger: Logger,
  options: ProcessSourceFactoryOptions = {},
  separate = false,
): ProcessSource {
  return new ProcessSource({
    ...options,
    name: 'gstreamer',
    commandLine: gstreamerCommandLine(config, separate),
    recordingOutput: separate,
    logger,
    env: options.env ?? process.env,
  });
}
