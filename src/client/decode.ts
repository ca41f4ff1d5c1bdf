/**
 * `decode(stream, { format })`: raw pixels from a stream of access units, for
 * Node apps that feed a model. Decoding runs in an ffmpeg child process:
 *
 * `options.ffmpegPath` (checked by running it), else the project's
 * findFfmpeg(): the `REARVIEW_FFMPEG` environment variable, else `ffmpeg` on
 * PATH (the system one; none ships with this package). When there is none,
 * decode() throws ERR_CLIENT_DECODE saying how to get one.
 *
 * Each access unit is written to ffmpeg's stdin followed by an access unit
 * delimiter, so ffmpeg's parser closes the frame at once instead of waiting
 * for the next one; `-flags low_delay` keeps the decoder from holding frames
 * for frame threading. Output frames are matched to input frames in order
 * (streams without B-frames, as cameras send, give one frame per access unit).
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { RearviewError } from '../errors.js';
import { FFMPEG_MISSING, findFfmpeg as findProjectFfmpeg } from '../util/ffmpeg-path.js';
import { TRAILING_AUD } from '../h264/nal-unit.js';

/** Pixel layout of decoded frames: packed RGB (3 bytes per pixel) or planar YUV 4:2:0 (I420, 1.5 bytes per pixel). */
export type PixelFormat = 'rgb24' | 'yuv420p';

/** What decode() needs of each input access unit (a ClientFrame fits). */
export interface EncodedFrameLike {
  readonly data: Uint8Array;
  readonly isKey: boolean;
  readonly pts90k: number;
  readonly width?: number;
  readonly height?: number;
  readonly seq?: number;
  readonly capturedAtMs?: number | undefined;
  /** A live-edge join's catch-up frame (ClientFrame.catchUp): decoded, its picture not yielded. */
  readonly catchUp?: boolean;
}

/** One decoded picture. */
export interface DecodedFrame {
  /** Pixels: width*height*3 bytes (rgb24) or width*height*3/2 (yuv420p: Y plane, then U, then V). */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
  /** From the matching input frame. */
  readonly pts90k: number;
  readonly seq: number | undefined;
  readonly capturedAtMs: number | undefined;
}

/** Options of {@link decode}. */
export interface DecodeOptions {
  /** Output pixel format. Default 'rgb24'. */
  format?: PixelFormat;
  /** Output size in pixels; default the stream's own size (from the first frame, else probed). Both or neither. */
  width?: number;
  height?: number;
  /** ffmpeg executable; see the file comment for the default search. */
  ffmpegPath?: string;
  /** Decoder threads (0 = ffmpeg's choice). Default 0. */
  threads?: number;
  /**
   * Default true: `-flags low_delay`, every frame leaves the decoder as soon as it is decoded.
   * false: frame threading (about 1.4x the throughput at 720p on 2 cores) at the cost of
   * holding a frame per thread; for offline processing, not for live use.
   */
  lowLatency?: boolean;
}

/** ERR_CLIENT_DECODE: no usable ffmpeg, or ffmpeg failed. */
export class DecodeError extends RearviewError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CLIENT_DECODE', message, options);
  }
}

