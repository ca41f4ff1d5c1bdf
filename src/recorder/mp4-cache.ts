/**
 * Converted MP4s of finished segments, kept for Range requests, and the
 * `Mp4Source` handed to the HTTP layer (the conversion itself:
 * convert-mkv-to-mp4.ts).
 *
 * Range requests: a converted file is kept in a cache folder next to the
 * segments (`.mp4-cache/log0001-<mkv size>-<mkv mtime>.mp4`, written to an
 * unpredictable `.part` name created exclusively and renamed, so a reader
 * never sees half a file). The folder and its files are hostile input: see
 * recording-file.ts (private folder reached through its descriptor, files
 * checked after opening, only the inode we wrote is served). The first
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
 * Mp4Cache runs conversions in converter worker threads (convert-pool.ts;
 * one at a time on a camera, queued), which write the cache file themselves,
 * so neither the conversion's memory nor the MP4 bytes land in the daemon's
 * heap; a first download follows the cache's .part file, so a slow client
 * does not hold a converter. Figures: docs/recording.md.
 */
import { lstat, rename, unlink, type FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hasCode, RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { ConvertFn } from './conversion-result.js';
import { sharedConvertPool } from './convert-pool.js';
import { followPart, PartProgress } from './follow-part.js';
import { scanMatroska } from './matroska-file.js';
import {
  createExclusive,
  descriptorPath,
  openPrivateFolder,
  openRecordingFile,
  randomSuffix,
  type ByteRange,
  type PrivateFolder,
  type RecordingFile,
} from './recording-file.js';

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
  /** False for a segment being recorded (or an unusable cache folder): ranges cannot be served. */
  readonly rangeable: boolean;
  /**
   * The MP4 bytes: all of them, or an inclusive range (only when `rangeable`;
   * waits for the conversion to finish first). The stream errors with
   * RearviewError ERR_CONVERT when the conversion fails.
   */
  stream(range?: ByteRange): Readable;
  /** Resolves with the final size once the MP4 is complete in the cache. Rejects with ERR_CONVERT. Not for in-progress segments. */
  whenComplete(): Promise<number>;
  /** Lets go of the segment (a conversion already started keeps it until it ends). Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link Mp4Cache}. */
export interface Mp4CacheOptions {
  /** Folder of the cached MP4 files (created 0700 when needed; refused when it is a link or not ours). */
  dir: string;
  /** Most cached files kept (oldest deleted first). Default 8. */
  maxFiles?: number;
  /**
   * Runs one conversion. Default: the process-wide ConvertPool (worker
   * threads, memory kept out of the daemon's heap); convertMkvToMp4
   * converts in this thread.
   */
  convert?: ConvertFn;
  logger?: Logger;
}

/** A cache file this process wrote: only this inode is ever served under its name. */
interface CachedFile {
  ino: number;
  size: number;
}

/** Converted MP4 files kept for Range requests; see the file comment. */
export class Mp4Cache {
  readonly dir: string;
  private readonly maxFiles: number;
  private readonly logger: Logger;
  private readonly convert: ConvertFn;
  /** Conversions in flight, by cache file name: one per segment version. */
  private readonly inFlight = new Map<string, Promise<number>>();
  /** Files written by this process, by cache file name (see CachedFile). */
  private readonly written = new Map<string, CachedFile>();
  /** Conversions run since creation (tests check the cache is used). */
  conversions = 0;

  constructor(options: Mp4CacheOptions) {
    this.dir = options.dir;
    this.maxFiles = options.maxFiles ?? 8;
    this.logger = options.logger ?? silentLogger;
    this.convert = options.convert ?? ((path, write, opts) => sharedConvertPool().convert(path, write, opts));
  }

  /**
   * The MP4 of `segment`, a segment file already opened and checked
   * (openRecordingFile). The conversion reads that descriptor, never the
   * path again. `inProgress`: the segment is being recorded (converted up to
   * its last complete frame, not cached, no ranges). The source holds the
   * segment open until `close()` and any conversion it started ends.
   */
  async open(segment: RecordingFile, options: { inProgress?: boolean } = {}): Promise<Mp4Source> {
    const name = segment.name.replace(/\.mkv$/, '.mp4');
    const mkvPath = descriptorPath(segment.handle) ?? segment.path;
    const close = (): Promise<void> => segment.close();
    const uncached = (limitBytes: number | undefined, why: string): Mp4Source => ({
      name,
      size: undefined,
      rangeable: false,
      stream: (range) => {
        if (range) throw new RearviewError('ERR_CONVERT', `${name}: byte ranges are not available (${why})`);
        return this.streamConversion(segment, mkvPath, undefined, limitBytes);
      },
      whenComplete: () =>
        Promise.reject(new RearviewError('ERR_CONVERT', `${name}: ${why}; its size is not known in advance`)),
      close,
    });
    if (options.inProgress) {
      const scan = await scanMatroska(mkvPath);
      return uncached(scan.endOfLastBlock, 'the segment is still being recorded');
    }
    const s = segment.stats;
    const key = `${segment.name.replace(/\.mkv$/, '')}-${s.size}-${Math.floor(s.mtimeMs)}.mp4`;
    let cached: RecordingFile | undefined;
    try {
      cached = await this.openCached(key, s.dev);
    } catch (err) {
      // The cache folder is a link or not ours: convert without it rather than write through it.
      this.logger.warn(`MP4 cache not used: ${(err as Error).message}`);
      return uncached(undefined, 'the MP4 cache folder is unusable');
    }
    const state = { size: cached?.size };
    await cached?.close();
    const complete = async (): Promise<number> => {
      state.size ??= await this.convertToCache(segment, mkvPath, key);
      return state.size;
    };
    return {
      name,
      get size() {
        return state.size;
      },
      rangeable: true,
      stream: (range) => {
        if (state.size === undefined && !range && !this.inFlight.has(key))
          return this.streamConversion(segment, mkvPath, key);
        // Cached, a range, or another request already converting: serve from the cache once it is there.
        const out = new PassThrough();
        complete()
          .then(async () => {
            const file = await this.openCached(key, s.dev);
            if (!file) throw new RearviewError('ERR_NOT_FOUND', `${name}: the cached MP4 was deleted`);
            // pipeline ends the file stream when the consumer leaves; the descriptor is closed either way.
            await pipeline(file.stream(range), out).finally(() => file.close());
          })
          .catch((err: unknown) => out.destroy(err as Error));
        return out;
      },
      whenComplete: complete,
      close,
    };
  }

  /**
   * Opens the cache file `key`, checked: a regular file with one link, ours,
   * on the recordings' device, and the very inode we wrote when this process
   * wrote it. Undefined when absent; a file failing the checks (a planted
   * link, a hard link, a FIFO) is deleted (the name only, never a target)
   * and reported as absent. Throws when the cache folder itself is unusable.
   */
  private async openCached(key: string, dev: number): Promise<RecordingFile | undefined> {
    const folder = await openPrivateFolder(this.dir, dev);
    try {
      const known = this.written.get(key);
      const uid = process.getuid?.();
      return await openRecordingFile(
        this.dir,
        key,
        { dev, ...(known ? { ino: known.ino } : {}), ...(uid === undefined ? {} : { uid }) },
        folder.ref(key),
      );
    } catch (err) {
      if (hasCode(err, 'ERR_NOT_FOUND') && !this.written.has(key)) return undefined;
      this.logger.warn(`MP4 cache: ${(err as Error).message}; removed`);
      this.written.delete(key);
      await unlink(folder.ref(key)).catch((err: Error) =>
        this.logger.warn(`could not remove a refused cache entry: ${err.message}`),
      );
      return undefined;
    } finally {
      await folder.close();
    }
  }

  /** Converts into the cache without a consumer; resolves with the size. Deduplicates concurrent calls. */
  private async convertToCache(segment: RecordingFile, mkvPath: string, key: string): Promise<number> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const cached = await this.openCached(key, segment.stats.dev); // converted meanwhile by a streaming request
    if (cached) {
      await cached.close();
      return cached.size;
    }
    return this.runConversion(segment, mkvPath, key, undefined, undefined, undefined);
  }

  /**
   * Streams a conversion to a new Readable. With a key (a finished segment) the conversion runs
   * at full speed into the cache's .part file and the Readable follows that file as it grows: the
   * converter is busy for the conversion time only, not for the client's download time (a slow
   * client on Wi-Fi would otherwise hold one of the few converters for the whole
   * transfer). Without a key (segment being recorded, or no usable cache) the consumer's
   * backpressure paces the conversion.
   */
  private streamConversion(
    segment: RecordingFile,
    mkvPath: string,
    key: string | undefined,
    limitBytes?: number,
  ): Readable {
    if (key !== undefined) {
      const progress = new PartProgress();
      this.runConversion(segment, mkvPath, key, undefined, limitBytes, progress).catch(() => {
        // reported to the follower through progress.error
      });
      return followPart(progress);
    }
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    this.runConversion(segment, mkvPath, key, out, limitBytes, undefined).then(
      () => out.end(),
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  private runConversion(
    segment: RecordingFile,
    mkvPath: string,
    key: string | undefined,
    out: PassThrough | undefined,
    limitBytes: number | undefined,
    progress: PartProgress | undefined,
  ): Promise<number> {
    // The conversion keeps the segment's descriptor open even when the request that started it ends first.
    const release = segment.retain();
    const job = (async () => {
      this.conversions++;
      let fh: FileHandle | undefined;
      let folder: PrivateFolder | undefined;
      // An unpredictable name, created exclusively: a link planted at a guessed name cannot redirect the write.
      const partName = key ? `${key}.${randomSuffix()}.part` : undefined;
      try {
        let ino = 0;
        if (partName) {
          folder = await openPrivateFolder(this.dir, segment.stats.dev);
          fh = await createExclusive(folder.ref(partName), 0o600);
          ino = (await fh.stat()).ino;
          // The follower reads through its own descriptor: it stays valid across the rename (and an unlink).
          if (progress)
            progress.readFh = (
              await openRecordingFile(this.dir, partName, { dev: segment.stats.dev, ino }, folder.ref(partName))
            ).handle;
        }
        let consumerGone = false;
        out?.on('close', () => (consumerGone = true));
        // Into the cache: the converter writes the file itself (from its worker thread), the bytes never cross here.
        const output = fh ? { fd: fh.fd, progress: (bytes: number) => progress?.advance(bytes) } : undefined;
        const result = await this.convert(
          mkvPath,
          async (chunk) => {
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
          },
          { ...(limitBytes === undefined ? {} : { limitBytes }), ...(output ? { output } : {}) },
        );
        if (fh && folder && partName && key) {
          await fh.close();
          fh = undefined;
          // Renamed through the folder's descriptor: the folder swapped for a link meanwhile changes nothing.
          await rename(folder.ref(partName), folder.ref(key));
          this.written.set(key, { ino, size: result.bytes });
          void this.prune(segment.stats.dev);
        }
        progress?.finish(undefined);
        return result.bytes;
      } catch (err) {
        progress?.finish(err as Error);
        if (folder && partName) await unlink(folder.ref(partName)).catch(() => undefined); // the next start-up sweep removes a leftover .part
        this.logger.warn(`MP4 conversion of ${segment.name} failed: ${(err as Error).message}`);
        throw err;
      } finally {
        await fh?.close().catch(() => undefined); // the conversion result (or its error) is what is reported
        await folder?.close();
        await release();
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
  private async prune(dev: number): Promise<void> {
    let folder: PrivateFolder | undefined;
    try {
      folder = await openPrivateFolder(this.dir, dev, { create: false });
      const names = await folder.list();
      const entries: { name: string; mtimeMs: number }[] = [];
      for (const n of names) {
        if (n === '.' || n === '..') continue;
        const p = folder.ref(n);
        const mtimeMs = (await lstat(p).catch(() => undefined))?.mtimeMs;
        if (mtimeMs === undefined) continue; // gone
        if (n.endsWith('.part')) {
          // Left by a process killed mid-conversion: anything this old is not being written any more.
          if (Date.now() - mtimeMs > 10 * 60_000)
            await unlink(p).catch((err: Error) =>
              this.logger.warn(`could not remove a stale cache file: ${err.message}`),
            );
          continue;
        }
        if (n.endsWith('.mp4')) entries.push({ name: n, mtimeMs });
      }
      entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
      for (const e of entries.slice(0, Math.max(0, entries.length - this.maxFiles))) {
        this.written.delete(e.name);
        await unlink(folder.ref(e.name)).catch((err: Error) =>
          this.logger.warn(`could not remove cache file ${e.name}: ${err.message}`),
        );
      }
    } catch {
      // cache folder gone or unusable: nothing to prune
    } finally {
      await folder?.close();
    }
  }
}
