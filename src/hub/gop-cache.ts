/**
 * The frames since the latest keyframe, so a client joining with
 * `join: latest-keyframe` shows a picture at once. Bounded in bytes and
 * frames: a GOP that outgrows the bounds is dropped whole (a partial GOP
 * without its keyframe is useless), and joiners then wait for the next keyframe.
 */
import type { StreamFrame } from './stream-frame.js';

/** Bounded cache of the current GOP. */
export class GopCache {
  private frames: StreamFrame[] = [];
  private bytes = 0;
  /** True while the current GOP overflowed: frames are ignored until the next keyframe. */
  private overflowed = false;

  /**
   * @param maxBytes most bytes (sum of `annexB` lengths) kept; default 8 MB.
   * @param maxFrames most frames kept; default 300.
   */
  constructor(
    private readonly maxBytes = 8_000_000,
    private readonly maxFrames = 300,
  ) {}

  /** Adds a published frame: a keyframe starts a new GOP. */
  add(frame: StreamFrame): void {
    if (frame.isKey) {
      this.frames = [];
      this.bytes = 0;
      this.overflowed = false;
    } else if (this.overflowed || this.frames.length === 0) {
      return;
    }
    if (this.frames.length + 1 > this.maxFrames || this.bytes + frame.annexB.length > this.maxBytes) {
      this.clear();
      this.overflowed = true;
      return;
    }
    this.frames.push(frame);
    this.bytes += frame.annexB.length;
  }

  /** The cached GOP, keyframe first; empty when there is none. A copy. */
  snapshot(): StreamFrame[] {
    return this.frames.slice();
  }

  /** Drops everything (source discontinuity). */
  clear(): void {
    this.frames = [];
    this.bytes = 0;
  }

  /** Frames cached. */
  get frameCount(): number {
    return this.frames.length;
  }

  /** Bytes cached. */
  get byteCount(): number {
    return this.bytes;
  }
}
