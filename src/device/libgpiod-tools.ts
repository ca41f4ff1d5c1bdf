/**
 * The GPIO character device (`/dev/gpiochipN`) through libgpiod's command
 * line tools, which replace the deprecated sysfs interface. Two generations
 * are in use and their syntax differs:
 *
 * - v1 (Debian/Raspberry Pi OS Bookworm, 1.6): the chip and the offsets are
 *   positional (`gpiomon --bias=pull-down gpiochip0 17`); `gpioset` sets and
 *   exits unless `--mode=signal`, and cannot change a value while running.
 * - v2 (Trixie, 2.x): the chip is `-c gpiochip0`; `gpioset` keeps running and
 *   holding the line, and can play a toggle sequence (`-t 100ms,1000ms`).
 *
 * The version is read from `gpioset --version` (`gpioset (libgpiod) v2.2.1`).
 * Every argument is built here from validated numbers and closed sets, as an
 * argument array: no value reaches a shell.
 */
import { execFile } from 'node:child_process';
import { RearviewError } from '../errors.js';
import { findOnPath } from '../util/find-on-path.js';

/** Major version of libgpiod's tools (their command syntax). */
export type LibgpiodVersion = 1 | 2;

/** The button's bias: pull-down (the original PCB v1.4), pull-up, or none. */
export type GpioPull = 'down' | 'up' | 'off';

/** The tools found on this machine and the chip that holds the Raspberry Pi's BCM lines. */
export interface LibgpiodTools {
  version: LibgpiodVersion;
  /** Full version as printed, e.g. "1.6.3". */
  versionText: string;
  /** Chip name, `gpiochip<N>`. */
  chip: string;
  /** The chip's label (e.g. `pinctrl-bcm2835`), or undefined when it was assumed. */
  chipLabel: string | undefined;
  /** Environment the tools run with (PATH decides which tools). */
  env: NodeJS.ProcessEnv;
}

/** Labels of the Raspberry Pi pin controllers whose lines are the BCM GPIO numbers. */
export const PI_GPIO_CHIP_LABELS: readonly string[] = [
  'pinctrl-bcm2835',
  'pinctrl-bcm2711',
  'pinctrl-rp1',
  'pinctrl-bcm2712',
];

/** Highest BCM line on the Pi's pin controller (54 lines, 0-53). */
export const MAX_BCM_LINE = 53;

const CHIP_NAME_RE = /^gpiochip\d{1,3}$/;

/** Throws unless `line` is a BCM line number (an integer 0-53): it becomes a command-line argument. */
export function checkLine(line: number): number {
  if (!Number.isInteger(line) || line < 0 || line > MAX_BCM_LINE)
    throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `GPIO line must be an integer 0-${MAX_BCM_LINE}, got ${line}`);
  return line;
}

function checkChip(chip: string): string {
  if (!CHIP_NAME_RE.test(chip)) throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `bad GPIO chip name ${chip}`);
  return chip;
}

