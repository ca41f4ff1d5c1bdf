/**
 * Serving recordings: files stream from their checked descriptor through
 * `pipeline` (so memory stays flat and a slow reader slows the read, never
 * buffers it), with one single-range `Range` implementation for files and
 * MP4 conversions, a cap on concurrent downloads (429 beyond) and an idle
 * timeout that drops readers who stop reading.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, RecordingFile } from '../recorder/recording-file.js';
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
  get inProgress(): number {
    return this.active;
  }

  /** Takes a slot or throws ApiError 429; call the returned function exactly once when done. */
  acquire(): () => void {
    if (this.active >= this.max) {
      this.refused++;
      throw new ApiError(
        'ERR_API_TOO_MANY_DOWNLOADS',
        `too many downloads at once (limit ${this.max}); retry when one finishes`,
      );
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

export type { ByteRange };

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

/**
 * A body that may be served in ranges: a file opened and checked
 * (RecordingFile) or an MP4 (Mp4Source once its size is known).
 */
export interface RangeableBody {
  /** Byte size, or undefined when not known yet (then the body streams whole, chunked). */
  size: number | undefined;
  /** False: Range headers are ignored (200, the whole body, `Accept-Ranges: none`). */
  rangeable: boolean;
  /** The bytes, whole or an inclusive range. */
  stream(range?: ByteRange): Readable;
}

/**
 * The one Range/206/416 implementation, for files and MP4 conversions:
 * writes the status, `headers` plus Accept-Ranges, Content-Length (when the
 * size is known) and Content-Range, then streams the body (nothing for HEAD
 * or an empty body). A client going away ends it quietly; `signal` aborts it.
 */
export async function sendRangeable(
  req: IncomingMessage,
  res: ServerResponse,
  body: RangeableBody,
  headers: Record<string, string | number>,
  signal?: AbortSignal,
): Promise<void> {
  const size = body.size;
  const all: Record<string, string | number> = { ...headers, 'accept-ranges': body.rangeable ? 'bytes' : 'none' };
  const range = body.rangeable && size !== undefined ? parseRange(req.headers.range, size) : undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...all, 'content-range': `bytes */${size}`, 'content-length': 0 });
    res.end();
    return;
  }
  if (range) all['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  const length = range ? range.end - range.start + 1 : size;
  if (length !== undefined) all['content-length'] = length;
  res.writeHead(range ? 206 : 200, all);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  await pipeline(body.stream(range), res, ...(signal ? [{ signal }] : [])).catch((err: NodeJS.ErrnoException) => {
    // A client that went away is normal; anything else is logged by the caller.
    if (
      err.name === 'AbortError' ||
      err.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
      err.code === 'ECONNRESET' ||
      err.code === 'EPIPE'
    )
      return;
    throw err;
  });
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

/** `Content-Disposition: attachment` with a name reduced to safe characters. */
export function attachment(name: string): string {
  return `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"`;
}

/**
 * Streams a recording file to `res` from its checked descriptor (the path
 * is never opened again). The size is the one when the file was opened, so
 * a segment still being written is served as it was at that moment. The
 * caller closes the file.
 */
export async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: RecordingFile,
  options: SendFileOptions,
): Promise<void> {
  armIdleTimeout(res, options.idleTimeoutMs);
  await sendRangeable(
    req,
    res,
    { size: file.size, rangeable: options.ranges !== false, stream: (range) => file.stream(range) },
    {
      'content-type': options.contentType,
      'content-disposition': attachment(options.downloadName ?? file.name),
      'last-modified': file.stats.mtime.toUTCString(),
      'cache-control': 'no-store',
      // Browsers must not guess a type (a crafted file rendered as HTML on the camera's origin).
      'x-content-type-options': 'nosniff',
    },
  );
}
