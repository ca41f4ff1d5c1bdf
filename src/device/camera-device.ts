/**
 * The device's hardware as one object: battery gauge, CPU temperature,
 * charging detect, status LED, power button and the low-battery guard. Each
 * part has a Linux backend and a simulated stand-in. Backend 'auto' is Linux
 * on a Raspberry Pi (resolve-device-backend.ts) and simulated elsewhere; on
 * Linux the battery is the configured fuel gauge or, when none answers, a
 * gauge whose reads fail (never simulated numbers on a camera).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DeviceBackend, FuelGaugeChoice } from '../config.js';
import { RearviewError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import {
  SimulatedBattery,
  UnavailableBattery,
  type BatteryGauge,
  type BatteryGaugeKind,
  type I2cBus,
} from './battery-gauge.js';
import {
  DEFAULT_CHARGING_GPIO,
  GpioChargingSensor,
  SimulatedChargingSensor,
  type ChargingSensor,
} from './charging-sensor.js';
import { openBoardGpio, type BoardGpio, type GpioInterface } from './board-gpio.js';
import { LedController } from './led-controller.js';
import type { GpioPull } from './libgpiod-tools.js';
import { LowBatteryGuard } from './low-battery-guard.js';
import { DEFAULT_LONG_PRESS_MS, PowerButton, type ButtonPress } from './power-button.js';
import { I2cToolsBus } from './i2c-tools-bus.js';
import { openFuelGauge } from './open-fuel-gauge.js';
import { resolveDeviceBackend, type ResolvedDeviceBackend } from './resolve-device-backend.js';
import { SampledBatteryGauge } from './sampled-battery-gauge.js';
import { hasThermalZone, LinuxThermalSensor, SimulatedThermalSensor, type ThermalSensor } from './thermal-sensor.js';
import { systemClock, type Clock } from '../util/clock.js';

export { hasPiGpio } from './board-gpio.js';

/** BCM lines of the device's I/O board. */
export const DEVICE_GPIO = { led: 21, powerButton: 17 } as const;

/** Which level means the button is pressed: PCB v1.4 pulls it down and a press drives it high. */
export type ButtonPolarity = 'active-high' | 'active-low';

/** Options of createCameraDevice. */
export interface CameraDeviceOptions {
  /** 'auto' (default: linux on a Raspberry Pi), 'linux' (fail when GPIO or thermal hardware is missing) or 'simulated'. */
  backend?: DeviceBackend;
  /** Filesystem root of sysfs and /dev; '/' on the device, a fixture tree in tests. */
  root?: string;
  /** The board model file `auto` reads. Default `<root>/proc/device-tree/model`. */
  modelPath?: string;
  /** Fuel gauge chip (Linux backend). Default 'auto': MAX17048 at 0x36, then LC709203F at 0x0B. */
  fuelGauge?: FuelGaugeChoice;
  /** I2C bus number of the fuel gauge. Default 1. */
  i2cBusNumber?: number;
  /** The `i2cget` executable of the default bus. Default 'i2cget' on PATH; tests give a fake. */
  i2cget?: string;
  /** Opens the I2C bus. Default: an I2cToolsBus (i2c-tools' `i2cget`). Tests may inject a fixture bus. */
  openI2c?: (busNumber: number) => Promise<I2cBus>;
  /** BCM line of charging detect. Default 27. */
  chargingGpio?: number;
  /** BCM line of the status LED. Default 21. */
  ledGpio?: number;
  /** BCM line of the button. Default 17. */
  buttonGpio?: number;
  /** The button's bias. Default 'down' (PCB v1.4). */
  buttonPull?: GpioPull;
  /** Default 'active-high' (PCB v1.4: HIGH = pressed). */
  buttonPolarity?: ButtonPolarity;
  /** Hold that shuts down, ms. Default 3000. */
  buttonLongPressMs?: number;
  /** GPIO interface: libgpiod's tools, sysfs, or the best found. Default 'auto'. */
  gpioInterface?: GpioInterface;
  /** Environment of the libgpiod tools (PATH finds them). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Powers the machine off. Default: `systemctl poweroff` on the Linux backend, a log line when simulated. */
  shutdown?: (reason: string) => void | Promise<void>;
  /** Run the low-battery guard and (with Linux GPIO) the power button. Default true. */
  watchPower?: boolean;
  clock?: Clock;
  logger?: Logger;
}

/** What an embedder or a test may point at other hardware (a fake Pi tree, a fake `i2cget`, a harmless shutdown). */
export type CameraDeviceOverrides = Pick<CameraDeviceOptions, 'root' | 'modelPath' | 'i2cget' | 'openI2c' | 'shutdown'>;

/** Which parts are simulated (shown in /api/v1/status). */
export interface SimulatedFlags {
  battery: boolean;
  thermal: boolean;
  charging: boolean;
  led: boolean;
  button: boolean;
}

/** The hardware, started and closed as one. */
export class CameraDevice {
  private closed = false;
  private started = false;
  private readonly buttonListeners = new Set<(press: ButtonPress) => void>();

  constructor(
    readonly battery: BatteryGauge,
    readonly thermal: ThermalSensor,
    readonly charging: ChargingSensor,
    readonly led: LedController,
    readonly simulated: SimulatedFlags,
    /** The backend in use and why ('auto' resolved). */
    readonly backend: ResolvedDeviceBackend,
    /** The button watcher (undefined when simulated or not watching). */
    readonly button: PowerButton | undefined,
    private readonly guard: LowBatteryGuard | undefined,
    /** The GPIO lines and the interface they are on. */
    readonly gpio: BoardGpio,
  ) {}

