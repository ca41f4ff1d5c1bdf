/**
 * The status LED (GPIO 21 on the device) and its blink patterns, copied from
 * the device: streaming 1200 ms on / 100 ms off (mostly on), recording
 * 100/1200 (mostly off), `PUT /blink-on` 100/1000, low battery 50/50 for 3 s
 * before shutdown; and ours: not recording, 3 flashes of 100 ms every 2 s.
 * Which one shows is decided here only (see LedController). The controller
 * toggles a plain line on its own timer (sysfs, simulated), or hands the
 * whole pattern to an output that plays it by itself (a `gpioset -t`
 * process), so no process is started per blink.
 */
import type { GpioLine } from './sysfs-gpio.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/**
 * A blink pattern: on and off times in ms. With `flashes`, that many on/off
 * pulses make a burst and the last off time stretches so a burst starts
 * every `periodMs`.
 */
export interface BlinkPattern {
  readonly onMs: number;
  readonly offMs: number;
  readonly flashes?: number;
  readonly periodMs?: number;
}

/** The device's patterns by name (`error` is ours: the camera is not recording). */
export const LED_PATTERNS = {
  streaming: { onMs: 1200, offMs: 100 },
  recording: { onMs: 100, offMs: 1200 },
  blink: { onMs: 100, offMs: 1000 },
  lowBattery: { onMs: 50, offMs: 50 },
  error: { onMs: 100, offMs: 100, flashes: 3, periodMs: 2000 },
} as const satisfies Record<string, BlinkPattern>;

/**
 * An LED output that plays a whole pattern by itself (libgpiod's gpioset):
 * the controller hands it the pattern in force, or the steady level when
 * there is none, instead of toggling the line.
 */
export interface LedPatternOutput {
  show(pattern: BlinkPattern | null, level: 0 | 1): void;
}

/**
 * The toggle periods of `pattern` from its on phase, ms, an even number of
 * them (on, off, on, off...), a burst's last off stretched to its period:
 * what `gpioset -t` repeats.
 */
export function togglePeriods(pattern: BlinkPattern): number[] {
  const flashes = pattern.flashes ?? 1;
  const out: number[] = [];
  for (let i = 0; i < flashes; i++) out.push(pattern.onMs, pattern.offMs);
  if (pattern.periodMs !== undefined)
    out[out.length - 1] = Math.max(
      pattern.offMs,
      pattern.periodMs - flashes * (pattern.onMs + pattern.offMs) + pattern.offMs,
    );
  return out;
}

/**
 * The one level that stands for `pattern` on an output that cannot blink
 * (libgpiod v1 without sysfs): off for the mostly-off recording pattern, on
 * for every other one, so the alarm, low battery and blink-on still light it.
 */
export function steadyLevelOf(pattern: BlinkPattern): 0 | 1 {
  return pattern === LED_PATTERNS.recording ? 0 : 1;
}

/** What the LED shows: a mode pattern, solid on, or off. */
export type LedState = 'streaming' | 'recording' | 'on' | 'off';

/** How long a marked moment holds the LED solid on, ms. */
export const MOMENT_MS = 1000;

/**
 * Drives one LED line. Everything that wants the LED goes through here, and
 * the one rule of who wins, highest first: low battery > not recording
 * (`error`) > a moment marked (solid 1 s) > `blink-on` or `blink-off` (the
 * LED off, until `blink-on` or the mode pattern changes) > the mode pattern.
 * So `blink-off` (or a blink at all) never hides the not-recording alarm.
 * start()/close() lifecycle.
 */
export class LedController {
  private modeState: LedState = 'off';
  /** `PUT /blink-on` ('blink') or `PUT /blink-off` ('off') in force. */
  private userOverride: 'blink' | 'off' | undefined;
  private alarm = false;
  private lowBatteryUntilMs: number | undefined;
  private momentTimer: TimerHandle | undefined;
  private timer: TimerHandle | undefined;
  private level: 0 | 1 = 0;
  /** Position in a burst pattern: on/off half-periods since the burst started. */
  private step = 0;
  private running = false;
  /** The low-battery flash in progress: its end timer and its promise's resolve. */
  private flash: { timer: TimerHandle; resolve: () => void } | undefined;

  private readonly gpio: GpioLine | undefined;
  private readonly output: LedPatternOutput | undefined;

