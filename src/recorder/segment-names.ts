/**
 * File names of the recordings folder, as on the device: segments
 * `log%04d.mkv` and thumbnails `log0001_<unix seconds>.jpg` beside them.
 * Numbers wrap at the file limit (`--max-files`, 900: log0000..log0899, as
 * the device's lesson 3 says), and at 10000 when there is no file limit.
 */

/** The largest number four digits can name. */
export const MAX_SEGMENT_NUMBER = 9999;

const SEGMENT_RE = /^log(\d{4})\.mkv$/;
/** A protected segment (kept for a moment, out of the ring): `log0042-1713198307.mkv`. */
const PROTECTED_RE = /^log(\d{4})-(\d{1,12})\.mkv$/;
/** Thumbnails of ring segments (`log0042_<s>.jpg`) and of protected ones (`log0042-1713198307_<s>.jpg`). */
const THUMBNAIL_RE = /^(log\d{4}(?:-\d{1,12})?)_(\d+)\.jpg$/;

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
 * The name a segment takes when a moment protects it (it leaves the ring,
 * so its number is free again): its ring name plus its start in Unix
 * seconds, `log0042-1713198307.mkv`. Unique across laps of the ring.
 */
export function protectedSegmentName(ringName: string, startUnixSeconds: number): string {
  const n = parseSegmentName(ringName);
  if (n === undefined) throw new RangeError(`not a ring segment name: ${ringName}`);
  const s = Math.max(0, Math.floor(startUnixSeconds));
  return `${ringName.replace(/\.mkv$/, '')}-${s}.mkv`;
}

/** `{ number, startUnixSeconds }` of a protected segment name (`log0042-1713198307.mkv`), else undefined. */
export function parseProtectedName(name: string): { number: number; startUnixSeconds: number } | undefined {
  const m = PROTECTED_RE.exec(name);
  return m ? { number: Number(m[1]), startUnixSeconds: Number(m[2]) } : undefined;
}

/** True for a segment name of either kind: ring (`log0042.mkv`) or protected (`log0042-1713198307.mkv`). */
export function isRecordingName(name: string): boolean {
  return SEGMENT_RE.test(name) || PROTECTED_RE.test(name);
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

/** Splits a thumbnail name into its segment stem (`log0001`, or `log0001-1713198307` for a protected segment) and Unix seconds; undefined when it is not one. */
export function parseThumbnailName(name: string): { stem: string; unixSeconds: number } | undefined {
  const m = THUMBNAIL_RE.exec(name);
  return m ? { stem: m[1] as string, unixSeconds: Number(m[2]) } : undefined;
}
