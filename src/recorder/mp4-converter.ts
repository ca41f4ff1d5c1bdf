/**
 * MKV segment -> MP4 for download (iOS cannot play Matroska), with flat
 * memory whatever the segment length.
 *
 * Layout: fragmented MP4 (ftyp, moov, then one moof+mdat per second of
 * video). mediabunny writes it strictly front to back, so bytes flow to the
 * consumer while the MKV is being read, and nothing larger than one fragment
 * is held. Browsers (<video>, MSE) and AVFoundation play fragmented MP4.
 *
 * Range requests: a converted file is kept in a cache folder next to the
 * segments (`.mp4-cache/log0001-<mkv size>-<mkv mtime>.mp4`, written to a
 * `.part` name and renamed, so a reader never sees half a file). The first
 * request streams while converting and fills the cache at the same time;
 * once cached, the size is known and any byte range is served from the
 * file. The cache is bounded (oldest entries deleted) and an entry dies with
 * its segment (rotation and delete remove `log0001-*`); its key changes when
 * the segment changes, so a stale entry is never served.
 *
 * A segment still being recorded is converted from what is on disk up to
 * its last complete frame, streamed without caching and without ranges
 * (its content changes every frame).
 *
 * Mp4Cache runs conversions in converter child processes (convert-pool.ts;
 * at most 2 at once, queued) so their memory never lands in the daemon, and
 * a first download follows the cache's .part file, so a slow client does not
 * hold a converter. convertMkvToMp4 reads our recordings with
 * convert-mkv-reader.ts (mediabunny's demuxer is the fallback for other
 * files) and muxes with mediabunny. Figures: docs/recording.md.
 */
