/**
 * Battery state of charge and cell voltage. On the device an LC709203F fuel
 * gauge answers on I2C bus 1 at address 0x0B; it is read through the `i2c-bus`
 * npm package, an optional dependency loaded only when the Linux backend is
 * used (the build and the simulated backend never need it).
 */
import { RearviewError } from '../errors.js';

/** What the API and the low-battery guard read. */
export interface BatteryGauge {
  /** True for the simulated stand-in (reported in /api/v1/status). */
  readonly simulated: boolean;
  /** Relative state of charge in percent (the gauge may report over 100). */
  readPercent(): Promise<number>;
  /** Cell voltage in millivolts. */
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

/** The few SMBus calls the gauge needs (subset of `i2c-bus`'s PromisifiedBus). */
export interface I2cBus {
  readWord(address: number, command: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens I2C bus `busNumber` with the optional `i2c-bus` package. Throws
 * ERR_DEVICE_UNAVAILABLE when the package is not installed. The package opens
 * `/dev/i2c-N` lazily, so a missing bus shows up on the first read (which
 * Lc709203fGauge reports as ERR_DEVICE_UNAVAILABLE).
 */
export async function openI2cBus(busNumber: number): Promise<I2cBus> {
  // A variable module name keeps TypeScript and bundlers from requiring the package.
  const moduleName = 'i2c-bus';
  let mod: { openPromisified(bus: number): Promise<I2cBus> };
  try {
    const imported = (await import(moduleName)) as { default?: typeof mod } & typeof mod;
    mod = imported.default ?? imported;
  } catch (err) {
    throw new RearviewError(
      'ERR_DEVICE_UNAVAILABLE',
      'the optional i2c-bus package is not installed (npm install i2c-bus)',
      { cause: err },
    );
  }
  try {
    return await mod.openPromisified(busNumber);
  } catch (err) {
    throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `cannot open I2C bus ${busNumber}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The LC709203F over an I2C bus. */
export class Lc709203fGauge implements BatteryGauge {
  readonly simulated = false;

  /**
   * @param bus an open bus (from openI2cBus, or a fixture bus in tests)
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
