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

/**
 * A manual clock for tests: time moves only when `advance()` is called, and
 * due timers fire in order during the advance.
 */
export class FakeClock implements TimerClock {
  private timeMs: number;
  private nextId = 1;
  private timers = new Map<number, { atMs: number; fn: () => void }>();

  /** @param startMs initial time in ms since the epoch (default 1_700_000_000_000) */
  constructor(startMs = 1_700_000_000_000) {
    this.timeMs = startMs;
  }

  now(): number { return this.timeMs; }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.timeMs + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Number of timers waiting. */
  get pending(): number { return this.timers.size; }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.timeMs + ms;
    for (;;) {
      let dueId: number | undefined;
      let dueAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.atMs <= end && t.atMs < dueAt) { dueAt = t.atMs; dueId = id; }
      }
      if (dueId === undefined) break;
      const timer = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.timeMs = Math.max(this.timeMs, timer.atMs);
      timer.fn();
    }
    this.timeMs = end;
  }
}