import { constants, createReadStream } from 'node:fs';
import { access, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EventEmitter } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { ALL_FORMATS, Conversion, CustomSource, EncodedPacket, EncodedVideoPacketSource, FilePathSource, Input, Mp4OutputFormat, Output, StreamTarget, type StreamTargetChunk } from 'mediabunny';
import { openMkvVideo, type MkvVideoReader } from './convert-mkv-reader.js';
import { RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { sharedConvertPool } from './convert-pool.js';
import { scanMatroska } from './matroska-file.js';

/** An inclusive byte range, as in an HTTP Range header (`bytes=start-end`). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A converted (or converting) MP4 for one segment, as handed to the HTTP layer.
 *
 * - `size` known (cache hit, or after `whenComplete()`): answer with
 *   Content-Length and Accept-Ranges, serve `stream(range)` for 206.
 * - `size` undefined: the first conversion is running; `stream()` gives the
 *   whole MP4 as it is produced (200, chunked). For a Range request on such a
 *   handle, `await whenComplete()` first (about 0.3 s per minute of 8 Mbps
 *   video) and then serve the range.
 * - `rangeable` false (segment being recorded): only `stream()` (whole, 200).
 */
export interface Mp4Source {
  /** Name for Content-Disposition: `log0001.mp4`. */
  readonly name: string;
  /** Byte size when known, else undefined. */
  readonly size: number | undefined;
  /** False for a segment being recorded: ranges cannot be served. */
  readonly rangeable: boolean;
  /**
   * The MP4 bytes: all of them, or an inclusive range (only when `rangeable`;
   * waits for the conversion to finish first). The stream errors with
   * RearviewError ERR_CONVERT when the conversion fails.
   */
  stream(range?: ByteRange): Readable;
  /** Resolves with the final size once the MP4 is complete in the cache. Rejects with ERR_CONVERT. Not for in-progress segments. */
  whenComplete(): Promise<number>;
}

/** What a conversion produced. */
export interface ConversionResult {
  /** Bytes of MP4 written. */
  bytes: number;
  /** Video samples written (counted from the moof/trun boxes of the output). */
  samples: number;
  /**
   * Finished fragments whose per-sample bookkeeping was released inside
   * mediabunny (see trimFinishedFragments). 0 for a long file means the
   * workaround no longer finds mediabunny's internals: memory then grows
   * with length. A test checks it stays above 0.
   */
  trimmedFragments: number;
  /** Which demuxer read the MKV: 'rearview' (convert-mkv-reader.ts) or 'mediabunny' (the fallback). */
  demuxer: 'rearview' | 'mediabunny';
}

/** Options of convertMkvToMp4. */
export interface ConvertOptions {
  /** Read the file as if it were this long, bytes (a segment still being written). Default: its size. */
  limitBytes?: number;
  /**
   * Called once per finished fragment (about 1 s of video). The converter
   * process uses it for a minor GC: each fragment leaves about 3 MB of
   * short-lived buffers, and V8 otherwise lets 25-40 MB of them pile up
   * before collecting (measured), most of the 80 MB budget.
   */
  afterFragment?: () => void;
  /** 'auto' (default): our Matroska reader, mediabunny's demuxer for files it does not handle; 'mediabunny': always mediabunny's (tests, bench). */
  demuxer?: 'auto' | 'mediabunny';
}

/**
 * Converts the MKV at `mkvPath` into fragmented MP4, handing each chunk to
 * `write` in order (await it for backpressure). `limitBytes` reads the file
 * as if it were that long (a segment still being written). Checks the
 * result (a corrupt input makes mediabunny produce an empty file without
 * throwing): rejects with RearviewError ERR_CONVERT when there is no video
 * track or no sample came out.
 */
export async function convertMkvToMp4(mkvPath: string, write: (chunk: Uint8Array) => Promise<void>, options: ConvertOptions = {}): Promise<ConversionResult> {
  let reader: MkvVideoReader | undefined;
  try {
    reader = options.demuxer === 'mediabunny' ? undefined : await openMkvVideo(mkvPath, options.limitBytes);
    if (!reader) await access(mkvPath, constants.R_OK);
  } catch (err) {
    throw new RearviewError((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_CONVERT', `cannot open ${basename(mkvPath)}: ${(err as Error).message}`, { cause: err });
  }
  const out = mp4Output(write, options);
  try {
    if (reader) await muxFrames(reader, out.output, mkvPath);
    else await convertWithMediabunny(mkvPath, out.output, options.limitBytes);
  } catch (err) {
    await out.output.cancel().catch(() => {
      // the conversion error thrown below is the one to report
    });
    throw err instanceof RearviewError ? err : new RearviewError('ERR_CONVERT', `converting ${basename(mkvPath)} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await reader?.close();
  }
  const result = out.result();
  if (result.samples === 0) throw new RearviewError('ERR_CONVERT', `converting ${basename(mkvPath)} produced no video samples (damaged file?)`);
  return { ...result, demuxer: reader ? 'rearview' : 'mediabunny' };
}

/** The fragmented-MP4 Output shared by both demuxers, with its byte, sample and trim counts. */
function mp4Output(write: (chunk: Uint8Array) => Promise<void>, options: ConvertOptions): { output: Output; result: () => Omit<ConversionResult, 'demuxer'> } {
  let written = 0;
  const counter = new FragmentSampleCounter();
  const writable = new WritableStream<StreamTargetChunk>({
    write: async (chunk) => {
      if (chunk.position !== written) throw new Error(`MP4 writer went back to offset ${chunk.position} (at ${written})`);
      counter.push(chunk.data);
      written += chunk.data.byteLength;
      await write(chunk.data);
    },
  });
  let trimmed = 0;
  const output: Output = new Output({
    format: new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: 1, onMoof: () => {
      trimmed = trimFinishedFragments(output, trimmed);
      options.afterFragment?.();
    } }),
    target: new StreamTarget(writable, { chunked: false }),
  });
  return { output, result: () => ({ bytes: written, samples: counter.samples, trimmedFragments: trimmed }) };
}

/** Our demuxer's frames into mediabunny's muxer: no decoding, one copy per frame (see convert-mkv-reader.ts). */
async function muxFrames(reader: MkvVideoReader, output: Output, mkvPath: string): Promise<void> {
  const { track } = reader;
  const source = new EncodedVideoPacketSource('avc');
  output.addVideoTrack(source);
  await output.start();
  let started = false;
  for await (const f of reader.frames()) {
    if (!started && !f.key) continue; // an MP4 must start on a keyframe; ours always do
    const packet = new EncodedPacket(f.data, f.key ? 'key' : 'delta', f.timestampS, track.frameSeconds);
    if (started) await source.add(packet);
    else {
      await source.add(packet, { decoderConfig: { codec: track.codec, codedWidth: track.codedWidth, codedHeight: track.codedHeight, description: track.description } });
      started = true;
    }
  }
  if (!started) throw new RearviewError('ERR_CONVERT', `${basename(mkvPath)} holds no complete keyframe`);
  await output.finalize();
}

/** mediabunny's Matroska demuxer and Conversion: the fallback for files our reader does not handle. */
async function convertWithMediabunny(mkvPath: string, output: Output, limitBytes: number | undefined): Promise<void> {
  const fh = await open(mkvPath, 'r');
  // A segment still being written is read only up to its last complete frame.
  const source = limitBytes === undefined
    ? new FilePathSource(mkvPath, { maxCacheSize: 4 * 1024 * 1024 })
    : new CustomSource({
        getSize: () => limitBytes,
        read: async (start, end) => {
          const buf = new Uint8Array(end - start);
          const { bytesRead } = await fh.read(buf, 0, buf.length, start);
          return bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        },
        maxCacheSize: 4 * 1024 * 1024,
      });
  const input = new Input({ source, formats: ALL_FORMATS });
  try {
    let conversion: Conversion;
    try {
      conversion = await Conversion.init({ input, output, tracks: 'primary', audio: { discard: true } });
    } catch (err) {
      throw new RearviewError('ERR_CONVERT', `${basename(mkvPath)} is not a readable recording: ${(err as Error).message}`, { cause: err });
    }
    if (!conversion.isValid || !conversion.utilizedTracks.some((t) => t.isVideoTrack())) {
      const why = conversion.discardedTracks.map((d) => d.reason).join(', ') || 'no video track';
      throw new RearviewError('ERR_CONVERT', `${basename(mkvPath)} cannot be converted to MP4: ${why}`);
    }
    await conversion.execute();
  } finally {
    input.dispose();
    await fh.close().catch(() => {
      // opened read-only: a failing close loses nothing
    });
  }
}

/**
 * mediabunny's fragmented-MP4 muxer keeps every written sample's metadata
 * (timestamps, size) until the end, only to write the `mfra` index, which
 * needs the first sample of each fragment. For a 1-hour segment that is
 * over 100k objects. After each fragment we cut the finished fragments'
 * sample lists down to their first sample. The internals are looked up
 * defensively: if a mediabunny release renames them, nothing is trimmed
 * (memory grows with length again, output stays correct).
 *
 * This reaches into the private `_muxer.finalizedChunks`, so package.json pins
 * mediabunny exactly (no `^`), and test/recorder/mp4-converter.test.ts fails
 * when `trimmedFragments` drops to 0 after an upgrade. A public option
 * (release finished fragments' sample metadata, or skip the `mfra` index) is
 * to be requested upstream: https://github.com/Vanilagy/mediabunny/issues
 */
function trimFinishedFragments(output: Output, from: number): number {
  const chunks = (output as unknown as { _muxer?: { finalizedChunks?: unknown } })._muxer?.finalizedChunks;
  if (!Array.isArray(chunks)) return from;
  for (let i = from; i < chunks.length; i++) {
    const samples = (chunks[i] as { samples?: unknown }).samples;
    if (!Array.isArray(samples)) return i; // shape changed: report only what was really trimmed
    if (samples.length > 1) samples.length = 1;
  }
  return chunks.length;
}

/**
 * Counts samples in a fragmented MP4 as it streams past: top-level boxes are
 * tracked by size; each `moof` (small) is collected and its `trun`
 * sample_count fields summed. `mdat` payloads are skipped, not copied.
 */
class FragmentSampleCounter {
  samples = 0;
  private header = new Uint8Array(16);
  private headerFill = 0;
  /** Bytes left in the current top-level box (after its header). */
  private remaining = 0;
  private moof: Uint8Array | undefined;
  private moofFill = 0;

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0 && !this.moof) {
        // Reading a box header (8 bytes; 16 with a 64-bit size).
        const need = this.headerFill >= 8 && this.sizeField() === 1 ? 16 : 8;
        const take = Math.min(need - this.headerFill, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill < need) continue;
        if (need === 8 && this.sizeField() === 1) continue;
        const size = need === 16 ? Number(new DataView(this.header.buffer).getBigUint64(8)) : this.sizeField();
        const type = String.fromCharCode(...this.header.subarray(4, 8));
        this.headerFill = 0;
        const body = size === 0 ? Infinity : size - need;
        if (type === 'moof' && body < 4 * 1024 * 1024) {
          this.moof = new Uint8Array(body);
          this.moofFill = 0;
          if (body === 0) this.finishMoof();
        } else {
          this.remaining = body;
        }
        continue;
      }
      if (this.moof) {
        const take = Math.min(this.moof.length - this.moofFill, chunk.length - at);
        this.moof.set(chunk.subarray(at, at + take), this.moofFill);
        this.moofFill += take;
        at += take;
        if (this.moofFill === this.moof.length) this.finishMoof();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      this.remaining -= take;
      at += take;
    }
  }

  private sizeField(): number {
    return new DataView(this.header.buffer).getUint32(0);
  }

  private finishMoof(): void {
    const moof = this.moof as Uint8Array;
    this.moof = undefined;
    const view = new DataView(moof.buffer, moof.byteOffset, moof.byteLength);
    // moof children: mfhd, traf*; traf children: tfhd, tfdt, trun*.
    const walk = (start: number, end: number, inTraf: boolean): void => {
      for (let p = start; p + 8 <= end;) {
        const size = view.getUint32(p);
        const type = String.fromCharCode(moof[p + 4] as number, moof[p + 5] as number, moof[p + 6] as number, moof[p + 7] as number);
        if (size < 8 || p + size > end) return;
        if (type === 'traf') walk(p + 8, p + size, true);
        else if (inTraf && type === 'trun' && p + 16 <= end) this.samples += view.getUint32(p + 12);
        p += size;
      }
    };
    walk(0, moof.length, false);
  }
}

/** Options of {@link Mp4Cache}. */
export interface Mp4CacheOptions {
  /** Folder of the cached MP4 files (created when needed). */
  dir: string;
  /** Most cached files kept (oldest deleted first). Default 8. */
  maxFiles?: number;
  /**
   * Runs one conversion. Default: the process-wide ConvertPool (child
   * processes, at most 2 at once, memory kept out of the daemon);
   * convertMkvToMp4 converts in this process.
   */
  convert?: ConvertFn;
  logger?: Logger;
}

/** The signature of convertMkvToMp4 and ConvertPool.convert. */
export type ConvertFn = (mkvPath: string, write: (chunk: Uint8Array) => Promise<void>, options: { limitBytes?: number }) => Promise<ConversionResult>;

/** Converted MP4 files kept for Range requests; see the file comment. */
export class Mp4Cache {
  readonly dir: string;
  private readonly maxFiles: number;
  private readonly logger: Logger;
  private readonly convert: ConvertFn;
  /** Conversions in flight, by cache file name: one per segment version. */
  private readonly inFlight = new Map<string, Promise<number>>();
  /** Conversions run since creation (tests check the cache is used). */
  conversions = 0;

  constructor(options: Mp4CacheOptions) {
    this.dir = options.dir;
    this.maxFiles = options.maxFiles ?? 8;
    this.logger = options.logger ?? silentLogger;
    this.convert = options.convert ?? ((path, write, opts) => sharedConvertPool().convert(path, write, opts));
  }

  /**
   * The MP4 of the segment at `mkvPath` (already resolved and checked by
   * the caller). `inProgress`: the segment is being recorded (converted up
   * to its last complete frame, not cached, no ranges).
   */
  async open(mkvPath: string, options: { inProgress?: boolean } = {}): Promise<Mp4Source> {
    const name = basename(mkvPath).replace(/\.mkv$/, '.mp4');
    if (options.inProgress) {
      const scan = await scanMatroska(mkvPath);
      const limitBytes = scan.endOfLastBlock;
      const fail = (): Promise<number> => Promise.reject(new RearviewError('ERR_CONVERT', `${name}: the segment is still being recorded; its size is not final`));
      return {
        name,
        size: undefined,
        rangeable: false,
        stream: (range) => {
          if (range) throw new RearviewError('ERR_CONVERT', `${name}: byte ranges are not available while the segment is being recorded`);
          return this.streamConversion(mkvPath, undefined, limitBytes);
        },
        whenComplete: fail,
      };
    }
    const s = await stat(mkvPath);
    const key = `${basename(mkvPath, '.mkv')}-${s.size}-${Math.floor(s.mtimeMs)}.mp4`;
    const cachePath = join(this.dir, key);
    let size: number | undefined;
    try {
      size = (await stat(cachePath)).size;
    } catch {
      size = undefined;
    }
    const state = { size };
    const complete = async (): Promise<number> => {
      state.size ??= await this.convertToCache(mkvPath, key);
      return state.size;
    };
    return {
      name,
      get size() {
        return state.size;
      },
      rangeable: true,
      stream: (range) => {
        if (state.size !== undefined) return fileStream(cachePath, range);
        if (!range && !this.inFlight.has(key)) return this.streamConversion(mkvPath, key);
        // A range, or another request already converting: wait for the cache.
        const out = new PassThrough();
        complete().then(
          () => fileStream(cachePath, range).pipe(out),
          (err: unknown) => out.destroy(err as Error),
        );
        return out;
      },
      whenComplete: complete,
    };
  }

  /** Converts into the cache without a consumer; resolves with the size. Deduplicates concurrent calls. */
  private async convertToCache(mkvPath: string, key: string): Promise<number> {
    const running = this.inFlight.get(key);
    if (running) return running;
    try {
      return (await stat(join(this.dir, key))).size; // converted meanwhile by a streaming request
    } catch {
      // not cached yet
    }
    return this.runConversion(mkvPath, key, undefined, undefined, undefined);
  }

  /**
   * Streams a conversion to a new Readable. With a key (a finished segment) the conversion runs
   * at full speed into the cache's .part file and the Readable follows that file as it grows: the
   * converter is busy for the conversion time only, not for the client's download time (a slow
   * client on Wi-Fi would otherwise hold one of the few converter processes for the whole
   * transfer). Without a key (segment being recorded, not cached) the consumer's backpressure
   * paces the conversion.
   */
  private streamConversion(mkvPath: string, key: string | undefined, limitBytes?: number): Readable {
    if (key !== undefined) {
      const progress = new PartProgress();
      this.runConversion(mkvPath, key, undefined, limitBytes, progress).catch(() => {
        // reported to the follower through progress.error
      });
      return followPart(progress);
    }
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    this.runConversion(mkvPath, key, out, limitBytes, undefined).then(
      () => out.end(),
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  private runConversion(mkvPath: string, key: string | undefined, out: PassThrough | undefined, limitBytes: number | undefined, progress: PartProgress | undefined): Promise<number> {
    const job = (async () => {
      this.conversions++;
      let fh: FileHandle | undefined;
      const partPath = key ? join(this.dir, `${key}.${process.pid}.${this.conversions}.part`) : undefined;
      try {
        if (partPath) {
          await mkdir(this.dir, { recursive: true });
          fh = await open(partPath, 'w');
          // The follower reads through its own descriptor: it stays valid across the rename (and an unlink).
          if (progress) progress.readFh = await open(partPath, 'r');
        }
        let consumerGone = false;
        out?.on('close', () => (consumerGone = true));
        const result = await this.convert(mkvPath, async (chunk) => {
          if (fh) await fh.write(chunk);
          if (progress) progress.advance(chunk.byteLength);
          if (out && !consumerGone && !out.destroyed && !out.write(chunk)) {
            // Backpressure from the consumer keeps memory flat; a consumer that left stops mattering.
            await new Promise<void>((resolve) => {
              const done = (): void => {
                out.off('drain', done);
                out.off('close', done);
                resolve();
              };
              out.on('drain', done);
              out.on('close', done);
            });
          }
        }, limitBytes === undefined ? {} : { limitBytes });
        if (fh && partPath && key) {
          await fh.close();
          fh = undefined;
          await rename(partPath, join(this.dir, key));
          void this.prune();
        }
        progress?.finish(undefined);
        return result.bytes;
      } catch (err) {
        progress?.finish(err as Error);
        // A .part file that cannot be removed now is swept by prune() once stale.
        if (partPath) await unlink(partPath).catch(() => undefined);
        this.logger.warn(`MP4 conversion of ${basename(mkvPath)} failed: ${(err as Error).message}`);
        throw err;
      } finally {
        await fh?.close().catch(() => {
          // only still open after a failure, reported above; its .part file is discarded
        });
      }
    })();
    if (key) {
      this.inFlight.set(key, job);
      job.then(
        () => this.inFlight.delete(key),
        () => this.inFlight.delete(key),
      );
    }
    return job;
  }

  /** Deletes the oldest cached files beyond maxFiles (and stray .part files of dead processes). */
  private async prune(): Promise<void> {
    try {
      const names = await readdir(this.dir);
      const entries: { path: string; mtimeMs: number }[] = [];
      for (const n of names) {
        if (n.endsWith('.part')) {
          // Left by a process killed mid-conversion: anything this old is not being written any more.
          const p = join(this.dir, n);
          const age = Date.now() - (await stat(p).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
          if (age > 10 * 60_000) await unlink(p).catch((err: Error) => this.logger.warn(`could not remove ${n} from the MP4 cache: ${err.message}`));
          continue;
        }
        if (!n.endsWith('.mp4')) continue;
        const p = join(this.dir, n);
        try {
          entries.push({ path: p, mtimeMs: (await stat(p)).mtimeMs });
        } catch {
          // gone
        }
      }
      entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
      for (const e of entries.slice(0, Math.max(0, entries.length - this.maxFiles))) {
        await unlink(e.path).catch((err: Error) => this.logger.warn(`could not remove ${basename(e.path)} from the MP4 cache: ${err.message}`));
      }
    } catch {
      // cache folder gone: nothing to prune
    }
  }
}

/** How far a conversion into a .part file got, for {@link followPart}. */
class PartProgress extends EventEmitter {
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
function followPart(progress: PartProgress): Readable {
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
    // Read-only descriptors: a failing close loses nothing.
    if (fh) void fh.close().catch(() => undefined);
    else progress.once('progress', () => void progress.readFh?.close().catch(() => undefined)); // opened later
  });
  const waitForProgress = (): Promise<void> => new Promise((resolve) => {
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

/** A file (or an inclusive range of it) as a Readable. */
export function fileStream(path: string, range?: ByteRange): Readable {
  return range ? createReadStream(path, { start: range.start, end: range.end }) : createReadStream(path);
}
