/**
 * A mediabunny output target writing straight into an open file, shared by
 * the recorder's Matroska segments and the CLI's MP4 recordings.
 */
import type { FileHandle } from 'node:fs/promises';
import { StreamTarget, type StreamTargetChunk } from 'mediabunny';

/** A StreamTarget over a file, and how far into the file it has written. */
export interface FileTarget {
  /** Give to mediabunny's `Output({ target })`. */
  readonly target: StreamTarget;
  /** End of the furthest write so far, bytes (the file's size as written by this target). */
  readonly bytes: number;
  /**
   * Resolves once the bytes up to `end` have been written to the file; rejects with the
   * write error if a write failed. mediabunny hands chunks over without waiting for them,
   * so "add() resolved" does not mean "on disk": patch what it wrote only after this.
   */
  whenWritten(end: number): Promise<void>;
}

/**
 * Wraps `fh` as an unchunked StreamTarget: every chunk mediabunny emits is
 * written at its position at once, so nothing is held back in memory and a
 * power cut loses only what the OS had not written yet.
 */
export function fileTarget(fh: Pick<FileHandle, 'write'>): FileTarget {
  let bytes = 0;
  let failed: unknown;
  let waiters: { end: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  const writable = new WritableStream<StreamTargetChunk>({
    write: async (chunk) => {
      try {
        await fh.write(chunk.data, 0, chunk.data.byteLength, chunk.position);
      } catch (err) {
        failed ??= err;
        for (const w of waiters) w.reject(err);
        waiters = [];
        throw err;
      }
      bytes = Math.max(bytes, chunk.position + chunk.data.byteLength);
      const ready = waiters.filter((w) => w.end <= bytes);
      waiters = waiters.filter((w) => w.end > bytes);
      for (const w of ready) w.resolve();
    },
  });
  return {
    target: new StreamTarget(writable, { chunked: false }),
    get bytes() {
      return bytes;
    },
    whenWritten(end) {
      if (failed !== undefined) return Promise.reject(failed);
      if (end <= bytes) return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ end, resolve, reject }));
    },
  };
}