  /** Calls `listener` on every button press (short and long); returns the unsubscribe function. */
  onButton(listener: (press: ButtonPress) => void): () => void {
    this.buttonListeners.add(listener);
    return () => this.buttonListeners.delete(listener);
  }

  /** Tells the listeners about a press (the power button calls it; so may a test). */
  reportButton(press: ButtonPress): void {
    for (const l of this.buttonListeners) {
      try {
        l(press);
      } catch {
        // A listener's failure must not stop the others or the shutdown.
      }
    }
  }

  /** Which gauge answers for the battery, and why it cannot be read (null when it can, as far as known). */
  get batteryGauge(): { kind: BatteryGaugeKind; error: string | null } {
    const b = this.battery;
    const error = b instanceof UnavailableBattery ? b.reason : b instanceof SampledBatteryGauge ? b.lastError : null;
    return { kind: b.kind, error };
  }

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
    await this.button?.close();
    this.led.close();
    await this.gpio.close();
    await this.battery.close();
  }
}

function runPoweroff(logger: Logger): (reason: string) => void {
  return (reason) => {
    logger.warn(`powering off: ${reason}`);
    const child = spawn('systemctl', ['poweroff'], { stdio: 'ignore', detached: true });
    child.on('error', (err) => logger.error(`poweroff failed: ${err.message}`));
    // As the service user, logind asks polkit: without the installer's rule the request is refused.
    child.on('exit', (code) => {
      if (code !== 0)
        logger.error(
          `systemctl poweroff exited with ${code}: not allowed to power off? (the installer's polkit rule; rearview doctor checks it)`,
        );
    });
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
  const resolved = resolveDeviceBackend(backend, options.modelPath ?? join(root, 'proc', 'device-tree', 'model'));
  const strict = backend === 'linux';
  const tryLinux = resolved.backend === 'linux';
  logger.info(`device backend ${resolved.backend} (${resolved.reason})`);

  let battery: BatteryGauge;
  const fuelGauge = options.fuelGauge ?? 'auto';
  if (tryLinux) {
    const bus = await (options.openI2c ?? (async (n: number) => new I2cToolsBus(n, { command: options.i2cget })))(
      busNumber,
    );
    const selection = await openFuelGauge({ choice: fuelGauge, bus, busNumber, root });
    if (selection.gauge.kind === 'missing') logger.warn(selection.description);
    else logger.info(selection.description);
    battery =
      selection.gauge instanceof UnavailableBattery
        ? selection.gauge
        : new SampledBatteryGauge(selection.gauge, 1000, clock);
  } else if (fuelGauge === 'none') {
    battery = new UnavailableBattery('none', 'no fuel gauge (fuelGauge is "none")');
  } else battery = new SimulatedBattery(() => clock.monoNow());

  let thermal: ThermalSensor;
  if (tryLinux) {
    // Read even when the zone is missing: /cpu-temp then answers 500, as the device did, never a made-up value.
    thermal = new LinuxThermalSensor(root);
    if (strict && !hasThermalZone(root)) throw new RearviewError('ERR_DEVICE_UNAVAILABLE', 'no thermal zone 0');
  } else thermal = new SimulatedThermalSensor();

  const gpio = await openBoardGpio({
    // Not a Pi (auto): no GPIO either, whatever lines the machine has.
    backend: resolved.backend === 'simulated' ? 'simulated' : backend,
    gpioInterface: options.gpioInterface,
    root,
    env: options.env,
    ledLine: options.ledGpio ?? DEVICE_GPIO.led,
    buttonLine: options.buttonGpio ?? DEVICE_GPIO.powerButton,
    buttonPull: options.buttonPull ?? 'down',
    chargingLine: options.chargingGpio ?? DEFAULT_CHARGING_GPIO,
    clock,
    logger,
  });
  logger.info(`GPIO: ${gpio.description}`);
  const gpioLinux = gpio.kind !== 'simulated';
  const charging: ChargingSensor = gpio.charging
    ? new GpioChargingSensor(gpio.charging)
    : new SimulatedChargingSensor();
  const led = new LedController(gpio.led, clock);

  // On a Pi a flat battery powers off even when the GPIO parts fell back to stand-ins.
  const shutdown =
    options.shutdown ??
    (tryLinux ? runPoweroff(logger) : (reason: string) => logger.warn(`simulated shutdown: ${reason}`));
  const watch = options.watchPower ?? true;
  const longPressMs = options.buttonLongPressMs ?? DEFAULT_LONG_PRESS_MS;
  const buttonLine = options.buttonGpio ?? DEVICE_GPIO.powerButton;
  let device: CameraDevice | undefined;
  // A simulated button can never be pressed: nothing watches it.
  const button =
    watch && gpio.button
      ? new PowerButton(
          gpio.button,
          (press) => {
            if (press.press === 'short') logger.info(`button: short press (${press.heldMs} ms)`);
            else logger.warn(`button: held ${longPressMs / 1000} s`);
            device?.reportButton(press);
            if (press.press === 'long') void shutdown('power button long press');
          },
          {
            clock,
            longPressMs,
            pressedLevel: options.buttonPolarity === 'active-low' ? 0 : 1,
            onPressedAtStart: () =>
              logger.warn(
                `button GPIO ${buttonLine} reads pressed at start: presses count once it is released (if it never is, check buttonPolarity and buttonPull)`,
              ),
          },
        )
      : undefined;
  const guard = watch ? new LowBatteryGuard({ battery, charging, led, shutdown, clock, logger }) : undefined;

  const simulated: SimulatedFlags = {
    battery: battery.simulated,
    thermal: thermal.simulated,
    charging: charging.simulated,
    led: !gpioLinux,
    button: !gpioLinux,
  };
  device = new CameraDevice(battery, thermal, charging, led, simulated, resolved, button, guard, gpio);
  return device;
}
