/**
 * How late the daemon's event loop runs: perf_hooks' monitorEventLoopDelay
 * (a native timer every `resolutionMs`, no JavaScript per sample), read as
 * the delay beyond the timer's own interval. A loop blocked by a long
 * synchronous task (a conversion in the daemon's thread, a large JSON
 * document) shows here first, and every live-stream frame waits as long.
 *
 * The histogram is cumulative since start (bounded memory whatever the
 * count), so /metrics exposes it as a Prometheus histogram: any window's
 * quantile comes from two scrapes (histogram_quantile over a rate).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Upper bounds of the Prometheus buckets, seconds (the goal is a p99 under 5 ms). */
export const EVENT_LOOP_DELAY_BUCKETS_S = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const;

/** Cumulative delay histogram in Prometheus form. */
export interface EventLoopDelayHistogram {
  /** [upper bound in seconds, samples at or below it], ascending; the last bound is +Infinity. */
  buckets: Array<[number, number]>;
  count: number;
  sumSeconds: number;
}

/** Event-loop delay since start; see the file comment. */
export class EventLoopDelayMonitor {
  private readonly histogram: IntervalHistogram;
  private readonly resolutionNs: number;

  /** @param resolutionMs sampling interval (default 20 ms: 50 wake-ups a second, next to 30 frames a second). */
  constructor(resolutionMs = 20) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.resolutionNs = resolutionMs * 1e6;
  }

  start(): void {
    this.histogram.enable();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** Samples taken. */
  get count(): number {
    return this.histogram.count;
  }

  /** The delay at quantile `q` (0..1), ms beyond the sampling interval; null before the first sample. */
  quantileMs(q: number): number | null {
    if (this.histogram.count === 0) return null;
    const ns = q >= 1 ? this.histogram.max : this.histogram.percentile(Math.max(q * 100, 1e-9));
    return Math.max(0, ns - this.resolutionNs) / 1e6;
  }

  /**
   * The histogram in Prometheus buckets. The native histogram answers
   * "value at a percentile"; the count at or below a bound is found by
   * bisecting the percentile (exact to the histogram's precision).
   */
  buckets(): EventLoopDelayHistogram {
    const h = this.histogram;
    const count = h.count;
    const buckets: Array<[number, number]> = [];
    for (const le of EVENT_LOOP_DELAY_BUCKETS_S) {
      const limitNs = le * 1e9 + this.resolutionNs;
      let below = 0;
      if (count > 0 && h.max <= limitNs) below = count;
      else if (count > 0 && h.min <= limitNs) {
        // Largest percentile whose value is <= limit.
        let lo = 0;
        let hi = 100;
        for (let i = 0; i < 24; i++) {
          const mid = (lo + hi) / 2;
          if (h.percentile(Math.max(mid, 1e-9)) <= limitNs) lo = mid;
          else hi = mid;
        }
        below = Math.round((lo / 100) * count);
      }
      buckets.push([le, below]);
    }
    buckets.push([Number.POSITIVE_INFINITY, count]);
    const sumSeconds = count > 0 ? (Math.max(0, h.mean - this.resolutionNs) * count) / 1e9 : 0;
    return { buckets, count, sumSeconds };
  }
}
