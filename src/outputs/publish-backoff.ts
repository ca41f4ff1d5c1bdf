/**
 * Reconnect delays of a publisher: exponential from `initialMs` to `maxMs`
 * with full jitter over the upper half (delay in [d/2, d]), so a fleet of
 * cameras that lost the same server do not come back at the same instant.
 * A run that published for at least `resetAfterMs` starts again from the
 * smallest delay. Pure: the random source is injected.
 */

/** Options of {@link PublishBackoff}. */
export interface PublishBackoffOptions {
  /** First delay, ms. Default 1000. */
  initialMs?: number;
  /** Largest delay, ms. Default 30000. */
  maxMs?: number;
  /** A run that published this long resets the delay, ms. Default 10000. */
  resetAfterMs?: number;
  /** Uniform random number in [0, 1). Default Math.random. */
  random?: () => number;
}

/** See the file comment. */
export class PublishBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(options: PublishBackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 30_000;
    this.resetAfterMs = options.resetAfterMs ?? 10_000;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, given how long the last run published (0: never). */
  next(publishedForMs: number): number {
    if (publishedForMs >= this.resetAfterMs) this.attempt = 0;
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** Back to the first delay. */
  reset(): void {
    this.attempt = 0;
  }
}
