/**
 * The one ffmpeg locator of the project (thumbnails, decode(), the ffmpeg
 * capture source, `rearview doctor`). Order:
 *
 * 1. the `REARVIEW_FFMPEG` environment variable (a path),
 * 2. `ffmpeg` on PATH (the system build; the Raspberry Pi installer puts
 *    Debian's there).
 *
 * No ffmpeg ships with the npm package: a bundled static build cost every
 * install 66 MB, the Pi's included, where the system one is there anyway.
 * Callers say clearly what is off when there is none ({@link FFMPEG_MISSING}).
 *
 * Only existence is checked (nothing is run). Results are cached per
 * (REARVIEW_FFMPEG, PATH) pair.
 */
import { findOnPath } from './find-on-path.js';

/** What to do when findFfmpeg() finds none; callers put it after what is off. */
export const FFMPEG_MISSING =
  'no ffmpeg found: install it (apt-get install ffmpeg, brew install ffmpeg) or set REARVIEW_FFMPEG to its path';

const cache = new Map<string, string | undefined>();

/**
 * The ffmpeg to run, in the order of the file comment, or undefined when
 * there is none. A hit on PATH gives the bare command `ffmpeg`, so a child
 * spawned with the same `env` resolves the same binary. `env` defaults to
 * process.env.
 */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const key = `${env.REARVIEW_FFMPEG ?? ''}\0${env.PATH ?? ''}`;
  if (cache.has(key)) return cache.get(key);
  let found: string | undefined;
  if (env.REARVIEW_FFMPEG) found = env.REARVIEW_FFMPEG;
  else if (findOnPath('ffmpeg', env.PATH)) found = 'ffmpeg';
  cache.set(key, found);
  return found;
}