function runs(path: string): boolean {
  try {
    return spawnSync(path, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
}

/**
 * The ffmpeg decode() uses (see the file comment), or throws DecodeError
 * explaining how to get one. The result is cached.
 */
export function findFfmpeg(explicit?: string): string {
  if (explicit) {
    if (!runs(explicit)) throw new DecodeError(`ffmpeg not usable at ${explicit}`);
    return explicit;
  }
  const found = findProjectFfmpeg();
  if (found) return found;
  throw new DecodeError(`decode() needs ffmpeg: ${FFMPEG_MISSING}`);
}

function bytesPerFrame(format: PixelFormat, width: number, height: number): number {
  return format === 'rgb24' ? width * height * 3 : width * height + 2 * (Math.ceil(width / 2) * Math.ceil(height / 2));
}

/**
 * Decodes access units into raw frames with ffmpeg. The input is consumed
 * only as fast as frames are taken from the output (pipes give
 * backpressure), so with a `connect(..., { policy: 'latest' })` source a slow
 * consumer skips whole GOPs before the decoder, never mid-GOP. Breaking out
 * of the loop stops ffmpeg. Frames flagged `catchUp` (a live-edge join's burst)
 * are decoded but not yielded.
 */
export async function* decode(
  stream: AsyncIterable<EncodedFrameLike>,
  options: DecodeOptions = {},
): AsyncGenerator<DecodedFrame, void, undefined> {
  const format = options.format ?? 'rgb24';
  if (format !== 'rgb24' && format !== 'yuv420p')
    throw new TypeError(`format must be 'rgb24' or 'yuv420p', got ${JSON.stringify(format)}`);
  if ((options.width === undefined) !== (options.height === undefined))
    throw new TypeError('width and height must be given together');
  for (const v of [options.width, options.height]) {
    if (v !== undefined && (!Number.isInteger(v) || v <= 0 || v % 2 !== 0))
      throw new RangeError(`width/height must be positive even integers, got ${v}`);
  }
  const ffmpeg = findFfmpeg(options.ffmpegPath);
  const iterator = stream[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const width = options.width ?? first.value.width ?? 0;
  const height = options.height ?? first.value.height ?? 0;
  if (!width || !height)
    throw new DecodeError('decode(): the stream size is unknown (no SPS parsed): pass width and height');
  const frameBytes = bytesPerFrame(format, width, height);

  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    // No '-fflags nobuffer': with -vsync passthrough it made ffmpeg drop whole GOPs (0 or 90 of 120 frames).
    ...(options.lowLatency === false ? [] : ['-flags', 'low_delay']),
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-threads',
    String(options.threads ?? 0),
    '-f',
    'h264',
    '-i',
    'pipe:0',
    // One output frame per decoded frame: no duplication or dropping to a guessed rate.
    '-vsync',
    'passthrough',
    // Always scale: a mid-stream resolution change must not change the size of the frames we cut from the pipe.
    '-vf',
    `scale=${width}:${height}`,
    '-f',
    'rawvideo',
    '-pix_fmt',
    format,
    'pipe:1',
  ];
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(ffmpeg, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  child.stdin.on('error', () => {
    // ffmpeg exited: reported through the exit code below
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const pending: EncodedFrameLike[] = [];
  let inputDone = false;
  let stopped = false;

  // Feed ffmpeg from the source, honouring stdin backpressure.
  let feedError: unknown;
  const feed = (async (): Promise<void> => {
    try {
      let item: IteratorResult<EncodedFrameLike> = first;
      while (!item.done && !stopped) {
        pending.push(item.value);
        const ok = child.stdin.write(item.value.data) && child.stdin.write(TRAILING_AUD);
        if (!ok) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              child.stdin.off('drain', done).off('close', done);
              resolve();
            };
            child.stdin.on('drain', done).on('close', done);
          });
        }
        if (stopped || child.stdin.destroyed) break;
        item = await iterator.next();
      }
    } catch (err) {
      feedError = err;
    } finally {
      inputDone = true;
      child.stdin.end();
    }
  })();

  // Pipe chunks (64 KiB) are collected and copied once into each frame: concatenating as they
  // arrive would copy a 2.7 MB 720p frame dozens of times.
  let parts: Buffer[] = [];
  let partBytes = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      parts.push(chunk);
      partBytes += chunk.length;
      while (partBytes >= frameBytes) {
        const data = new Uint8Array(frameBytes);
        let at = 0;
        while (at < frameBytes) {
          const part = parts[0] as Buffer;
          const n = Math.min(part.length, frameBytes - at);
          data.set(n === part.length ? part : part.subarray(0, n), at);
          at += n;
          if (n === part.length) parts.shift();
          else parts[0] = part.subarray(n);
        }
        partBytes -= frameBytes;
        const meta = pending.shift();
        // A catch-up frame is decoded for the frames that refer to it, but it is not live: not shown.
        if (meta?.catchUp) continue;
        yield {
          data,
          width,
          height,
          format,
          pts90k: meta?.pts90k ?? 0,
          seq: meta?.seq,
          capturedAtMs: meta?.capturedAtMs,
        };
      }
    }
    parts = [];
    const code = await exited;
    await feed;
    // The source's own error (a dropped connection, say) says more than ffmpeg's exit.
    if (feedError !== undefined) throw feedError;
    if (code !== 0 && !stopped) {
      throw new DecodeError(
        `ffmpeg exited with code ${code}${stderr ? `: ${stderr.trim().split('\n').slice(-1)[0]}` : ''}`,
      );
    }
  } finally {
    stopped = true;
    if (!inputDone) await iterator.return?.();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
}
