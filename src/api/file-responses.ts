/**
 * Serving recordings: files stream from disk through `pipeline` (so memory
 * stays flat and a slow reader slows the read, never buffers it), with
 * single-range `Range` support, a cap on concurrent downloads (429 beyond)
 * and an idle timeout that drops readers who stop reading.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RearviewError } from '../errors.js';
import { ApiError } from './api-responses.js';

/** Caps concurrent downloads. */
export class DownloadLimiter {
  private active = 0;
  /** Downloads refused with 429 since start. */
  refused = 0;
  /** Downloads served since start. */
  served = 0;

  /** @param max most downloads at once (default 4: a Pi Zero's SD card and Wi-Fi saturate well before) */
  constructor(readonly max = 4) {}

  /** Downloads in progress. */
  get inProgress(): number { return this.active; }

  /** Takes a slot or throws ApiError 429; call the returned function exactly once when done. */
  acquire(): () => void {
    if (this.active >= this.max) {
      this.refused++;
      throw new ApiError('ERR_API_TOO_MANY_DOWNLOADS', `too many downloads at once (limit ${this.max}); retry when one finishes`);
    }
    this.active++;
    this.served++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
    };
  }
}

/** A parsed single byte range, inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a `Range` header for a file of `sizeBytes`. Returns undefined for
 * no header or one we ignore (several ranges, other units: answer 200 with
 * the whole file), 'unsatisfiable' for a range outside the file.
 */
export function parseRange(header: string | undefined, sizeBytes: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, sizeBytes - suffix);
    end = sizeBytes - 1;
  } else {
    start = Number(a);
    end = b === '' ? sizeBytes - 1 : Math.min(Number(b), sizeBytes - 1);
  }
  if (start >= sizeBytes || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * Drops the connection when the response makes no progress for `idleMs`.
 * The listener is removed when the response finishes or closes: on a
 * keep-alive socket it would otherwise stay and cut a later request on the
 * same connection at its next 'timeout' event.
 */
export function armIdleTimeout(res: ServerResponse, idleMs: number): void {
  const socket = res.socket;
  if (!socket || idleMs <= 0) return;
  const onTimeout = (): void => {
    socket.destroy(new Error('download idle timeout'));
  };
  socket.setTimeout(idleMs, onTimeout);
  // Only our listener goes: the timer itself belongs to the HTTP server again
  // (it sets its keep-alive timeout when the response finishes).
  const disarm = (): void => {
    socket.off('timeout', onTimeout);
  };
  res.once('finish', disarm);
  res.once('close', disarm);
}

/** Options of sendFile. */
export interface SendFileOptions {
  contentType: string;
  /** Honour Range headers (206/416). Default true. */
  ranges?: boolean;
  /** Content-Disposition attachment name. Default: the file's name. */
  downloadName?: string;
  idleTimeoutMs: number;
}

/**
 * Streams `path` to `res`. The size is taken when the file is opened, so a
 * segment still being written is served as it was at that moment.
 */
export async function sendFile(req: IncomingMessage, res: ServerResponse, path: string, options: SendFileOptions): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RearviewError('ERR_NOT_FOUND', `no such recording: ${basename(path)}`);
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new RearviewError('ERR_NOT_FOUND', `no such recording: ${basename(path)}`);
    const size = stats.size;
    const range = options.ranges === false ? undefined : parseRange(req.headers.range, size);
    const headers: Record<string, string | number> = {
      'content-type': options.contentType,
      'accept-ranges': options.ranges === false ? 'none' : 'bytes',
      'content-disposition': `attachment; filename="${(options.downloadName ?? basename(path)).replace(/[^\w.-]/g, '_')}"`,
      'last-modified': stats.mtime.toUTCString(),
      'cache-control': 'no-store',
      // Browsers must not guess a type (a crafted file rendered as HTML on the camera's origin).
      'x-content-type-options': 'nosniff',
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${size}`, 'content-length': 0 });
      res.end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = size === 0 ? 0 : end - start + 1;
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    headers['content-length'] = length;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    armIdleTimeout(res, options.idleTimeoutMs);
    // The stream owns the handle from here (autoClose).
    const stream = createReadStream('', { fd: handle, start, end, highWaterMark: 64 * 1024 });
    handle = undefined;
    await pipeline(stream, res).catch((err: NodeJS.ErrnoException) => {
      // A client that went away is normal; anything else is logged by the caller.
      if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE' && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') throw err;
    });
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
