/**
 * USB-C charging detection: one GPIO input on the device's I/O board. The
 * line is board-specific, so it is an option (default BCM 27, active high:
 * 1 = charging); the simulated stand-in reports "not charging".
 */
import type { GpioReader } from './board-gpio.js';

/** Default BCM line of the charging-detect signal (see docs/api.md). */
export const DEFAULT_CHARGING_GPIO = 27;

/** Reads whether the battery is charging. */
export interface ChargingSensor {
  readonly simulated: boolean;
  isCharging(): Promise<boolean>;
}

/** The charging-detect GPIO. */
export class GpioChargingSensor implements ChargingSensor {
  readonly simulated = false;
  /** @param activeLow true when 0 means charging (default false) */
  constructor(
    private readonly gpio: GpioReader,
    private readonly activeLow = false,
  ) {}
  async isCharging(): Promise<boolean> {
    const level = await this.gpio.read();
    return this.activeLow ? level === 0 : level === 1;
  }
}

/** Simulated: not charging unless set. */
export class SimulatedChargingSensor implements ChargingSensor {
  readonly simulated = true;
  constructor(public charging = false) {}
  async isCharging(): Promise<boolean> {
    return this.charging;
  }
}
