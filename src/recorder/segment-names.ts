/**
 * File names of the recordings folder, as on the device: segments
 * `log%04d.mkv` and thumbnails `log0001_<unix seconds>.jpg` beside them.
 * Numbers wrap at the file limit (`--max-files`, 900: log0000..log0899, as
 * the device's lesson 3 says), and at 10000 when there is no file limit.
 */

/** The largest number four digits can name. */
export const MAX_SEGMENT_NUMBER = 9999;

const SEGMENT_RE = /^log(\d{4})\.mkv$/;
const THUMBNAIL_RE = /^(log\d{4})_(\d+)\.jpg$/;

/** `log0001.mkv` for 1. Throws RangeError outside 0..9999. */
export function segmentName(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > MAX_SEGMENT_NUMBER)
    throw new RangeError(`segment number must be 0..${MAX_SEGMENT_NUMBER}, got ${n}`);
  return `log${String(n).padStart(4, '0')}.mkv`;
}

/** The number of a segment file name, or undefined when `name` is not `log%04d.mkv`. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * How many numbers the names cycle through: the file limit `maxFiles`
 * (names log0000..log(maxFiles-1)), or all 10000 when there is no limit (0)
 * or it is larger.
 */
export function segmentNumberSpan(maxFiles: number): number {
  return maxFiles > 0 && maxFiles <= MAX_SEGMENT_NUMBER ? Math.floor(maxFiles) : MAX_SEGMENT_NUMBER + 1;
}

/**
 * The number after `n` in a cycle of `span` numbers (segmentNumberSpan):
 * 0 after span-1, and 0 after a number left above the span by a larger
 * earlier limit. Default span 10000 (9999 -> 0).
 */
export function nextSegmentNumber(n: number, span = MAX_SEGMENT_NUMBER + 1): number {
  return n + 1 >= span ? 0 : n + 1;
}

/** `log0001_1713198307.jpg` for `log0001.mkv` started at `startedAtMs` (ms since the epoch, floored to seconds). */
export function thumbnailName(segment: string, startedAtMs: number): string {
  return `${segment.replace(/\.mkv$/, '')}_${Math.floor(startedAtMs / 1000)}.jpg`;
}

/** Splits a thumbnail name into its segment stem (`log0001`) and Unix seconds; undefined when it is not one. */
export function parseThumbnailName(name: string): { stem: string; unixSeconds: number } | undefined {
  const m = THUMBNAIL_RE.exec(name);
  return m ? { stem: m[1] as string, unixSeconds: Number(m[2]) } : undefined;
}
