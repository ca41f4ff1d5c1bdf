/**
 * The I/O board's GPIO lines (LED, button, charging detect) on the interface
 * this machine has, best first:
 *
 * 1. libgpiod's tools on the character device (`gpioInterface` auto or
 *    libgpiod; tools installed and `gpiodetect` lists the Pi's pin
 *    controller): one long-lived gpiomon for the button, one long-lived
 *    gpioset for the LED, gpioget for a charging read. With v1 tools, whose
 *    gpioset cannot blink without a process per level change, the LED uses
 *    sysfs when the kernel has it (no process at all) and otherwise a steady
 *    level (gpioset-led-output.ts).
 * 2. sysfs (`/sys/class/gpio`, deprecated but still in Raspberry Pi OS
 *    kernels): lines read and written as files; the button is sampled every
 *    50 ms. It cannot set a pull: the pin's power-on default applies
 *    (GPIO 17 on the BCM2835/2711 is pulled down, as PCB v1.4 wants).
 * 3. simulated stand-ins when neither is there (backend auto), or an error
 *    (backend linux).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../util/clock.js';
import { GpioToolProcess } from './gpio-tool-process.js';
import { GpiomonButtonInput } from './gpiomon-button-input.js';
import { GpiosetLedOutput } from './gpioset-led-output.js';
import type { LedPatternOutput } from './led-controller.js';
import { checkLine, detectLibgpiod, gpioget, type GpioPull, type LibgpiodTools } from './libgpiod-tools.js';
import { PolledButtonInput, type ButtonInput } from './power-button.js';
import { gpioSysfsDir, hasSysfsGpio, SimulatedGpioLine, SysfsGpioLine, type GpioLine } from './sysfs-gpio.js';

/** Which GPIO interface to use: the best found, or only one of them. */
export type GpioInterface = 'auto' | 'libgpiod' | 'sysfs';

/** Something that reads one input line (sync for sysfs, async for gpioget). */
export interface GpioReader {
  read(): number | Promise<number>;
}

/** The board's lines as the device code uses them. */
export interface BoardGpio {
  /** Which interface: 'libgpiod' (character device), 'sysfs' or 'simulated'. */
  kind: 'libgpiod' | 'sysfs' | 'simulated';
  /** What was chosen and why, for the start-up log. */
  description: string;
  /** The libgpiod tools in use (kind 'libgpiod'). */
  tools?: LibgpiodTools;
  /** The LED: a line the LED controller toggles, or an output that plays patterns itself. */
  led: GpioLine | LedPatternOutput;
  /** The button's level (undefined when simulated: nothing can press it). */
  button: ButtonInput | undefined;
  /** The charging-detect input (undefined when simulated). */
  charging: GpioReader | undefined;
  /** Stops the tool processes and releases the lines. Idempotent. */
  close(): Promise<void>;
}

/** Options of openBoardGpio. */
export interface BoardGpioOptions {
  /** 'linux' fails when no interface works; 'simulated' skips the hardware. Default 'auto'. */
  backend?: 'auto' | 'linux' | 'simulated';
  /** Default 'auto'. */
  gpioInterface?: GpioInterface;
  /** Filesystem root of sysfs; '/' on the device, a fixture tree in tests. */
  root: string;
  /** Environment of the libgpiod tools (PATH finds them). Default process.env. */
  env?: NodeJS.ProcessEnv;
  ledLine: number;
  buttonLine: number;
  buttonPull: GpioPull;
  chargingLine: number;
  clock: Clock;
  logger: Logger;
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

/** Opens the board's lines on the best interface (see the module comment). */
export async function openBoardGpio(options: BoardGpioOptions): Promise<BoardGpio> {
  const backend = options.backend ?? 'auto';
  const iface = options.gpioInterface ?? 'auto';
  const strict = backend === 'linux';
  const { root, clock } = options;
  for (const line of [options.ledLine, options.buttonLine, options.chargingLine]) checkLine(line);
  const simulated = (why: string): BoardGpio => ({
    kind: 'simulated',
    description: `simulated (${why})`,
    led: new SimulatedGpioLine(options.ledLine),
    button: undefined,
    charging: undefined,
    close: async () => undefined,
  });
  if (backend === 'simulated') return simulated('--device-backend simulated');

  let toolsReason = 'gpioInterface is sysfs';
  if (iface !== 'sysfs') {
    const found = await detectLibgpiod(
      options.env ?? process.env,
      strict && iface === 'libgpiod' ? 'gpiochip0' : undefined,
    );
    if (found.tools) return libgpiodGpio(found.tools, options);
    toolsReason = found.reason;
    if (iface === 'libgpiod') {
      if (strict) throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `GPIO: ${toolsReason}`);
      return simulated(toolsReason);
    }
  }
  if (!strict && !hasPiGpio(root)) return simulated(`${toolsReason}; no Raspberry Pi GPIO in sysfs`);
  const led = new SysfsGpioLine(root, options.ledLine, 'out');
  const button = new SysfsGpioLine(root, options.buttonLine, 'in');
  const charging = new SysfsGpioLine(root, options.chargingLine, 'in');
  return {
    kind: 'sysfs',
    description: `sysfs (${toolsReason}); the button is sampled every 50 ms and keeps its power-on pull`,
    led,
    button: new PolledButtonInput(button, clock),
    charging,
    close: async () => {
      for (const l of [led, button, charging]) l.close();
    },
  };
}

function libgpiodGpio(tools: LibgpiodTools, options: BoardGpioOptions): BoardGpio {
  const { root, logger, clock } = options;
  const chip = `${tools.chip}${tools.chipLabel ? ` (${tools.chipLabel})` : ''}`;
  let buttonInput: GpiomonButtonInput | undefined;
  const monitor = new GpioToolProcess({
    command: 'gpiomon',
    env: tools.env,
    clock,
    logger,
    onLine: (line) => buttonInput?.edge(line),
  });
  buttonInput = new GpiomonButtonInput(tools, options.buttonLine, options.buttonPull, monitor, logger);

  let led: GpioLine | LedPatternOutput;
  let ledHow: string;
  let closeLed: () => Promise<void> | void;
  let sysfsLed: SysfsGpioLine | undefined;
  if (tools.version === 1 && existsSync(join(gpioSysfsDir(root), 'export'))) {
    // v1's gpioset would need a process per level change to blink: the kernel's sysfs file blinks with none.
    try {
      sysfsLed = new SysfsGpioLine(root, options.ledLine, 'out');
    } catch (err) {
      logger.warn(`LED GPIO ${options.ledLine} through sysfs: ${(err as Error).message}; using gpioset`);
    }
  }
  if (sysfsLed) {
    const line = sysfsLed;
    led = line;
    ledHow = 'LED through sysfs (libgpiod v1 cannot blink with one process)';
    closeLed = () => line.close();
  } else {
    const output = new GpiosetLedOutput(
      tools,
      options.ledLine,
      new GpioToolProcess({ command: 'gpioset', env: tools.env, clock, logger }),
    );
    led = output;
    ledHow = output.blinks
      ? 'LED by one gpioset per pattern'
      : 'LED by gpioset --mode=signal, steady levels only (libgpiod v1 without sysfs cannot blink)';
    closeLed = () => output.close();
  }
  const chargingLine = options.chargingLine;
  let closed = false;
  return {
    kind: 'libgpiod',
    tools,
    description: `libgpiod v${tools.versionText} tools on ${chip}: button by gpiomon, ${ledHow}`,
    led,
    button: buttonInput,
    charging: { read: () => gpioget(tools, chargingLine) },
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all([buttonInput.close(), closeLed()]);
    },
  };
}
