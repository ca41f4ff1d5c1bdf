/**
 * Chooses the fuel gauge of a camera (`fuelGauge`, docs/config.md): the
 * device's MAX17048 at 0x36, the LC709203F at 0x0B, whichever of the two
 * answers first (`auto`, in that order), or none. A camera whose gauge does
 * not answer gets an UnavailableBattery, never simulated numbers.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FuelGaugeChoice } from '../config.js';
import { LC709203F_ADDRESS, Lc709203fGauge, UnavailableBattery, type BatteryGauge } from './battery-gauge.js';
import type { I2cBus } from './i2c-tools-bus.js';
import { MAX17048_ADDRESS, Max17048Gauge } from './max17048-gauge.js';

/** Options of openFuelGauge. */
export interface OpenFuelGaugeOptions {
  choice: FuelGaugeChoice;
  /** The bus to read (an I2cToolsBus on the camera). */
  bus: I2cBus;
  busNumber: number;
  /** Filesystem root holding `dev/i2c-N`; '/' on the camera. */
  root: string;
}

/** The chosen gauge and one line for the start-up log. */
export interface FuelGaugeSelection {
  gauge: BatteryGauge;
  description: string;
}

function hex(address: number): string {
  return `0x${address.toString(16).padStart(2, '0')}`;
}

/** Probes (for `auto`) and returns the gauge; never throws. */
export async function openFuelGauge(options: OpenFuelGaugeOptions): Promise<FuelGaugeSelection> {
  const { choice, bus, busNumber } = options;
  const routes = '/battery-percent and /battery-millivolts answer 500';
  if (choice === 'none') {
    const reason = 'no fuel gauge (fuelGauge is "none")';
    return { gauge: new UnavailableBattery('none', reason), description: `${reason}: ${routes}` };
  }
  const device = `/dev/i2c-${busNumber}`;
  if (!existsSync(join(options.root, 'dev', `i2c-${busNumber}`))) {
    const reason = `no I2C bus ${busNumber} (${device} is missing): enable I2C (dtparam=i2c_arm=on in config.txt) and reboot`;
    return {
      gauge: new UnavailableBattery('missing', reason),
      description: `fuel gauge missing: ${reason}: ${routes}`,
    };
  }
  const candidates: Array<{ name: string; address: number; gauge: BatteryGauge }> = [];
  if (choice === 'auto' || choice === 'max17048')
    candidates.push({ name: 'MAX17048', address: MAX17048_ADDRESS, gauge: new Max17048Gauge(bus) });
  if (choice === 'auto' || choice === 'lc709203f')
    candidates.push({ name: 'LC709203F', address: LC709203F_ADDRESS, gauge: new Lc709203fGauge(bus) });
  const first = candidates[0];
  if (choice !== 'auto' && first) {
    // A chip named in the config is used as it is: a read that fails later answers 500 and says why.
    return {
      gauge: first.gauge,
      description: `fuel gauge ${first.name} at ${hex(first.address)} on I2C bus ${busNumber}`,
    };
  }
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      const mv = await candidate.gauge.readMillivolts();
      return {
        gauge: candidate.gauge,
        description: `fuel gauge ${candidate.name} at ${hex(candidate.address)} on I2C bus ${busNumber} (${Math.round(mv)} mV)`,
      };
    } catch (err) {
      failures.push(`${candidate.name} at ${hex(candidate.address)}: ${(err as Error).message}`);
    }
  }
  const reason = `no fuel gauge answered on I2C bus ${busNumber} (${failures.join('; ')})`;
  return { gauge: new UnavailableBattery('missing', reason), description: `fuel gauge missing: ${reason}: ${routes}` };
}
