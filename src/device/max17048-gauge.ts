/**
 * The MAX17048 fuel gauge of the device's I/O board (I2C bus 1, address
 * 0x36), read as the device's `src/fuel_gauge.rs` does: state of charge =
 * register 0x04 / 256 %, cell voltage = register 0x02 x 78.125 uV. Its
 * registers are 16 bits sent most significant byte first, the reverse of an
 * SMBus word, so each word is byte-swapped.
 */
import { RearviewError } from '../errors.js';
import type { BatteryGauge } from './battery-gauge.js';
import { swapWordBytes, type I2cBus } from './i2c-tools-bus.js';

/** MAX17048 registers (datasheet, "Register Summary"). */
export const Max17048Register = {
  /** Cell voltage, 78.125 uV per unit. */
  VCELL: 0x02,
  /** State of charge, 1/256 % per unit. */
  SOC: 0x04,
  /** Production version, 0x001X. */
  VERSION: 0x08,
} as const;

/** I2C address of the MAX17048 (fixed by the chip). */
export const MAX17048_ADDRESS = 0x36;

/** The MAX17048 over an I2C bus. Values are exact (fractional); the legacy routes round them as the device did. */
export class Max17048Gauge implements BatteryGauge {
  readonly kind = 'max17048';
  readonly simulated = false;

  /** @param bus the I2C bus (an I2cToolsBus, or a fixture bus in tests) */
  constructor(
    private readonly bus: I2cBus,
    private readonly address = MAX17048_ADDRESS,
  ) {}

  async readPercent(): Promise<number> {
    return (await this.readRegister(Max17048Register.SOC, 'state of charge')) / 256;
  }

  async readMillivolts(): Promise<number> {
    return ((await this.readRegister(Max17048Register.VCELL, 'cell voltage')) * 78.125) / 1000;
  }

  async close(): Promise<void> {
    await this.bus.close().catch(() => undefined);
  }

  private async readRegister(register: number, what: string): Promise<number> {
    try {
      return swapWordBytes(await this.bus.readWord(this.address, register));
    } catch (err) {
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `MAX17048 ${what}: ${(err as Error).message}`, { cause: err });
    }
  }
}
