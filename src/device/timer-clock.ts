/**
 * The clock and timers that time-based device and mode code uses, injectable
 * so tests drive them with a fake clock instead of sleeping.
 */

/** Opaque timer handle. */
export type TimerHandle = unknown;

/** Wall-clock time and one-shot timers. */
export interface TimerClock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `delayMs`. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock; timers are unref'd so they never keep the process alive. */
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
