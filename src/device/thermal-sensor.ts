/** CPU temperature: Linux thermal zone 0 (millidegrees Celsius) or a simulated stand-in. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { RearviewError } from '../errors.js';

/** Reads the CPU temperature. */
export interface ThermalSensor {
  readonly simulated: boolean;
  /** Degrees Celsius (fractional). */
  readCelsius(): Promise<number>;
}

/** Path of the thermal zone under `root`. */
export function thermalZonePath(root: string): string {
  return join(root, 'sys', 'class', 'thermal', 'thermal_zone0', 'temp');
}

/** True when `root` has thermal zone 0. */
export function hasThermalZone(root: string): boolean {
  return existsSync(thermalZonePath(root));
}

/** `/sys/class/thermal/thermal_zone0/temp` under a configurable root. */
export class LinuxThermalSensor implements ThermalSensor {
  readonly simulated = false;
  constructor(private readonly root = '/') {}

  async readCelsius(): Promise<number> {
    const path = thermalZonePath(this.root);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `cannot read ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const milli = Number(text.trim());
    if (!Number.isFinite(milli) || text.trim() === '')
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `${path}: not a number: ${JSON.stringify(text.trim())}`);
    return milli / 1000;
  }
}

/** A simulated CPU at 48.3 °C (a Pi Zero 2W encoding 360p in a case). */
export class SimulatedThermalSensor implements ThermalSensor {
  readonly simulated = true;
  constructor(private readonly celsius = 48.3) {}
  async readCelsius(): Promise<number> {
    return this.celsius;
  }
}
