/**
 * The one clock interface of the project: what time-based code in the
 * sources, their supervisor, the device backends and the modes reads and
 * schedules with, injectable so tests drive it with a fake clock
 * (test/support/fake-clock.ts) instead of sleeping.
 *
 * It has two readings: schedules, timeouts and durations use a monotonic
 * time (a Raspberry Pi without a real-time clock jumps its wall clock by
 * years when NTP syncs after boot), while timestamps that people or files
 * see (capture times, "since") use the wall clock.
 */

/** Opaque timer handle. */
export type TimerHandle = unknown;

/** Monotonic and wall-clock time plus one-shot timers. */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin, may be fractional): for schedules, timeouts and durations. */
  monoNow(): number;
  /** Wall-clock milliseconds since the Unix epoch: for timestamps. */
  wallNow(): number;
  /** Calls `fn` once, no earlier than `delayMs` from now. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. Delays are rounded up to whole milliseconds so a timer
 * never fires before its due time (Node truncates fractional delays), and
 * timers are unref'd so they never keep the process alive on their own.
 */
export const systemClock: Clock = {
  monoNow: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, Math.max(0, Math.ceil(delayMs)));
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
