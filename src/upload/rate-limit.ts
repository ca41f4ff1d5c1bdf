/**
 * The upload bandwidth cap (`--upload-rate`): one token bucket shared by
 * every request of the uploader, applied to the bytes read from the file
 * before they reach the socket. A burst of at most one second's worth is
 * allowed; past it, reading waits.
 */
import { Transform, type TransformCallback } from 'node:stream';

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

  /**
   * A pass-through stream that holds each chunk until the bucket allows it
   * and reports bytes passed to `onBytes`.
   */
  throttle(onBytes: (n: number) => void): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done: TransformCallback) => {
        const wait = this.take(chunk.length);
        const pass = (): void => {
          onBytes(chunk.length);
          done(null, chunk);
        };
        if (wait <= 0) pass();
        else this.timers.setTimeout(pass, Math.ceil(wait));
      },
    });
  }
}
