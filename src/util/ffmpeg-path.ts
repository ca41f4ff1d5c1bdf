/**
 * The one ffmpeg locator of the project (thumbnails, decode(), the ffmpeg
 * capture source). Order:
 *
 * 1. the `REARVIEW_FFMPEG` environment variable (a path),
 * 2. `ffmpeg` on PATH (the system build: it starts faster and encodes with
 *    the machine's libraries),
 * 3. the static binary of the npm package `@ffmpeg-installer/ffmpeg`, so it
 *    works right after `npm ci` with no system packages.
 *
 * Only existence is checked (nothing is run). Results are cached per
 * (REARVIEW_FFMPEG, PATH) pair.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { findOnPath } from './find-on-path.js';

/** Path of the ffmpeg binary shipped in @ffmpeg-installer/ffmpeg, or undefined when not installed for this platform. */
export function bundledFfmpegPath(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@ffmpeg-installer/ffmpeg') as { path?: string };
    return mod.path && existsSync(mod.path) ? mod.path : undefined;
  } catch {
    return undefined;
  }
}

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
  else found = bundledFfmpegPath();
  cache.set(key, found);
  return found;
}
