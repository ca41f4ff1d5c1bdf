/**
 * The Raspberry Pi's boot configuration (`config.txt`), read for one thing:
 * whether the kernel's `gpio-shutdown` overlay is active. It powers the Pi
 * off by itself on a pin edge (GPIO 3, active low, unless `gpio_pin` and
 * `active_low` say otherwise), and on the button's pin it takes the line
 * away from the daemon, so `rearview doctor` warns about it.
 *
 * The file's rules followed here: `#` starts a comment; a `[filter]` line
 * applies what follows to matching boards only (`[all]` ends it; filters for
 * other models than a Zero 2 W and `[none]` switch lines off, any other
 * filter may match); `dtparam=` lines after a `dtoverlay=` give that
 * overlay's parameters; `include <file>` reads a file next to it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where Raspberry Pi OS keeps config.txt: Bookworm and newer, then older releases. */
export const BOOT_CONFIG_PATHS: readonly string[] = ['/boot/firmware/config.txt', '/boot/config.txt'];

/** Model filters that never match a Pi Zero 2 W (and `[none]`). */
const OTHER_MODEL_FILTERS = new Set([
  'none',
  'pi1',
  'pi2',
  'pi3',
  'pi3+',
  'pi4',
  'pi400',
  'pi5',
  'pi500',
  'cm1',
  'cm3',
  'cm3+',
  'cm4',
  'cm4s',
  'cm5',
]);

/** One active `dtoverlay=gpio-shutdown`. */
export interface GpioShutdownOverlay {
  /** The file and 1-based line of the `dtoverlay=` line. */
  file: string;
  line: number;
  /** The pin it watches (`gpio_pin`, default 3). */
  pin: number;
  /** True when a low level shuts down (`active_low`, default 1). */
  activeLow: boolean;
}

/**
 * The active gpio-shutdown overlays in `text` (the contents of `file`);
 * `read` opens included files (default: from disk, next to `file`).
 */
export function findGpioShutdownOverlays(
  text: string,
  file: string,
  read: (path: string) => string | undefined = readOptional,
  depth = 0,
): GpioShutdownOverlay[] {
  const found: GpioShutdownOverlay[] = [];
  let applies = true;
  let current: GpioShutdownOverlay | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (!line) continue;
    const section = /^\[([^\]]*)\]$/.exec(line);
    if (section) {
      const filter = section[1]!.trim().toLowerCase();
      applies = !OTHER_MODEL_FILTERS.has(filter);
      current = undefined;
      continue;
    }
    if (!applies) continue;
    const include = /^include\s+(\S+)$/.exec(line);
    if (include && depth < 3 && !include[1]!.includes('/')) {
      const path = join(dirname(file), include[1]!);
      const inner = read(path);
      if (inner !== undefined) found.push(...findGpioShutdownOverlays(inner, path, read, depth + 1));
      continue;
    }
    const overlay = /^dtoverlay\s*=\s*([^,\s]*)(.*)$/.exec(line);
    if (overlay) {
      current = undefined;
      if (overlay[1] !== 'gpio-shutdown') continue;
      current = { file, line: i + 1, pin: 3, activeLow: true };
      applyParams(current, overlay[2]!.split(',').slice(1));
      found.push(current);
      continue;
    }
    const param = /^dtparam\s*=\s*(.*)$/.exec(line);
    if (param && current) applyParams(current, param[1]!.split(','));
  }
  return found;
}

function applyParams(overlay: GpioShutdownOverlay, params: string[]): void {
  for (const p of params) {
    const [key, value] = p.split('=').map((s) => s.trim());
    if (key === 'gpio_pin' && value !== undefined && /^\d{1,2}$/.test(value)) overlay.pin = Number(value);
    if (key === 'active_low' && value !== undefined) overlay.activeLow = value !== '0';
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The first boot config of `paths` that can be read, with its text. */
export function readBootConfig(
  paths: readonly string[] = BOOT_CONFIG_PATHS,
): { file: string; text: string } | undefined {
  for (const file of paths) {
    const text = readOptional(file);
    if (text !== undefined) return { file, text };
  }
  return undefined;
}
