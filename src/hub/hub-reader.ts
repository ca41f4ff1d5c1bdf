/**
 * One consumer's view of the hub: a bounded queue of frames filled
 * synchronously by the hub's publish and drained by the consumer (a TCP
 * socket, the recorder, a WebSocket). The hub never waits for a reader.
 *
 * Slow-reader policy: when the backlog goes past the soft limit (bytes
 * queued, or the oldest queued frame waiting longer than softLimitMs) the
 * reader drops its queue and skips to the next keyframe, so it never
 * delivers a frame whose reference it missed. When it stays behind with no
 * progress (no read() call) for hardLimitMs, `onStalled` fires once and the
 * owner disconnects it. Memory per reader is therefore bounded by the soft
 * limit plus one frame.
 */
import { RateLimitedCounter, type Logger } from '../log/logger.js';
import type { StreamFrame } from './stream-frame.js';

/** How a new reader starts. */
export type ReaderJoin = 'latest-keyframe' | 'next-keyframe';

/** Options of `hub.addReader()`. */
export interface HubReaderOptions {
  /** Name for logs ("tcp 10.0.0.2:51234", "recorder"). */
  name: string;
  /** latest-keyframe (default): start with the cached GOP; next-keyframe: wait for the next IDR. */
  join?: ReaderJoin;
  /** Backlog in bytes past which the reader skips to the next keyframe. Default 2 MB. */
  softLimitBytes?: number;
  /** Age in ms of the oldest queued frame past which the reader skips to the next keyframe. Default 500 ms. */
  softLimitMs?: number;
  /** Over the soft limit with no read() for this long: `onStalled` fires. Default 10000 ms. */
  hardLimitMs?: number;
  /** Log skips at debug level instead of warn (an owner that reports them itself, e.g. a publisher). Default false. */
  quiet?: boolean;
}

/** Counters of one reader. */
export interface HubReaderStats {
  framesDelivered: number;
  bytesDelivered: number;
  /** Frames never delivered because of the slow-reader policy (or joining mid-GOP). */
  framesDropped: number;
  /** Times the reader skipped to the next keyframe. */
  dropEvents: number;
  queuedFrames: number;
  queuedBytes: number;
  /** How long the oldest queued frame has been waiting, ms (0 when empty). */
  lagMs: number;
}

interface Queued {
  frame: StreamFrame;
  enqueuedAtMs: number;
}

