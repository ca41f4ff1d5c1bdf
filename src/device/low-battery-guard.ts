/**
 * Clean shutdown on a flat battery, as on the device: below 3450 mV cell
 * voltage or 10 % state of charge (the hardware cuts off at 3.0 V; the margin
 * covers the 0.3 V sag at boot), flash the LED 50/50 for 3 s, then call the
 * injected shutdown function. Never triggers while charging.
 */
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { BatteryGauge } from './battery-gauge.js';
import type { ChargingSensor } from './charging-sensor.js';
import type { LedController } from './led-controller.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** Thresholds of the device. */
export const LOW_BATTERY_MILLIVOLTS = 3450;
export const LOW_BATTERY_PERCENT = 10;

/** Options of LowBatteryGuard. */
export interface LowBatteryGuardOptions {
  battery: BatteryGauge;
  charging: ChargingSensor;
  led: LedController;
  /** Powers the machine off. Injected: tests never power anything off. */
  shutdown: (reason: string) => void | Promise<void>;
  /** Check interval, ms. Default 30000. */
  intervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Periodic battery check that shuts down cleanly once. */
export class LowBatteryGuard {
  private timer: TimerHandle | undefined;
  private running = false;
  private triggered = false;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: LowBatteryGuardOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  close(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One check; resolves true when it started a shutdown. Exported for tests and the scheduler. */
  async check(): Promise<boolean> {
    if (this.triggered) return false;
    let millivolts: number;
    let percent: number;
    try {
      [millivolts, percent] = await Promise.all([
        this.options.battery.readMillivolts(),
        this.options.battery.readPercent(),
      ]);
    } catch {
      return false; // An unreadable gauge is not a flat battery.
    }
    const low = millivolts < LOW_BATTERY_MILLIVOLTS || percent < LOW_BATTERY_PERCENT;
    if (!low) return false;
    const charging = await this.options.charging.isCharging().catch(() => false);
    if (charging) return false;
    this.triggered = true;
    // The MAX17048 reads in 78.125 uV and 1/256 % steps: compare exact values, print them short.
    const reason = `battery low (${Math.round(millivolts)} mV, ${Math.round(percent * 10) / 10} %)`;
    this.logger.warn(`${reason}: shutting down`);
    await this.options.led.flashLowBattery(3000);
    await this.options.shutdown(reason);
    return true;
  }

  private schedule(delayMs: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.check().then((fired) => {
        if (this.running && !fired) this.schedule(this.options.intervalMs ?? 30_000);
      });
    }, delayMs);
  }
}
