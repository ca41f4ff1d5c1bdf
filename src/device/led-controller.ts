/**
 * The status LED (GPIO 21 on the device) and its blink patterns, copied from
 * the device: streaming 1200 ms on / 100 ms off (mostly on), recording
 * 100/1200 (mostly off), `PUT /blink-on` 100/1000, low battery 50/50 for 3 s
 * before shutdown. blink-on overrides the mode pattern until blink-off.
 */
import type { GpioLine } from './sysfs-gpio.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** A blink pattern: on and off times in ms. */
export interface BlinkPattern {
  readonly onMs: number;
  readonly offMs: number;
}

/** The device's patterns by name. */
export const LED_PATTERNS = {
  streaming: { onMs: 1200, offMs: 100 },
  recording: { onMs: 100, offMs: 1200 },
  blink: { onMs: 100, offMs: 1000 },
  lowBattery: { onMs: 50, offMs: 50 },
} as const satisfies Record<string, BlinkPattern>;

/** What the LED shows: a mode pattern, solid on, or off. */
export type LedState = 'streaming' | 'recording' | 'on' | 'off';

/** Drives one LED line with the device's patterns. start()/close() lifecycle. */
export class LedController {
  private modeState: LedState = 'off';
  private blinkOverride = false;
  private lowBatteryUntilMs: number | undefined;
  private timer: TimerHandle | undefined;
  private level: 0 | 1 = 0;
  private running = false;
  /** The low-battery flash in progress: its end timer and its promise's resolve. */
  private flash: { timer: TimerHandle; resolve: () => void } | undefined;

  constructor(private readonly gpio: GpioLine, private readonly clock: Clock = systemClock) {}

  /** The pattern in force now (null = steady level). */
  get pattern(): BlinkPattern | null {
    if (this.lowBatteryUntilMs !== undefined) return LED_PATTERNS.lowBattery;
    if (this.blinkOverride) return LED_PATTERNS.blink;
    if (this.modeState === 'streaming') return LED_PATTERNS.streaming;
    if (this.modeState === 'recording') return LED_PATTERNS.recording;
    return null;
  }

  /** True while `PUT /blink-on` is in force. */
  get blinking(): boolean { return this.blinkOverride; }

  /** Name of what the LED shows, for status. */
  get describe(): string {
    if (this.lowBatteryUntilMs !== undefined) return 'low-battery';
    if (this.blinkOverride) return 'blink';
    return this.modeState;
  }

  start(): void {
    this.running = true;
    this.apply();
  }

  /** Sets the mode pattern (the camera's streaming/recording state). */
  setMode(state: LedState): void {
    this.modeState = state;
    this.apply();
  }

  /** `PUT /blink-on` / `/blink-off`. */
  setBlink(on: boolean): void {
    this.blinkOverride = on;
    this.apply();
  }

  /**
   * Fast flashing for `durationMs` (default 3000) before a low-battery
   * shutdown; resolves when done, or at once when close() ends it early.
   */
  flashLowBattery(durationMs = 3000): Promise<void> {
    this.endFlash();
    this.lowBatteryUntilMs = this.clock.monoNow() + durationMs;
    this.apply();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.flash = undefined;
        this.lowBatteryUntilMs = undefined;
        this.apply();
        resolve();
      }, durationMs);
      this.flash = { timer, resolve };
    });
  }

  /** Stops blinking and the low-battery flash timer (its promise resolves). Idempotent. */
  close(): void {
    this.endFlash();
    if (!this.running) return;
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ends a flash in progress early: clears its timer and resolves its promise. */
  private endFlash(): void {
    const flash = this.flash;
    if (!flash) return;
    this.flash = undefined;
    this.lowBatteryUntilMs = undefined;
    this.clock.clearTimeout(flash.timer);
    flash.resolve();
  }

  private apply(): void {
    if (!this.running) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const pattern = this.pattern;
    if (!pattern) {
      this.set(this.modeState === 'on' ? 1 : 0);
      return;
    }
    this.set(1);
    this.schedule(pattern);
  }

  private schedule(pattern: BlinkPattern): void {
    const delay = this.level === 1 ? pattern.onMs : pattern.offMs;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.set(this.level === 1 ? 0 : 1);
      const now = this.pattern;
      if (now) this.schedule(now);
    }, delay);
  }

  private set(level: 0 | 1): void {
    this.level = level;
    try {
      this.gpio.write(level);
    } catch {
      // An LED write failure must never break the camera; the next toggle retries.
    }
  }
}
