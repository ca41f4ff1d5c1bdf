/**
 * The Raspberry Pi camera through `rpicam-vid` (or `libcamera-vid` on older
 * systems where only that exists), writing H.264 Annex-B to stdout.
 * `--inline` repeats SPS/PPS before every IDR, `--flush` writes each frame
 * as soon as it is encoded, `-t 0`
 * runs forever, `-n` disables the preview window.
 */
import type { RearviewConfig, VideoSettings } from '../config.js';
import { SourceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { findOnPath } from '../util/find-on-path.js';
import { ProcessSource, type CommandLine, type ProcessSourceFactoryOptions } from './process-source.js';

/** Executables tried in order. */
export const RPICAM_COMMANDS = ['rpicam-vid', 'libcamera-vid'] as const;

/** The arguments for `rpicam-vid`/`libcamera-vid` from the video settings. */
export function rpicamArgs(video: VideoSettings): string[] {
  return [
    '--inline',
    '--flush',
    '-t',
    '0',
    '--codec',
    'h264',
    '-o',
    '-',
    '--width',
    String(video.width),
    '--height',
    String(video.height),
    '--framerate',
    String(video.fps),
    '--bitrate',
    String(video.bitrateBps),
    '--intra',
    String(video.intraPeriod),
    '--profile',
    video.profile,
    '--level',
    video.level,
    '-n',
  ];
}

/**
 * The command line: `rpicam-vid` when it is on PATH, else `libcamera-vid`.
 * Throws SourceError ERR_SOURCE_SPAWN when neither exists.
 */
export function rpicamCommandLine(video: VideoSettings, pathVar: string | undefined): CommandLine {
  for (const name of RPICAM_COMMANDS) {
    if (findOnPath(name, pathVar)) return { command: name, args: rpicamArgs(video) };
  }
  throw new SourceError(
    'ERR_SOURCE_SPAWN',
    `neither ${RPICAM_COMMANDS.join(' nor ')} was found on PATH (install rpicam-apps, or choose another --source)`,
  );
}

/** A `rpicam` capture source built from the config. */
export function createRpicamSource(
  config: RearviewConfig,
  logger: Logger,
  options: ProcessSourceFactoryOptions = {},
): ProcessSource {
  const env = options.env ?? process.env;
  return new ProcessSource({
    ...options,
    name: 'rpicam',
    commandLine: rpicamCommandLine(config.video, env.PATH),
    logger,
    env,
  });
}