/** The version in `gpioset --version` output (`gpioset (libgpiod) v1.6.3`), or undefined. */
export function parseLibgpiodVersion(text: string): { version: LibgpiodVersion; text: string } | undefined {
  const m = /\(libgpiod\)\s+v(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  const major = Number(m[1]);
  if (major !== 1 && major !== 2) return undefined;
  return { version: major, text: m[0].replace(/^.*v/, '') };
}

/**
 * The chip whose label names the Pi's pin controller in `gpiodetect` output
 * (`gpiochip0 [pinctrl-bcm2835] (54 lines)`, the same in v1 and v2).
 */
export function parseGpiodetect(text: string): { chip: string; label: string } | undefined {
  for (const line of text.split('\n')) {
    const m = /^(gpiochip\d{1,3}) \[([^\]]*)\]/.exec(line.trim());
    if (m && PI_GPIO_CHIP_LABELS.includes(m[2]!)) return { chip: m[1]!, label: m[2]! };
  }
  return undefined;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: 5000, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command}: ${(stderr || err.message).trim().split('\n')[0]}`));
      else resolve(stdout);
    });
  });
}

/**
 * Finds libgpiod's tools on `env.PATH` and the Pi's chip. Resolves to
 * undefined with a reason when the tools are missing or too old, or when no
 * chip is a Raspberry Pi pin controller (unless `assumeChip` names one).
 */
export async function detectLibgpiod(
  env: NodeJS.ProcessEnv = process.env,
  assumeChip?: string,
): Promise<{ tools: LibgpiodTools } | { tools: undefined; reason: string }> {
  const missing = ['gpioset', 'gpiomon', 'gpioget', 'gpiodetect'].filter((t) => !findOnPath(t, env.PATH));
  if (missing.length > 0)
    return { tools: undefined, reason: `libgpiod tools not installed (${missing.join(', ')}; apt-get install gpiod)` };
  let version: ReturnType<typeof parseLibgpiodVersion>;
  try {
    version = parseLibgpiodVersion(await run('gpioset', ['--version'], env));
  } catch (err) {
    return { tools: undefined, reason: (err as Error).message };
  }
  if (!version) return { tools: undefined, reason: 'gpioset --version names no libgpiod 1.x or 2.x' };
  let found: ReturnType<typeof parseGpiodetect>;
  try {
    found = parseGpiodetect(await run('gpiodetect', [], env));
  } catch (err) {
    if (!assumeChip) return { tools: undefined, reason: (err as Error).message };
  }
  if (!found && !assumeChip)
    return {
      tools: undefined,
      reason: `gpiodetect lists no Raspberry Pi pin controller (${PI_GPIO_CHIP_LABELS.join(', ')})`,
    };
  return {
    tools: {
      version: version.version,
      versionText: version.text,
      chip: checkChip(found?.chip ?? assumeChip!),
      chipLabel: found?.label,
      env,
    },
  };
}

/** The bias option value: v1 says `disable`, v2 `disabled`. */
function biasValue(version: LibgpiodVersion, pull: GpioPull): string {
  if (pull === 'off') return version === 1 ? 'disable' : 'disabled';
  return pull === 'down' ? 'pull-down' : 'pull-up';
}

/**
 * `gpiomon` streaming both edges of one line, one line of output per edge:
 * `%e` is 1 for rising, 0 (v1) or 2 (v2) for falling. v1 needs
 * `--line-buffered` (its stdout is a pipe); v2 flushes after every event.
 */
export function gpiomonArgs(tools: Pick<LibgpiodTools, 'version' | 'chip'>, line: number, pull: GpioPull): string[] {
  const offset = String(checkLine(line));
  const chip = checkChip(tools.chip);
  if (tools.version === 1) return [`--bias=${biasValue(1, pull)}`, '--line-buffered', '--format=%e', chip, offset];
  return ['-c', chip, '--bias', biasValue(2, pull), '--consumer', 'rearview-button', '--format', '%e', offset];
}

/** The level an edge line of {@link gpiomonArgs} output means, or undefined for anything else. */
export function parseGpiomonEdge(version: LibgpiodVersion, text: string): 0 | 1 | undefined {
  const t = text.trim();
  if (t === '1') return 1;
  if (t === (version === 1 ? '0' : '2')) return 0;
  return undefined;
}

/** `gpioget` reading one line once as an input (with the bias, which also sets the pull). */
export function gpiogetArgs(
  tools: Pick<LibgpiodTools, 'version' | 'chip'>,
  line: number,
  pull: GpioPull | undefined,
): string[] {
  const offset = String(checkLine(line));
  const chip = checkChip(tools.chip);
  if (tools.version === 1) return [...(pull ? [`--bias=${biasValue(1, pull)}`] : []), chip, offset];
  return ['-c', chip, ...(pull ? ['--bias', biasValue(2, pull)] : []), '--numeric', offset];
}

/** The level in `gpioget` output (`0`/`1`; v2 without --numeric: `"17"=active`). */
export function parseGpiogetLevel(text: string): 0 | 1 | undefined {
  const t = text.trim();
  if (t === '1' || /=active$/.test(t)) return 1;
  if (t === '0' || /=inactive$/.test(t)) return 0;
  return undefined;
}

/** Reads one line once with `gpioget`. */
export async function gpioget(tools: LibgpiodTools, line: number, pull?: GpioPull): Promise<0 | 1> {
  const out = await run('gpioget', gpiogetArgs(tools, line, pull), tools.env);
  const level = parseGpiogetLevel(out);
  if (level === undefined)
    throw new RearviewError(
      'ERR_DEVICE_UNAVAILABLE',
      `gpioget GPIO ${line}: unexpected output ${JSON.stringify(out.slice(0, 40))}`,
    );
  return level;
}

/** A blink sequence for `gpioset -t`: toggle periods in ms, starting from the on level. */
export type TogglePeriods = readonly number[];

/**
 * `gpioset` driving one output line and staying alive to hold it:
 * v2 holds by default and plays `toggle` (periods in ms, an even number so
 * the sequence repeats in phase) by itself; v1 needs `--mode=signal` and
 * cannot toggle, so `toggle` must be absent.
 */
export function gpiosetArgs(
  tools: Pick<LibgpiodTools, 'version' | 'chip'>,
  line: number,
  level: 0 | 1,
  toggle?: TogglePeriods,
): string[] {
  const offset = String(checkLine(line));
  const chip = checkChip(tools.chip);
  if (tools.version === 1) {
    if (toggle) throw new RearviewError('ERR_DEVICE_UNAVAILABLE', 'libgpiod v1 gpioset cannot toggle');
    return ['--mode=signal', chip, `${offset}=${level}`];
  }
  const args = ['-c', chip, '--consumer', 'rearview-led'];
  if (toggle) {
    if (
      toggle.length === 0 ||
      toggle.length % 2 !== 0 ||
      !toggle.every((p) => Number.isInteger(p) && p > 0 && p <= 3_600_000)
    )
      throw new RearviewError('ERR_DEVICE_UNAVAILABLE', `bad toggle periods ${toggle.join(',')}`);
    args.push('-t', toggle.map((p) => `${p}ms`).join(','));
  }
  args.push(`${offset}=${level}`);
  return args;
}
