/**
 * Re-stamping a segment recorded before the camera's clock was set
 * (src/util/camera-clock.ts): its start time was provisional and becomes
 * `toMs`. Two things carry it: the Matroska DateUTC (patched in place, the
 * file's modification time kept) and the thumbnail's name
 * (`log0001_<seconds>.jpg`, renamed). The frames' capture-time SEI inside the
 * file keeps the provisional times. Files in the folder are hostile: the
 * segment is changed only when it is still the one we wrote (a regular file,
 * one link, the provisional DateUTC), and the thumbnail renamed only when it
 * is a regular file and nothing has the new name.
 */
import { lstat, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { restampMatroskaStart } from './matroska-file.js';
import { thumbnailName } from './segment-names.js';

/** What a re-stamp changed. */
export interface SegmentRestamp {
  /** The segment's DateUTC was moved. */
  segment: boolean;
  /** The thumbnail was renamed (false also when its name did not change). */
  thumbnail: boolean;
}

/**
 * Moves `name`'s start from `fromMs` to `toMs` in `dir`. `segment` false
 * skips the file itself (the writer of the segment being recorded writes
 * the new start when it seals it). Missing files are skipped, not errors.
 */
export async function restampSegment(
  dir: string,
  name: string,
  fromMs: number,
  toMs: number,
  options: { segment?: boolean } = {},
): Promise<SegmentRestamp> {
  const out: SegmentRestamp = { segment: false, thumbnail: false };
  if (options.segment !== false) {
    try {
      out.segment = await restampMatroskaStart(join(dir, name), fromMs, toMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ELOOP') throw err; // rotated meanwhile, or a planted link: left alone
    }
  }
  const from = join(dir, thumbnailName(name, fromMs));
  const to = join(dir, thumbnailName(name, toMs));
  if (from === to) return out;
  const found = await lstat(from).catch(() => undefined);
  if (!found?.isFile()) return out;
  if (
    await lstat(to).then(
      () => true,
      () => false,
    )
  )
    return out; // never replace a file
  await rename(from, to);
  out.thumbnail = true;
  return out;
}
