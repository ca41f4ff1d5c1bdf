/**
 * The LED through one long-lived `gpioset` process (the GPIO character
 * device). With libgpiod v2 the process plays the whole blink pattern itself
 * (`gpioset -t 1200ms,100ms 21=1`), so it is replaced only when the pattern
 * in force changes (a mode change, blink-on/off, the alarm), never per blink.
 * v1's gpioset cannot change a value while running and has no toggling; a v1
 * system therefore drives the LED through sysfs when it has it (see
 * board-gpio.ts), and only without sysfs comes here, where a pattern shows
 * as one steady level (steadyLevelOf) held by `gpioset --mode=signal`.
 */
import type { BlinkPattern, LedPatternOutput } from './led-controller.js';
import { steadyLevelOf, togglePeriods } from './led-controller.js';
import { checkLine, gpiosetArgs, type LibgpiodTools } from './libgpiod-tools.js';
import type { GpioToolProcess } from './gpio-tool-process.js';

/** LedPatternOutput on a gpioset process. */
export class GpiosetLedOutput implements LedPatternOutput {
  constructor(
    private readonly tools: Pick<LibgpiodTools, 'version' | 'chip'>,
    private readonly line: number,
    private readonly process: GpioToolProcess,
  ) {
    checkLine(line);
  }

  /** True when patterns blink (v2); false when they show as a steady level (v1). */
  get blinks(): boolean {
    return this.tools.version === 2;
  }

  show(pattern: BlinkPattern | null, level: 0 | 1): void {
    if (!pattern) this.process.run(gpiosetArgs(this.tools, this.line, level));
    else if (this.blinks) this.process.run(gpiosetArgs(this.tools, this.line, 1, togglePeriods(pattern)));
    else this.process.run(gpiosetArgs(this.tools, this.line, steadyLevelOf(pattern)));
  }

  /** Stops gpioset (the line is released). */
  close(): Promise<void> {
    return this.process.close();
  }
}
