/**
 * The one manual clock of the tests: time moves only when `advance()` is
 * called, and due timers fire in order during the advance. It is the
 * project's Clock (src/util/clock.ts: device, modes, sources; one time for
 * both monotonic and wall readings) and the hub's `now` function, so no test
 * sleeps.
 */
import type { Clock, TimerHandle } from '../../src/util/clock.js';

/** A manual clock (ms) with one-shot timers. */
export class FakeClock implements Clock {
  /** Current time in ms (since the epoch for wall-clock users; any origin for monotonic ones). */
  nowMs: number;
  private nextId = 1;
  private timers = new Map<number, { atMs: number; fn: () => void }>();

  /** @param startMs initial time in ms (default 1_700_000_000_000, a plausible wall clock) */
  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs;
  }

  /** The current time; an arrow so `clock.now` can be injected as a bare function. */
  readonly now = (): number => this.nowMs;

  /** Clock: the monotonic reading (the same time as `now`). */
  readonly monoNow = (): number => this.nowMs;

  /** Clock: the wall-clock reading (the same time as `now`). */
  readonly wallNow = (): number => this.nowMs;

  /** Calls `fn` once when `advance()` passes `delayMs` from now. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.nowMs + Math.max(0, delayMs), fn });
    return id;
  }

  /** Cancels a timer; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Number of timers waiting. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      let dueId: number | undefined;
      let dueAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.atMs <= end && t.atMs < dueAt) {
          dueAt = t.atMs;
          dueId = id;
        }
      }
      if (dueId === undefined) break;
      const timer = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.nowMs = Math.max(this.nowMs, timer.atMs);
      timer.fn();
    }
    this.nowMs = end;
  }
}
