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
}

/**
 * Wraps `fh` as an unchunked StreamTarget: every chunk mediabunny emits is
 * written at its position at once, so nothing is held back in memory and a
 * power cut loses only what the OS had not written yet.
 */
export function fileTarget(fh: FileHandle): FileTarget {
  let bytes = 0;
  const writable = new WritableStream<StreamTargetChunk>({
    write: async (chunk) => {
      await fh.write(chunk.data, 0, chunk.data.byteLength, chunk.position);
      bytes = Math.max(bytes, chunk.position + chunk.data.byteLength);
    },
  });
  return {
    target: new StreamTarget(writable, { chunked: false }),
    get bytes() {
      return bytes;
    },
  };
}
