/**
 * The clock and timers the sources and their supervisor use, injectable so
 * tests drive pacing, idle closes, stalls and backoff with a fake clock
 * instead of sleeping.
 *
 * Unlike a plain wall clock it has two readings: pacing and timeouts use a
 * monotonic time (a Raspberry Pi without a real-time clock jumps its wall
 * clock by years when NTP syncs after boot), while capture timestamps use
 * the wall clock.
 */

/** Opaque timer handle. */
export type SourceTimer = unknown;

/** Monotonic and wall-clock time plus one-shot timers. */
export interface SourceClock {
  /** Monotonic milliseconds (arbitrary origin, may be fractional): for schedules and timeouts. */
  monoNow(): number;
  /** Wall-clock milliseconds since the Unix epoch: for capture timestamps. */
  wallNow(): number;
  /** Calls `fn` once, no earlier than `delayMs` from now. */
  setTimeout(fn: () => void, delayMs: number): SourceTimer;
  clearTimeout(handle: SourceTimer): void;
}

/**
 * The real clock. Delays are rounded up to whole milliseconds so a timer
 * never fires before its due time (Node truncates fractional delays), and
 * timers are unref'd so they never keep the process alive on their own.
 */
export const systemSourceClock: SourceClock = {
  monoNow: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, Math.max(0, Math.ceil(delayMs)));
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
