/**
 * The bounded queue between the socket and the consumer of a stream
 * connection, with the two consumer policies:
 *
 * - `'all'`: every frame, in order. When the consumer falls behind, the
 *   queue asks its owner to pause the socket (backpressure: TCP then slows
 *   the camera's sender, whose own slow-client policy takes over), and to
 *   resume once the consumer has caught up to half the high-water mark.
 * - `'latest'`: the consumer always gets the newest decodable point. When a
 *   keyframe arrives while frames are still waiting, everything before it is
 *   dropped, so the backlog never exceeds one GOP; if no keyframe comes
 *   before `maxFrames`, the queue empties and waits for the next one (never a
 *   frame whose reference was dropped).
 */

/** What the queue needs to know about a frame. */
export interface QueueItem {
  readonly isKey: boolean;
  readonly data: Uint8Array;
}

/** Consumer policy, see the file comment. */
export type ConsumerPolicy = 'all' | 'latest';

/** Options of {@link FrameQueue}. */
export interface FrameQueueOptions {
  policy: ConsumerPolicy;
  /** 'all': pause the socket at this many queued frames (default 60, 2 s at 30 fps). */
  highWaterFrames?: number;
  /** 'latest': most frames kept while no keyframe arrives (default 300). */
  maxFrames?: number;
  /** Called when the socket should be paused (true) or resumed (false). */
  onPause?: (pause: boolean) => void;
}

/** FIFO of frames with the consumer policy; see the file comment. */
export class FrameQueue<T extends QueueItem> {
  private items: T[] = [];
  private head = 0;
  private paused = false;
  /** Waiting for a keyframe after the 'latest' cap was hit. */
  private waitForKey = false;
  private readonly policy: ConsumerPolicy;
  private readonly highWater: number;
  private readonly maxFrames: number;
  private readonly onPause: (pause: boolean) => void;
  /** Frames dropped by the 'latest' policy since creation. */
  skipped = 0;

  constructor(options: FrameQueueOptions) {
    this.policy = options.policy;
    this.highWater = options.highWaterFrames ?? 60;
    this.maxFrames = options.maxFrames ?? 300;
    if (!Number.isInteger(this.highWater) || this.highWater < 1)
      throw new RangeError(`highWaterFrames must be a positive integer, got ${this.highWater}`);
    if (!Number.isInteger(this.maxFrames) || this.maxFrames < 1)
      throw new RangeError(`maxFrames must be a positive integer, got ${this.maxFrames}`);
    this.onPause = options.onPause ?? (() => undefined);
  }

  /** Frames waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** True while the queue has asked for the socket to be paused. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Adds a frame, applying the policy. */
  push(item: T): void {
    if (this.policy === 'latest') {
      if (item.isKey) {
        // The consumer is behind if anything is still waiting: jump to this keyframe.
        this.skipped += this.length;
        this.clear();
        this.waitForKey = false;
      } else if (this.waitForKey) {
        this.skipped++;
        return;
      } else if (this.length >= this.maxFrames) {
        this.skipped += this.length + 1;
        this.clear();
        this.waitForKey = true;
        return;
      }
      this.items.push(item);
      return;
    }
    this.items.push(item);
    if (!this.paused && this.length >= this.highWater) {
      this.paused = true;
      this.onPause(true);
    }
  }

  /** Takes the oldest frame, or undefined when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined as unknown as T;
    this.head++;
    // Compact now and then so the array does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.paused && this.length <= this.highWater / 2) {
      this.paused = false;
      this.onPause(false);
    }
    return item;
  }

  /** Drops everything (the owner resumes the socket itself when needed). */
  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** Forgets the pause state without calling onPause (a new socket starts unpaused). */
  resetPause(): void {
    this.paused = false;
  }
}
