/**
 * The schedule of frame-grabber.ts, apart so it can be checked without a
 * camera: shots are due on a fixed grid (start, start + every, ...), and each
 * is taken at the first keyframe at or after its due time. Counting the next
 * interval from the due time rather than from the keyframe that was taken
 * keeps the average at the interval asked for: from the keyframe, every shot
 * would also add the wait for a keyframe (up to a GOP, 6 s instead of 5).
 */

/**
 * The due time of the shot after one taken at `takenAtMs` for `dueAtMs`:
 * the next grid point after `takenAtMs` (grid points missed while the stream
 * was away are skipped, not caught up on in a burst).
 */
export function nextShotTime(dueAtMs: number, takenAtMs: number, everyMs: number): number {
  if (!(everyMs > 0)) throw new RangeError(`the interval must be a positive number of ms, got ${everyMs}`);
  if (takenAtMs < dueAtMs) return dueAtMs;
  return dueAtMs + (Math.floor((takenAtMs - dueAtMs) / everyMs) + 1) * everyMs;
}