  /** @param gpio a line the controller toggles, or an output that plays patterns itself */
  constructor(
    gpio: GpioLine | LedPatternOutput,
    private readonly clock: Clock = systemClock,
  ) {
    if ('show' in gpio) this.output = gpio;
    else this.gpio = gpio;
  }

  /** The pattern in force now (null = a steady level: solid for a moment or mode 'on', else off). */
  get pattern(): BlinkPattern | null {
    switch (this.describe) {
      case 'low-battery':
        return LED_PATTERNS.lowBattery;
      case 'not-recording':
        return LED_PATTERNS.error;
      case 'moment':
        return null;
      case 'blink':
        return LED_PATTERNS.blink;
      case 'blink-off':
        return null;
      case 'streaming':
        return LED_PATTERNS.streaming;
      case 'recording':
        return LED_PATTERNS.recording;
      default:
        return null;
    }
  }

  /** True while `PUT /blink-on` is in force (even when a higher priority hides it). */
  get blinking(): boolean {
    return this.userOverride === 'blink';
  }

  /** Name of what the LED shows, for status: the winner of the priority rule. */
  get describe(): string {
    if (this.lowBatteryUntilMs !== undefined) return 'low-battery';
    if (this.alarm) return 'not-recording';
    if (this.momentTimer !== undefined) return 'moment';
    if (this.userOverride === 'blink') return 'blink';
    if (this.userOverride === 'off') return 'blink-off';
    return this.modeState;
  }

  start(): void {
    this.running = true;
    this.apply();
  }

  /** Sets the mode pattern (the camera's streaming/recording state); a change ends `blink-off`. */
  setMode(state: LedState): void {
    if (state !== this.modeState && this.userOverride === 'off') this.userOverride = undefined;
    this.modeState = state;
    this.apply();
  }

  /** `PUT /blink-on` (the blink pattern) / `PUT /blink-off` (the LED off until blink-on or a mode change). */
  setBlink(on: boolean): void {
    this.userOverride = on ? 'blink' : 'off';
    this.apply();
  }

  /** The not-recording alarm (the `error` pattern) on or off; set from the recording health. */
  setNotRecording(on: boolean): void {
    if (this.alarm === on) return;
    this.alarm = on;
    this.apply();
  }

  /** Solid on for `durationMs` (default {@link MOMENT_MS}): a moment was marked. A new mark restarts it. */
  markMoment(durationMs = MOMENT_MS): void {
    if (this.momentTimer !== undefined) this.clock.clearTimeout(this.momentTimer);
    this.momentTimer = this.clock.setTimeout(() => {
      this.momentTimer = undefined;
      this.apply();
    }, durationMs);
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
    if (this.momentTimer !== undefined) this.clock.clearTimeout(this.momentTimer);
    this.momentTimer = undefined;
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
    const describe = this.describe;
    const steady: 0 | 1 = describe === 'moment' || describe === 'on' ? 1 : 0;
    if (this.output) {
      this.level = pattern ? 1 : steady;
      try {
        this.output.show(pattern, steady);
      } catch {
        // An LED failure must never break the camera.
      }
      return;
    }
    if (!pattern) {
      this.set(steady);
      return;
    }
    this.step = 0;
    this.set(1);
    this.schedule(pattern);
  }

  /** How long the current half-period lasts: on, off, or a burst's stretched last off. */
  private delayOf(pattern: BlinkPattern): number {
    if (this.level === 1) return pattern.onMs;
    const flashes = pattern.flashes ?? 1;
    const lastOff = this.step === flashes * 2 - 1;
    if (lastOff && pattern.periodMs !== undefined)
      return Math.max(pattern.offMs, pattern.periodMs - flashes * (pattern.onMs + pattern.offMs) + pattern.offMs);
    return pattern.offMs;
  }

  private schedule(pattern: BlinkPattern): void {
    const delay = this.delayOf(pattern);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.step = (this.step + 1) % ((pattern.flashes ?? 1) * 2);
      this.set(this.level === 1 ? 0 : 1);
      const now = this.pattern;
      if (now) this.schedule(now);
    }, delay);
  }

  private set(level: 0 | 1): void {
    this.level = level;
    try {
      this.gpio?.write(level);
    } catch {
      // An LED write failure must never break the camera; the next toggle retries.
    }
  }
}
