/**
 * The button's level from the GPIO character device: `gpioget` reads the
 * level once (and sets the pull), then one long-lived `gpiomon` streams every
 * edge as it happens, with no polling. The two run one after the other, as
 * the kernel gives a line to one holder at a time.
 */
import type { Logger } from '../log/logger.js';
import type { ButtonInput } from './power-button.js';
import type { GpioToolProcess } from './gpio-tool-process.js';
import {
  checkLine,
  gpioget,
  gpiomonArgs,
  parseGpiomonEdge,
  type GpioPull,
  type LibgpiodTools,
} from './libgpiod-tools.js';

/** ButtonInput on gpioget + gpiomon. */
export class GpiomonButtonInput implements ButtonInput {
  private onLevel: ((level: 0 | 1) => void) | undefined;
  private closed = false;

  /** @param process the gpiomon supervisor; its `onLine` must call {@link GpiomonButtonInput.edge} */
  constructor(
    private readonly tools: LibgpiodTools,
    private readonly line: number,
    private readonly pull: GpioPull,
    private readonly process: GpioToolProcess,
    private readonly logger: Logger,
  ) {
    checkLine(line);
  }

  start(onLevel: (level: 0 | 1) => void): void {
    this.onLevel = onLevel;
    void this.begin();
  }

  private async begin(): Promise<void> {
    try {
      const level = await gpioget(this.tools, this.line, this.pull);
      if (this.closed) return;
      this.onLevel?.(level);
    } catch (err) {
      // Without the level at start the first edge decides (a press counts only after a release).
      this.logger.warn(`button GPIO ${this.line}: reading its level failed (${(err as Error).message})`);
    }
    if (!this.closed) this.process.run(gpiomonArgs(this.tools, this.line, this.pull));
  }

  /** One line of gpiomon output. */
  edge(text: string): void {
    if (this.closed) return;
    const level = parseGpiomonEdge(this.tools.version, text);
    if (level !== undefined) this.onLevel?.(level);
  }

  close(): Promise<void> {
    this.closed = true;
    return this.process.close();
  }
}
