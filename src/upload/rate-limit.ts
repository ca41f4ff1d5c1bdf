/**
 * The upload bandwidth cap (`--upload-rate`): one token bucket shared by
 * every request of the uploader, applied to each piece of a body before
 * it is written to the socket. A burst of at most one second's worth is
 * allowed; past it, reading waits.
 */
/** A token bucket of `bytesPerSecond` (0: no cap). */
export class RateLimit {
  private tokens: number;
  private last: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
    private readonly timers: {
      setTimeout: (fn: () => void, ms: number) => unknown;
    } = { setTimeout: (fn, ms) => setTimeout(fn, ms) },
  ) {
    this.tokens = bytesPerSecond;
    this.last = now();
  }

  /** Milliseconds to wait before `bytes` may go (and takes them). */
  take(bytes: number): number {
    if (this.bytesPerSecond <= 0) return 0;
    const t = this.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((t - this.last) * this.bytesPerSecond) / 1000);
    this.last = t;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.bytesPerSecond;
  }

  /** Waits until `bytes` may go (the uploader's BodyPacer). */
  wait(bytes: number): Promise<void> {
    const ms = this.take(bytes);
    return ms <= 0 ? Promise.resolve() : new Promise((resolve) => this.timers.setTimeout(resolve, Math.ceil(ms)));
  }
}
