/** A conversion's growing .part file in the MP4 cache, read by a download while it is written. */
import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** How far a conversion into a .part file got, for {@link followPart}. */
export class PartProgress extends EventEmitter {
  /** Bytes written to the file so far. */
  written = 0;
  done = false;
  error: Error | undefined;
  /** A read descriptor of the .part file, opened by the conversion; the follower closes it. */
  readFh: FileHandle | undefined;

  advance(bytes: number): void {
    this.written += bytes;
    this.emit('progress');
  }

  finish(error: Error | undefined): void {
    this.done = true;
    this.error = error;
    this.emit('progress');
  }
}

/** Bytes per read of a followed .part file. */
const FOLLOW_READ_BYTES = 256 * 1024;

/**
 * A Readable of a file being written by a conversion: reads what is written, waits for more,
 * ends when the conversion is done, errors with the conversion's error. Reads are paced by the
 * consumer (nothing is read ahead beyond the stream's buffer).
 */
export function followPart(progress: PartProgress): Readable {
  let pos = 0;
  let pumping = false;
  const stream = new Readable({
    highWaterMark: FOLLOW_READ_BYTES,
    read: () => void pump(),
  });
  stream.on('close', () => {
    // Closed by the consumer or at the end: the descriptor is ours to close (pending reads finish first).
    const fh = progress.readFh;
    progress.readFh = undefined;
    if (fh)
      void fh.close().catch(() => undefined); // read-only handle: nothing to lose
    else progress.once('progress', () => void progress.readFh?.close().catch(() => undefined /* read-only handle */)); // opened later
  });
  const waitForProgress = (): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        progress.off('progress', wake);
        stream.off('close', wake);
        resolve();
      };
      progress.on('progress', wake);
      stream.on('close', wake);
    });
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (!stream.destroyed) {
        const fh = progress.readFh;
        const available = progress.written - pos;
        if (fh && available > 0) {
          const buf = Buffer.allocUnsafe(Math.min(available, FOLLOW_READ_BYTES));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw new Error('MP4 cache file shorter than written');
          pos += bytesRead;
          if (!stream.push(buf.subarray(0, bytesRead))) return; // the consumer calls read() again
          continue;
        }
        if (progress.error) {
          stream.destroy(progress.error);
          return;
        }
        if (progress.done) {
          stream.push(null);
          return;
        }
        await waitForProgress();
      }
    } catch (err) {
      stream.destroy(err as Error);
    } finally {
      pumping = false;
    }
  };
  return stream;
}
