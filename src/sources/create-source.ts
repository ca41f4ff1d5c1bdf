/**
 * Chooses the capture backend from `config.source`:
 *
 * | value | source |
 * |---|---|
 * | `sample` (default) | the bundled 640x360 clip, looped in real time |
 * | `file:PATH` | an Annex-B, MP4 or Matroska file (H.264), looped in real time |
 * | `rpicam` | `rpicam-vid` / `libcamera-vid` |
 * | `gstreamer` | the device's gst-launch pipeline (`gstPipeline` overrides) |
 * | `ffmpeg` | a V4L2 webcam (`captureDevice`) or a test pattern, libx264 |
 * | `-` | standard input |
 * | `tcp://host[:port]` | another camera's stream (port 5000 by default) |
 *
 * The daemon wraps the result in a SourceSupervisor (pass
 * `() => createSource(config, logger)` as its factory).
 */
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { RearviewConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CaptureSource } from './capture-source.js';
import { createFfmpegSource } from './ffmpeg-source.js';
import { FileSource, SAMPLE_ASSET_URL, SAMPLE_RECORDING_ASSET_URL } from './file-source.js';
import { PairedSource } from './paired-source.js';
import { createGstreamerSource } from './gstreamer-source.js';
import { createRpicamSource } from './rpicam-source.js';
import type { Clock } from '../util/clock.js';
import { createStdinSource } from './stream-source.js';
import { TcpRelaySource } from './tcp-relay-source.js';
import { isTcpUrl } from '../util/stream-address.js';

/** The accepted forms of `config.source`, for help texts and error messages. */
export const SOURCE_FORMS = ['sample', 'rpicam', 'gstreamer', 'ffmpeg', 'file:PATH', '-', 'tcp://host:port'] as const;

/** Optional wiring for tests and embedders; the daemon passes none of it. */
export interface CreateSourceOptions {
  /** Environment of encoder processes; its PATH is searched. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Standard input replacement for `-`. Default: process.stdin. */
  stdin?: Readable;
  /**
   * Idle-point grace for pipes (encoders, stdin), ms; 0 disables. Statistics
   * only: a pause never ends a frame. Default `config.sourceIdleCloseMs` (2).
   */
  idleCloseMs?: number;
  /** SIGTERM to SIGKILL grace when stopping an encoder, ms. Default 2000. */
  killGraceMs?: number;
  clock?: Clock;
}

/** Whether the recorder gets its own profile from this config's source, and why not when it does not. */
export interface RecordingProfileChoice {
  /** True: the source encodes the recording profile (`recordVideo`) beside the stream. */
  separate: boolean;
  /** Why a `separate` request falls back to the stream's profile (for the log); undefined otherwise. */
  note?: string;
}

/**
 * `separate` where the source can encode twice from one capture (`sample`
 * from its two bundled clips, `ffmpeg`, `gstreamer` with the default
 * pipeline); `same` otherwise, with the reason. The daemon decides this
 * once at start, so every run of the source has the same outputs.
 */
export function recordingProfileOf(
  config: Pick<RearviewConfig, 'source' | 'recordProfile' | 'gstPipeline'>,
): RecordingProfileChoice {
  if (config.recordProfile === 'same') return { separate: false };
  const spec = config.source.trim();
  if (spec === 'sample' || spec === 'ffmpeg') return { separate: true };
  if (spec === 'gstreamer') {
    if (config.gstPipeline === undefined || config.gstPipeline.trim() === '') return { separate: true };
    return {
      separate: false,
      note: 'a custom gstPipeline gives one stream: recordings are the stream (record profile same)',
    };
  }
  const why =
    spec === 'rpicam'
      ? 'rpicam-vid encodes one stream (--source gstreamer encodes both profiles)'
      : `${spec === '-' ? 'standard input' : spec} gives one stream`;
  return { separate: false, note: `${why}: recordings are the stream (record profile same)` };
}

/**
 * A new, unstarted capture source for `config.source`; with a `separate`
 * recording profile (recordingProfileOf) it also delivers the recording
 * profile (`recordingOutput`). Throws ConfigError
 * (listing the valid forms) for an unknown value, SourceError
 * ERR_SOURCE_SPAWN when `rpicam` finds neither rpicam-vid nor libcamera-vid.
 */
export function createSource(config: RearviewConfig, logger: Logger, options: CreateSourceOptions = {}): CaptureSource {
  const spec = config.source.trim();
  const idleCloseMs = options.idleCloseMs ?? config.sourceIdleCloseMs;
  const common = {
    ...(options.env ? { env: options.env } : {}),
    ...(idleCloseMs !== undefined ? { idleCloseMs } : {}),
    ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  };
  const clock = options.clock ? { clock: options.clock } : {};
  const separate = recordingProfileOf(config).separate;
  if (spec === 'sample') {
    const stream = new FileSource(fileURLToPath(SAMPLE_ASSET_URL), {
      name: 'sample',
      logger: logger.child('sample'),
      fallbackFps: config.fileFps,
      ...clock,
    });
    if (!separate) return stream;
    // The bundled clips have their own sizes: the sample's profiles are 640x360 and 1280x720 whatever video.* say.
    const recording = new FileSource(fileURLToPath(SAMPLE_RECORDING_ASSET_URL), {
      name: 'sample',
      logger: logger.child('sample').child('recording'),
      fallbackFps: config.fileFps,
      ...clock,
    });
    return new PairedSource('sample', stream, recording);
  }
  if (spec.startsWith('file:')) {
    const path = spec.slice('file:'.length);
    if (!path) throw new ConfigError(`source "file:" needs a path, e.g. file:clip.h264`);
    return new FileSource(path, { logger: logger.child('file'), fallbackFps: config.fileFps, ...clock });
  }
  if (spec === 'rpicam') return createRpicamSource(config, logger.child('rpicam'), common);
  if (spec === 'gstreamer') return createGstreamerSource(config, logger.child('gstreamer'), common, separate);
  if (spec === 'ffmpeg') return createFfmpegSource(config, logger.child('ffmpeg'), common, separate);
  if (spec === '-') {
    return createStdinSource(logger.child('stdin'), {
      ...(options.stdin ? { input: options.stdin } : {}),
      ...(idleCloseMs !== undefined ? { idleCloseMs } : {}),
      ...clock,
    });
  }
  if (isTcpUrl(spec)) return new TcpRelaySource(spec, { logger: logger.child('relay'), ...clock });
  throw new ConfigError(`unknown source ${JSON.stringify(config.source)}: expected one of ${SOURCE_FORMS.join(', ')}`);
}