/** A hub reader; create it with `hub.addReader()`. */
export class HubReader {
  /** Name given at creation. */
  readonly name: string;
  readonly join: ReaderJoin;
  private readonly softLimitBytes: number;
  private readonly softLimitMs: number;
  private readonly hardLimitMs: number;
  private queue: Queued[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** Bytes of the join-time GOP burst not yet read: allowed on top of softLimitBytes. */
  private joinBurstBytes = 0;
  /** Waiting for a keyframe (joining with next-keyframe, or after a skip). */
  private waitingForKey: boolean;
  /** Clock time of the last read() call, or of creation. */
  private lastProgressMs: number;
  /** Set when the reader went over its soft limit; cleared when it catches up. */
  private behindSinceMs: number | undefined;
  private stalledFired = false;
  private readableCb: (() => void) | undefined;
  private stalledCb: (() => void) | undefined;
  private behindCb: ((behind: boolean) => void) | undefined;
  private closed = false;
  private framesDelivered = 0;
  private bytesDelivered = 0;
  private framesDropped = 0;
  private dropEvents = 0;
  private readonly dropLog: RateLimitedCounter;

  /** @internal Created by StreamHub.addReader. */
  constructor(
    options: HubReaderOptions,
    private readonly clock: () => number,
    logger: Logger,
    private readonly detach: (reader: HubReader) => void,
  ) {
    this.name = options.name;
    this.join = options.join ?? 'latest-keyframe';
    this.softLimitBytes = options.softLimitBytes ?? 2_000_000;
    this.softLimitMs = options.softLimitMs ?? 500;
    this.hardLimitMs = options.hardLimitMs ?? 10_000;
    for (const [k, v] of [
      ['softLimitBytes', this.softLimitBytes],
      ['softLimitMs', this.softLimitMs],
      ['hardLimitMs', this.hardLimitMs],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${k} must be a positive number, got ${v}`);
    }
    this.waitingForKey = true;
    this.lastProgressMs = clock();
    const log = options.quiet ? logger.debug.bind(logger) : logger.warn.bind(logger);
    this.dropLog = new RateLimitedCounter(
      (n, total) =>
        log(
          `reader ${this.name} is slow: skipped to the next keyframe ${n} time(s) (${total} in all, ${this.framesDropped} frames dropped)`,
        ),
      1000,
      clock,
    );
  }

  /** The next frame in order, or undefined when the queue is empty. Counts as progress. */
  read(): StreamFrame | undefined {
    this.lastProgressMs = this.clock();
    if (this.head >= this.queue.length) {
      if (this.behindSinceMs !== undefined) this.caughtUp();
      return undefined;
    }
    const entry = this.queue[this.head] as Queued;
    this.queue[this.head] = undefined as unknown as Queued; // let the frame be collected
    this.head++;
    // Reuse the array in place: a live client empties its queue on every frame,
    // and a fresh array each time was per-client per-frame garbage.
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue.copyWithin(0, this.head);
      this.queue.length -= this.head;
      this.head = 0;
    }
    const bytes = entry.frame.annexB.length;
    this.queuedBytes -= bytes;
    this.joinBurstBytes = Math.max(0, this.joinBurstBytes - bytes);
    this.framesDelivered++;
    this.bytesDelivered += bytes;
    if (this.behindSinceMs !== undefined && this.queuedBytes <= this.softLimitBytes / 2) this.caughtUp();
    return entry.frame;
  }

  private caughtUp(): void {
    this.behindSinceMs = undefined;
    this.behindCb?.(false);
  }

  /** `cb` runs synchronously from publish when a frame is queued into an empty queue. */
  onReadable(cb: () => void): void {
    this.readableCb = cb;
  }

  /** `cb` runs once when the reader is over its soft limit with no progress for hardLimitMs. */
  onStalled(cb: () => void): void {
    this.stalledCb = cb;
  }

  /**
   * `cb(true)` runs when the reader goes over its soft limit (it skipped to
   * the next keyframe), `cb(false)` when it has caught up again; the owner's
   * client slots account the time in between (src/outputs/client-slots.ts).
   */
  onBehindChange(cb: (behind: boolean) => void): void {
    this.behindCb = cb;
  }

  /** True from a skip over the soft limit until the reader catches up. */
  get behind(): boolean {
    return this.behindSinceMs !== undefined;
  }

  /** Counters (a fresh object). */
  get stats(): HubReaderStats {
    const oldest = this.queue[this.head];
    return {
      framesDelivered: this.framesDelivered,
      bytesDelivered: this.bytesDelivered,
      framesDropped: this.framesDropped,
      dropEvents: this.dropEvents,
      queuedFrames: this.queue.length - this.head,
      queuedBytes: this.queuedBytes,
      lagMs: oldest ? Math.max(0, this.clock() - oldest.enqueuedAtMs) : 0,
    };
  }

  /** Times this reader skipped to a keyframe; a cheap read (no object, no clock) for per-frame checks. */
  get dropEventCount(): number {
    return this.dropEvents;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Detaches from the hub and frees the queue. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.joinBurstBytes = 0;
    this.readableCb = undefined;
    this.stalledCb = undefined;
    this.behindCb = undefined;
    this.detach(this);
  }

  /** @internal Seeds the queue with the cached GOP at join time. */
  seed(frames: readonly StreamFrame[]): void {
    if (this.join !== 'latest-keyframe' || frames.length === 0 || !frames[0]?.isKey) return;
    const now = this.clock();
    for (const frame of frames) {
      this.queue.push({ frame, enqueuedAtMs: now });
      this.queuedBytes += frame.annexB.length;
    }
    // The cached GOP may exceed the soft limit on its own (high bitrate, long GOP): it is
    // allowed on top of the limit until read, so a new client is not skipped at its first frame.
    this.joinBurstBytes = this.queuedBytes;
    this.waitingForKey = false;
  }

  /** @internal Called by the hub for every published frame. Never blocks. */
  push(frame: StreamFrame): void {
    if (this.closed) return;
    const now = this.clock();
    if (this.waitingForKey) {
      if (!frame.isKey) {
        this.framesDropped++;
        this.checkStalled(now);
        return;
      }
      this.waitingForKey = false;
    }
    const queued = this.queue.length - this.head;
    const oldest = this.queue[this.head];
    const overBytes = this.queuedBytes + frame.annexB.length > this.softLimitBytes + this.joinBurstBytes && queued > 0;
    const overMs = oldest !== undefined && now - oldest.enqueuedAtMs > this.softLimitMs;
    if (overBytes || overMs) {
      // Skip to the next keyframe: drop the backlog; keep this frame only if it is one.
      this.framesDropped += queued;
      this.queue.length = 0;
      this.head = 0;
      this.queuedBytes = 0;
      this.joinBurstBytes = 0;
      this.dropEvents++;
      if (this.behindSinceMs === undefined) {
        this.behindSinceMs = now;
        this.behindCb?.(true);
      }
      this.dropLog.add();
      if (!frame.isKey) {
        this.framesDropped++;
        this.waitingForKey = true;
        this.checkStalled(now);
        return;
      }
    }
    this.queue.push({ frame, enqueuedAtMs: now });
    this.queuedBytes += frame.annexB.length;
    if (queued === 0 || overBytes || overMs) this.readableCb?.();
    this.checkStalled(now);
  }

  private checkStalled(now: number): void {
    if (this.stalledFired || this.behindSinceMs === undefined) return;
    if (now - this.lastProgressMs >= this.hardLimitMs) {
      this.stalledFired = true;
      this.stalledCb?.();
    }
  }
}
