/**
 * One GPIO line through the Linux sysfs interface (`/sys/class/gpio`), which
 * Raspberry Pi OS still provides. On kernels 6.6+ the Pi's gpiochip no longer
 * starts at 0 (often 512), so the BCM line number is offset by the base of the
 * chip whose label names the Pi's pin controller. Every path is under a
 * configurable `root` so tests run against a fake sysfs tree.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RearviewError } from '../errors.js';

/** Labels of the Raspberry Pi pin controllers whose lines are the BCM GPIO numbers. */
const PI_CHIP_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1', 'pinctrl-bcm2712'];

/** The sysfs GPIO folder under `root` ("/" on a real device). */
export function gpioSysfsDir(root: string): string {
  return join(root, 'sys', 'class', 'gpio');
}

/**
 * The sysfs number of BCM line `bcmLine`: the base of the Pi pin controller's
 * gpiochip plus the line (base 0 on older kernels, 512 on 6.6+). Falls back
 * to the lowest chip base, then to 0 when no chip is listed.
 */
export function sysfsGpioNumber(root: string, bcmLine: number): number {
  const dir = gpioSysfsDir(root);
  let fallback: number | undefined;
  let entries: string[] = [];
  try {
    entries = readdirSync(dir).filter((e) => e.startsWith('gpiochip'));
  } catch {
    return bcmLine;
  }
  for (const chip of entries) {
    try {
      const base = Number(readFileSync(join(dir, chip, 'base'), 'utf8').trim());
      const label = readFileSync(join(dir, chip, 'label'), 'utf8').trim();
      if (PI_CHIP_LABELS.includes(label)) return base + bcmLine;
      if (Number.isInteger(base) && (fallback === undefined || base < fallback)) fallback = base;
    } catch {
      // A chip without readable base/label is not ours.
    }
  }
  return (fallback ?? 0) + bcmLine;
}

/** True when `root` has a sysfs GPIO interface. */
export function hasSysfsGpio(root: string): boolean {
  return existsSync(join(gpioSysfsDir(root), 'export'));
}

/** A GPIO line as the device code needs it: read and (for outputs) write one bit. */
export interface GpioLine {
  /** BCM line number. */
  readonly line: number;
  /** Current level: 0 or 1. */
  read(): number;
  /** Drives the line (outputs only). */
  write(value: 0 | 1): void;
  /** Releases the line (idempotent). */
  close(): void;
}

/** A sysfs GPIO line, exported on open when the kernel has not exported it already. */
export class SysfsGpioLine implements GpioLine {
  readonly line: number;
  private readonly valuePath: string;
  private lastWritten: number | undefined;
  private closed = false;

  /**
   * @param root filesystem root ("/" on the device, a fixture folder in tests)
   * @param line BCM line number (21 = LED, 17 = power button on the device)
   * @param direction 'out' drives the line, 'in' only reads it
   */
  constructor(root: string, line: number, direction: 'in' | 'out') {
    this.line = line;
    const dir = gpioSysfsDir(root);
    const n = sysfsGpioNumber(root, line);
    const lineDir = join(dir, `gpio${n}`);
    try {
      if (!existsSync(lineDir)) writeFileSync(join(dir, 'export'), String(n));
      // Writing the same direction again is harmless; an output keeps its level.
      const dirPath = join(lineDir, 'direction');
      const current = existsSync(dirPath) ? readFileSync(dirPath, 'utf8').trim() : '';
      if (current !== direction) writeFileSync(dirPath, direction);
    } catch (err) {
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `GPIO ${line} (sysfs gpio${n}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.valuePath = join(lineDir, 'value');
  }

  read(): number {
    try {
      return readFileSync(this.valuePath, 'utf8').trim() === '1' ? 1 : 0;
    } catch (err) {
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `GPIO ${this.line}: ${(err as Error).message}`, { cause: err });
    }
  }

  write(value: 0 | 1): void {
    if (this.closed || this.lastWritten === value) return;
    try {
      writeFileSync(this.valuePath, String(value));
      this.lastWritten = value;
    } catch (err) {
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `GPIO ${this.line}: ${(err as Error).message}`, { cause: err });
    }
  }

  close(): void {
    // The line stays exported: the LED keeps its last level, as on the device.
    this.closed = true;
  }
}

/** An in-memory GPIO line (simulated backend and tests). `level` is public for inspection. */
export class SimulatedGpioLine implements GpioLine {
  /** Every level written, in order (handy for checking blink patterns). */
  readonly history: Array<0 | 1> = [];
  constructor(
    readonly line: number,
    public level = 0,
  ) {}
  read(): number {
    return this.level;
  }
  write(value: 0 | 1): void {
    if (this.level === value && this.history.length > 0) return;
    this.level = value;
    this.history.push(value);
  }
  close(): void {
    // in memory: nothing to release
  }
}
