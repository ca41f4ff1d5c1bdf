/**
 * The power button on GPIO 17 (active low, pulled up, as the device's
 * gpio-shutdown overlay configures it): held for `longPressMs` (default
 * 1000 ms, the overlay's debounce) it asks for a shutdown. sysfs cannot be
 * poll()ed from Node, so the line is sampled every `pollMs` (default 50 ms).
 */
import type { GpioLine } from './sysfs-gpio.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** Options of PowerButton. */
export interface PowerButtonOptions {
  /** Hold time that counts as a long press, ms. Default 1000. */
  longPressMs?: number;
  /** Sampling interval, ms. Default 50. */
  pollMs?: number;
  /** Level when pressed. Default 0 (active low). */
  pressedLevel?: 0 | 1;
  clock?: Clock;
}

/** Watches the button and calls `onLongPress` once per long press. */
export class PowerButton {
  private readonly longPressMs: number;
  private readonly pollMs: number;
  private readonly pressedLevel: number;
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private pressedSinceMs: number | undefined;
  private fired = false;
  private running = false;

  constructor(
    private readonly gpio: GpioLine,
    private readonly onLongPress: () => void,
    options: PowerButtonOptions = {},
  ) {
    this.longPressMs = options.longPressMs ?? 1000;
    this.pollMs = options.pollMs ?? 50;
    this.pressedLevel = options.pressedLevel ?? 0;
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  close(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (!this.running) return;
    let pressed = false;
    try {
      pressed = this.gpio.read() === this.pressedLevel;
    } catch {
      pressed = false;
    }
    const now = this.clock.monoNow();
    if (!pressed) {
      this.pressedSinceMs = undefined;
      this.fired = false;
    } else {
      this.pressedSinceMs ??= now;
      if (!this.fired && now - this.pressedSinceMs >= this.longPressMs) {
        this.fired = true;
        this.onLongPress();
      }
    }
    this.timer = this.clock.setTimeout(() => this.tick(), this.pollMs);
  }
}
