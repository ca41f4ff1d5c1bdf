/**
 * The device's hardware as one object: battery gauge, CPU temperature,
 * charging detect, status LED, power button and the low-battery guard. Each
 * part has a Linux backend and a simulated stand-in; with backend 'auto' each
 * part independently uses Linux when its hardware is present under `root`
 * and the stand-in otherwise, so the API answers on any machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceBackend } from '../config.js';
import { RearviewError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { Lc709203fGauge, openI2cBus, SimulatedBattery, type BatteryGauge, type I2cBus } from './battery-gauge.js';
import {
  DEFAULT_CHARGING_GPIO,
  GpioChargingSensor,
  SimulatedChargingSensor,
  type ChargingSensor,
} from './charging-sensor.js';
import { LedController } from './led-controller.js';
import { LowBatteryGuard } from './low-battery-guard.js';
import { PowerButton } from './power-button.js';
import { gpioSysfsDir, hasSysfsGpio, SimulatedGpioLine, SysfsGpioLine, type GpioLine } from './sysfs-gpio.js';
import { hasThermalZone, LinuxThermalSensor, SimulatedThermalSensor, type ThermalSensor } from './thermal-sensor.js';
import { systemClock, type Clock } from '../util/clock.js';

/** BCM lines of the device's I/O board. */
export const DEVICE_GPIO = { led: 21, powerButton: 17 } as const;

/** Options of createCameraDevice. */
export interface CameraDeviceOptions {
  /** 'auto' (default), 'linux' (fail when hardware is missing) or 'simulated'. */
  backend?: DeviceBackend;
  /** Filesystem root of sysfs and /dev; '/' on the device, a fixture tree in tests. */
  root?: string;
  /** I2C bus number of the fuel gauge. Default 1. */
  i2cBusNumber?: number;
  /** Opens the I2C bus; default uses the optional `i2c-bus` package. Tests inject a fixture bus. */
  openI2c?: (busNumber: number) => Promise<I2cBus>;
  /** BCM line of charging detect. Default 27. */
  chargingGpio?: number;
  /** Powers the machine off. Default: `systemctl poweroff` with Linux GPIO, a log line when simulated. */
  shutdown?: (reason: string) => void | Promise<void>;
  /** Run the low-battery guard and (with Linux GPIO) the power button. Default true. */
  watchPower?: boolean;
  clock?: Clock;
  logger?: Logger;
}

/** Which parts are simulated (shown in /api/v1/status). */
export interface SimulatedFlags {
  battery: boolean;
  thermal: boolean;
  charging: boolean;
  led: boolean;
  button: boolean;
}

/** True when `root` has the Raspberry Pi's GPIO controller in sysfs. */
export function hasPiGpio(root: string): boolean {
  if (!hasSysfsGpio(root)) return false;
  const dir = gpioSysfsDir(root);
  try {
    return readdirSync(dir)
      .filter((e) => e.startsWith('gpiochip'))
      .some((chip) => /pinctrl-(bcm|rp1)/.test(readFileSync(join(dir, chip, 'label'), 'utf8')));
  } catch {
    return false;
  }
}

/** The hardware, started and closed as one. */
export class CameraDevice {
  private closed = false;
  private started = false;

  constructor(
    readonly battery: BatteryGauge,
    readonly thermal: ThermalSensor,
    readonly charging: ChargingSensor,
    readonly led: LedController,
    readonly simulated: SimulatedFlags,
    private readonly button: PowerButton | undefined,
    private readonly guard: LowBatteryGuard | undefined,
    private readonly lines: GpioLine[],
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.led.start();
    this.button?.start();
    this.guard?.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.guard?.close();
    this.button?.close();
    this.led.close();
    for (const line of this.lines) line.close();
    await this.battery.close();
  }
}

function runPoweroff(logger: Logger): (reason: string) => void {
  return (reason) => {
    logger.warn(`powering off: ${reason}`);
    const child = spawn('systemctl', ['poweroff'], { stdio: 'ignore', detached: true });
    child.on('error', (err) => logger.error(`poweroff failed: ${err.message}`));
    child.unref();
  };
}

/** Builds the device with each part on Linux or simulated, per `backend`. */
export async function createCameraDevice(options: CameraDeviceOptions = {}): Promise<CameraDevice> {
  const backend = options.backend ?? 'auto';
  const root = options.root ?? '/';
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const busNumber = options.i2cBusNumber ?? 1;
  const strict = backend === 'linux';
  const tryLinux = backend !== 'simulated';

  let battery: BatteryGauge | undefined;
  if (tryLinux && (strict || existsSync(join(root, 'dev', `i2c-${busNumber}`)) || options.openI2c)) {
    try {
      const bus = await (options.openI2c ?? openI2cBus)(busNumber);
      const gauge = new Lc709203fGauge(bus);
      await gauge.readMillivolts(); // the gauge must answer, not just the bus
      battery = gauge;
    } catch (err) {
      if (strict) throw err;
      logger.info(`battery gauge not available (${(err as Error).message}): using the simulated battery`);
    }
  }
  battery ??= new SimulatedBattery(() => clock.monoNow());

  let thermal: ThermalSensor;
  if (tryLinux && (strict || hasThermalZone(root))) {
    thermal = new LinuxThermalSensor(root);
    if (strict && !hasThermalZone(root)) throw new RearviewError('ERR_DEVICE_UNAVAILABLE', 'no thermal zone 0');
  } else thermal = new SimulatedThermalSensor();

  const gpioLinux = tryLinux && (strict || hasPiGpio(root));
  const lines: GpioLine[] = [];
  let ledLine: GpioLine;
  let buttonLine: GpioLine;
  let chargingLine: GpioLine;
  if (gpioLinux) {
    ledLine = new SysfsGpioLine(root, DEVICE_GPIO.led, 'out');
    buttonLine = new SysfsGpioLine(root, DEVICE_GPIO.powerButton, 'in');
    chargingLine = new SysfsGpioLine(root, options.chargingGpio ?? DEFAULT_CHARGING_GPIO, 'in');
  } else {
    ledLine = new SimulatedGpioLine(DEVICE_GPIO.led);
    buttonLine = new SimulatedGpioLine(DEVICE_GPIO.powerButton, 1); // released (pulled up)
    chargingLine = new SimulatedGpioLine(DEFAULT_CHARGING_GPIO);
  }
  lines.push(ledLine, buttonLine, chargingLine);
  const charging: ChargingSensor = gpioLinux ? new GpioChargingSensor(chargingLine) : new SimulatedChargingSensor();
  const led = new LedController(ledLine, clock);

  const shutdown =
    options.shutdown ??
    (gpioLinux ? runPoweroff(logger) : (reason: string) => logger.warn(`simulated shutdown: ${reason}`));
  const watch = options.watchPower ?? true;
  // A simulated button can never be pressed: do not poll it 20 times a second.
  const button =
    watch && gpioLinux
      ? new PowerButton(buttonLine, () => void shutdown('power button long press'), { clock })
      : undefined;
  const guard = watch ? new LowBatteryGuard({ battery, charging, led, shutdown, clock, logger }) : undefined;

  const simulated: SimulatedFlags = {
    battery: battery.simulated,
    thermal: thermal.simulated,
    charging: charging.simulated,
    led: !gpioLinux,
    button: !gpioLinux,
  };
  return new CameraDevice(battery, thermal, charging, led, simulated, button, guard, lines);
}
