/**
 * The button on the device's I/O board (GPIO 17). On PCB v1.4 it is an input
 * with a pull-down and a HIGH level means pressed (the original's
 * `shutdown_at_pin`), the default here; pin, pull and polarity are settings.
 *
 * Held for `longPressMs` (default 3 s) it asks for a shutdown, once per
 * press, while still held. Released within `shortPressMs` (600 ms) it is a
 * short press, reported for features such as marking a moment. Presses
 * between the two do nothing. Edges closer than `debounceMs` (30 ms) are
 * contact bounce and merge into one press. A button that reads pressed when
 * watching starts (a wrong polarity, or a finger on it at boot) counts only
 * after it has been seen released, so a wrong setting cannot power the
 * camera off right after boot.
 *
 * The level comes from a ButtonInput: gpiomon's edge stream (the character
 * device, gpiomon-button-input.ts) or a sysfs line sampled every 50 ms
 * (PolledButtonInput: sysfs cannot be poll()ed from Node).
 */
import type { GpioLine } from './sysfs-gpio.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** Where the button's level comes from. */
export interface ButtonInput {
  /** Starts reporting levels (the first one is the level at start; repeats are allowed). */
  start(onLevel: (level: 0 | 1) => void): void;
  close(): void | Promise<void>;
}

/** A press the button reports. */
export interface ButtonPress {
  press: 'short' | 'long';
  /** How long it was held, ms (for a long press: when it fired). */
  heldMs: number;
}

/** Longest hold that is a short press, ms. */
export const SHORT_PRESS_MS = 600;
/** Default hold that shuts down, ms. */
export const DEFAULT_LONG_PRESS_MS = 3000;

/** Options of PowerButton. */
export interface PowerButtonOptions {
  /** Hold time that counts as a long press, ms. Default 3000. */
  longPressMs?: number;
  /** Longest hold that is a short press, ms. Default 600. */
  shortPressMs?: number;
  /** Edges closer than this are bounce, ms. Default 30. */
  debounceMs?: number;
  /** Level when pressed. Default 1 (active high, PCB v1.4). */
  pressedLevel?: 0 | 1;
  /** Called once when the button reads pressed as watching starts. */
  onPressedAtStart?: () => void;
  clock?: Clock;
}

/** Turns the button's levels into short and long presses (see the module comment). */
export class PowerButton {
  private readonly longPressMs: number;
  private readonly shortPressMs: number;
  private readonly debounceMs: number;
  private readonly pressedLevel: 0 | 1;
  private readonly clock: Clock;
  private seenFirst = false;
  private armed = false;
  private pressedAtMs: number | undefined;
  private releasedAtMs: number | undefined;
  private fired = false;
  private longTimer: TimerHandle | undefined;
  private releaseTimer: TimerHandle | undefined;
  private running = false;

  constructor(
    private readonly input: ButtonInput,
    private readonly onPress: (press: ButtonPress) => void,
    private readonly options: PowerButtonOptions = {},
  ) {
    this.longPressMs = options.longPressMs ?? DEFAULT_LONG_PRESS_MS;
    this.shortPressMs = options.shortPressMs ?? SHORT_PRESS_MS;
    this.debounceMs = options.debounceMs ?? 30;
    this.pressedLevel = options.pressedLevel ?? 1;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * `waiting` until the button has been seen released (presses do not count
   * yet), then `released`, `pressed`, or `releasing` (released less than
   * `debounceMs` ago: a bounce would continue the press).
   */
  get state(): 'waiting' | 'released' | 'pressed' | 'releasing' {
    if (!this.armed) return 'waiting';
    if (this.pressedAtMs === undefined) return 'released';
    return this.releaseTimer === undefined ? 'pressed' : 'releasing';
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.input.start((level) => this.level(level));
  }

  async close(): Promise<void> {
    this.running = false;
    this.clear('longTimer');
    this.clear('releaseTimer');
    await this.input.close();
  }

  private clear(which: 'longTimer' | 'releaseTimer'): void {
    const t = this[which];
    if (t !== undefined) this.clock.clearTimeout(t);
    this[which] = undefined;
  }

  private level(level: 0 | 1): void {
    if (!this.running) return;
    const pressed = level === this.pressedLevel;
    if (!this.seenFirst) {
      this.seenFirst = true;
      if (pressed) this.options.onPressedAtStart?.();
    }
    if (!this.armed) {
      if (!pressed) this.armed = true;
      return;
    }
    const now = this.clock.monoNow();
    if (pressed) {
      if (this.releaseTimer !== undefined) {
        // Bounce: the release did not last; the press goes on.
        this.clear('releaseTimer');
        this.releasedAtMs = undefined;
        this.armLong();
      } else if (this.pressedAtMs === undefined) {
        this.pressedAtMs = now;
        this.fired = false;
        this.armLong();
      }
      return;
    }
    if (this.pressedAtMs === undefined || this.releaseTimer !== undefined) return;
    this.releasedAtMs = now;
    this.clear('longTimer');
    this.releaseTimer = this.clock.setTimeout(() => this.released(), this.debounceMs);
  }

  private armLong(): void {
    this.clear('longTimer');
    if (this.fired || this.pressedAtMs === undefined) return;
    const at = this.pressedAtMs + this.longPressMs;
    this.longTimer = this.clock.setTimeout(
      () => {
        this.longTimer = undefined;
        if (!this.running || this.pressedAtMs === undefined) return;
        this.fired = true;
        this.onPress({ press: 'long', heldMs: Math.round(this.clock.monoNow() - this.pressedAtMs) });
      },
      Math.max(0, at - this.clock.monoNow()),
    );
  }

  /** The release lasted `debounceMs`: the press is over. */
  private released(): void {
    this.releaseTimer = undefined;
    const start = this.pressedAtMs;
    const end = this.releasedAtMs;
    this.pressedAtMs = undefined;
    this.releasedAtMs = undefined;
    if (!this.running || start === undefined || end === undefined || this.fired) return;
    const held = end - start;
    if (held >= this.debounceMs && held <= this.shortPressMs)
      this.onPress({ press: 'short', heldMs: Math.round(held) });
  }
}

/** A ButtonInput sampling a line (sysfs) every `pollMs` (default 50 ms). */
export class PolledButtonInput implements ButtonInput {
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(
    private readonly line: GpioLine,
    private readonly clock: Clock = systemClock,
    private readonly pollMs = 50,
  ) {}

  start(onLevel: (level: 0 | 1) => void): void {
    if (this.running) return;
    this.running = true;
    const tick = (): void => {
      if (!this.running) return;
      try {
        onLevel(this.line.read() === 1 ? 1 : 0);
      } catch {
        // An unreadable sample is skipped; the next one may work.
      }
      this.timer = this.clock.setTimeout(tick, this.pollMs);
    };
    tick();
  }

  close(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
