/**
 * A fixed-size window of recent latency samples with percentiles, for
 * "server-added latency" and similar figures. Constant memory whatever the
 * run length; percentiles are computed on demand (status calls), never on
 * the media path.
 */

/** Percentiles of the samples currently in a {@link LatencyWindow}, in milliseconds. */
export interface LatencySummary {
  /** Samples in the window (at most the window size). */
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Ring buffer of the last `size` samples (default 2048), in milliseconds. */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(size = 2048) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
    this.samples = new Float64Array(size);
  }

  /** Records one sample (ms). */
  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.filled < this.samples.length) this.filled++;
  }

  /** p50/p99/max of the window; zeros when empty. */
  summary(): LatencySummary {
    if (this.filled === 0) return { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
    const sorted = this.samples.slice(0, this.filled).sort();
    const at = (q: number): number => sorted[Math.min(this.filled - 1, Math.floor(q * this.filled))] as number;
    return { count: this.filled, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[this.filled - 1] as number };
  }

  /** Forgets every sample. */
  reset(): void {
    this.next = 0;
    this.filled = 0;
  }
}
