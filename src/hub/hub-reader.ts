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

/**
 * How a new reader starts (docs/protocol.md "Joining"):
 * - `latest-keyframe`: the cached GOP at once, so a picture at once, but the first frames are up
 *   to a GOP old and a decoder that shows every frame it gets stays behind by as much;
 * - `next-keyframe`: nothing until the next IDR (what MediaMTX and go2rtc do);
 * - `live-edge`: a picture at once and then only live frames, as `liveEdge` says how.
 */
export type ReaderJoin = 'latest-keyframe' | 'next-keyframe' | 'live-edge';

/**
 * How a `live-edge` reader gets to the live edge:
 * - `keyframe` (default): the cached keyframe alone, then nothing until the next keyframe (none of
 *   the old GOP's P frames). For consumers that cannot tell their decoder to hide frames (raw TCP,
 *   WebRTC): the decoder shows one still picture, up to a GOP old, and is live from the next IDR.
 * - `catch-up`: the whole cached GOP at once like `latest-keyframe`, every frame but the newest
 *   marked catch-up (`isCatchUp()`), for consumers that tell their decoder to decode those frames
 *   without showing them (the WebSocket's CATCH-UP flag): the first picture shown is the newest.
 */
export type LiveEdgeMode = 'keyframe' | 'catch-up';

/** Options of `hub.addReader()`. */
export interface HubReaderOptions {
  /** Name for logs ("tcp 10.0.0.2:51234", "recorder"). */
  name: string;
  /** latest-keyframe (default): start with the cached GOP; next-keyframe: wait for the next IDR; live-edge: see ReaderJoin. */
  join?: ReaderJoin;
  /** How a `live-edge` reader starts (see LiveEdgeMode). Default 'keyframe'. */
  liveEdge?: LiveEdgeMode;
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
  readonly liveEdge: LiveEdgeMode;
  /** Frames with a hub sequence number below this one came from the join cache as catch-up frames. */
  private catchUpBeforeSeq = -1;
  /** A `keyframe` live-edge join: the cached keyframe sent alone, and the capture time of the newest cached frame. */
  private still: { seq: number; edgeCapturedAtMs: number } | undefined;
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
    this.liveEdge = options.liveEdge ?? 'keyframe';
    if (!['latest-keyframe', 'next-keyframe', 'live-edge'].includes(this.join))
      throw new RangeError(`join must be latest-keyframe, next-keyframe or live-edge, got ${String(this.join)}`);
    if (this.liveEdge !== 'keyframe' && this.liveEdge !== 'catch-up')
      throw new RangeError(`liveEdge must be keyframe or catch-up, got ${String(this.liveEdge)}`);
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

  /**
   * True for a frame a `live-edge` `catch-up` reader got from the join cache that is not the newest
   * one: decode it (later frames refer to it) but do not show it.
   */
  isCatchUp(frame: StreamFrame): boolean {
    return frame.seq < this.catchUpBeforeSeq;
  }

  /**
   * The capture time to present `frame` at: its own, except for the keyframe a `keyframe` live-edge
   * join sent alone, which stands for the live edge at join time (the newest cached frame's capture
   * time). A WebRTC viewer's jitter buffer takes its timeline from the first frame: with the old
   * keyframe's time it would hold every live frame back by the keyframe's age.
   */
  presentationCaptureTime(frame: StreamFrame): number {
    return this.still !== undefined && frame.seq === this.still.seq ? this.still.edgeCapturedAtMs : frame.capturedAtMs;
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
  seed(cached: readonly StreamFrame[]): void {
    if (this.join === 'next-keyframe' || cached.length === 0 || !cached[0]?.isKey) return;
    let frames = cached;
    if (this.join === 'live-edge') {
      if (this.liveEdge === 'keyframe' && cached.length > 1) {
        // The keyframe alone (a picture at once); the old GOP's P frames are skipped, so is the
        // rest of this GOP (its frames refer to those): live from the next keyframe.
        frames = cached.slice(0, 1);
        this.framesDropped += cached.length - 1;
        this.still = {
          seq: (cached[0] as StreamFrame).seq,
          edgeCapturedAtMs: (cached.at(-1) as StreamFrame).capturedAtMs,
        };
      } else if (this.liveEdge === 'catch-up') {
        this.catchUpBeforeSeq = (cached.at(-1) as StreamFrame).seq;
      }
    }
    const now = this.clock();
    for (const frame of frames) {
      this.queue.push({ frame, enqueuedAtMs: now });
      this.queuedBytes += frame.annexB.length;
    }
    // The cached GOP may exceed the soft limit on its own (high bitrate, long GOP): it is
    // allowed on top of the limit until read, so a new client is not skipped at its first frame.
    this.joinBurstBytes = this.queuedBytes;
    // A live-edge keyframe reader whose cache held more than the keyframe waits for the next one.
    this.waitingForKey = frames.length < cached.length;
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
