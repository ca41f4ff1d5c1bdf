/**
 * Battery state of charge and cell voltage: the drivers of the two fuel
 * gauges (the device's MAX17048 in max17048-gauge.ts, the LC709203F here),
 * the simulated battery of machines that are not a camera, and the stand-in
 * for a camera without an answering gauge (its reads fail, so the routes
 * answer 500 as the device did).
 */
import { RearviewError } from '../errors.js';
import type { I2cBus } from './i2c-tools-bus.js';

export type { I2cBus } from './i2c-tools-bus.js';

/** What answers for the battery: a chip, the simulation, or nothing ('missing': none answered; 'none': configured so). */
export type BatteryGaugeKind = 'max17048' | 'lc709203f' | 'simulated' | 'missing' | 'none';

/** What the API and the low-battery guard read. */
export interface BatteryGauge {
  readonly kind: BatteryGaugeKind;
  /** True for the simulated stand-in (reported in /api/v1/status). */
  readonly simulated: boolean;
  /** Relative state of charge in percent (the gauge may report over 100; may be fractional). */
  readPercent(): Promise<number>;
  /** Cell voltage in millivolts (may be fractional). */
  readMillivolts(): Promise<number>;
  close(): Promise<void>;
}

/** LC709203F registers (datasheet, "Register Map"). Values are 16-bit little-endian words. */
export const Lc709203fRegister = {
  /** Cell voltage, mV. */
  CELL_VOLTAGE: 0x09,
  /** Relative state of charge, %. */
  RSOC: 0x0d,
  /** Indicator to empty, 0.1 %. */
  ITE: 0x0f,
  /** IC version. */
  IC_VERSION: 0x11,
} as const;

/** Default I2C address of the LC709203F. */
export const LC709203F_ADDRESS = 0x0b;

/** The LC709203F over an I2C bus. */
export class Lc709203fGauge implements BatteryGauge {
  readonly kind = 'lc709203f';
  readonly simulated = false;

  /**
   * @param bus the I2C bus (an I2cToolsBus, or a fixture bus in tests)
   * @param address I2C address, default 0x0B
   */
  constructor(
    private readonly bus: I2cBus,
    private readonly address = LC709203F_ADDRESS,
  ) {}

  async readPercent(): Promise<number> {
    return this.readRegister(Lc709203fRegister.RSOC, 'state of charge');
  }

  async readMillivolts(): Promise<number> {
    return this.readRegister(Lc709203fRegister.CELL_VOLTAGE, 'cell voltage');
  }

  async close(): Promise<void> {
    await this.bus.close().catch(() => undefined);
  }

  private async readRegister(register: number, what: string): Promise<number> {
    try {
      // The LC709203F sends the low byte first, as SMBus words are.
      return (await this.bus.readWord(this.address, register)) & 0xffff;
    } catch (err) {
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `LC709203F ${what}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * A plausible battery for machines without the gauge: a 2000 mAh cell that
 * discharges from 87 % by 1 % every 6 minutes down to 20 % (then holds), with
 * the voltage following a linear 3.60 V (0 %) .. 4.15 V (100 %) curve.
 */
export class SimulatedBattery implements BatteryGauge {
  readonly kind = 'simulated';
  readonly simulated = true;
  private readonly startedAtMs: number;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly startPercent = 87,
  ) {
    this.startedAtMs = now();
  }

  async readPercent(): Promise<number> {
    const elapsedMin = (this.now() - this.startedAtMs) / 60_000;
    return Math.max(20, Math.round(this.startPercent - elapsedMin / 6));
  }

  async readMillivolts(): Promise<number> {
    const percent = await this.readPercent();
    return Math.round(3600 + (550 * percent) / 100);
  }

  async close(): Promise<void> {
    // simulated: nothing to release
  }
}

/**
 * No gauge to read: every read fails with ERR_DEVICE_UNAVAILABLE and `reason`,
 * so `/battery-percent` and `/battery-millivolts` answer 500 and the status
 * shows null. Never made-up numbers on a camera.
 */
export class UnavailableBattery implements BatteryGauge {
  readonly simulated = false;

  constructor(
    readonly kind: 'missing' | 'none',
    readonly reason: string,
  ) {}

  async readPercent(): Promise<number> {
    throw new RearviewError('ERR_DEVICE_UNAVAILABLE', this.reason);
  }

  async readMillivolts(): Promise<number> {
    throw new RearviewError('ERR_DEVICE_UNAVAILABLE', this.reason);
  }

  async close(): Promise<void> {
    // nothing to release
  }
}
