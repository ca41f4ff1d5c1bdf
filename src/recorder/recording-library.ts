/**
 * The recordings folder as a library: list, resolve safely, download (raw
 * MKV or converted MP4), delete. Everything is derived from the folder, so
 * it survives restarts and works without the recorder running.
 *
 * Cheap on 900 files: one readdir and one stat per file per `list()`; the
 * Matroska header (a few KB: start time, duration, size) is read only for
 * files whose size or mtime changed since the last call.
 *
 * Path safety lives here, not only in the HTTP layer: every name or path a
 * client gives is resolved inside the folder or refused (see
 * `resolveSegment`).
 */
import { readdir, readFile, lstat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { hasCode, RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { RECORDING_MARKER } from './crash-recovery.js';
import { readMatroskaHeader, scanMatroska } from './matroska-file.js';
import { Mp4Cache, type Mp4Source } from './mp4-cache.js';
import { openRecordingFile, type RecordingFile } from './recording-file.js';
import { MP4_CACHE_DIR, orderSegments, removeThumbnailsOf, statfsDiskSpace, type DiskSpaceFn } from './retention.js';
import { isRecordingName, parseProtectedName, parseSegmentName, parseThumbnailName } from './segment-names.js';
import { lastSegmentNumber } from './segment-numbering.js';

/** One recorded segment as listed. */
export interface RecordingInfo {
  /** File name, `log0001.mkv`. */
  name: string;
  /** Absolute path. */
  path: string;
  /** When recording of the segment began, ms since the epoch (from the file; else its thumbnail name; else mtime - duration). */
  startedAtMs: number;
  /** Length in ms; null while being recorded (or when unreadable). */
  durationMs: number | null;
  sizeBytes: number;
  /** Last modification, ms since the epoch (what the device's list endpoint returned). */
  modifiedAtMs: number;
  /** Video size in pixels, null when unknown. */
  width: number | null;
  height: number | null;
  /** Its JPEG thumbnail, when made. */
  thumbnail: { name: string; path: string } | null;
  /** True while the recorder is writing it. */
  inProgress: boolean;
  /**
   * Kept by a moment: out of the ring (`log0042-1713198307.mkv`), or still in
   * it but inside a moment's window (rotation skips it until it is moved out).
   */
  protected: boolean;
}

/** Folder totals. */
export interface RecordingUsage {
  /** Segment files and their total size in bytes. */
  files: number;
  totalBytes: number;
  /** Free and total bytes of the filesystem holding the folder. */
  freeBytes: number;
  diskBytes: number;
}

/** Options of {@link RecordingLibrary}. */
export interface RecordingLibraryOptions {
  /**
   * Tells whether the segment at this absolute path is being recorded. The
   * daemon passes the recorder's answer; default: the recorder's marker file
   * in the folder names it and the process that wrote the marker is alive.
   */
  isRecording?: (path: string) => boolean;
  /** Free-space probe. Default statfs. */
  diskSpace?: DiskSpaceFn;
  /**
   * The name of the newest segment (the recorder's last one opened), which
   * ends the recording order. Default: the one being written, else the
   * recorder's state file and the numbers on disk (segment-numbering.ts).
   */
  lastSegment?: () => string | undefined;
  /** Converted MP4 files kept for Range requests. Default 8. */
  mp4CacheFiles?: number;
  /** Ring segments a moment keeps (not moved out of the ring yet), listed as protected. Default: none. */
  isProtected?: (name: string) => boolean;
  logger?: Logger;
}

interface CacheEntry {
  sizeBytes: number;
  mtimeMs: number;
  /** The change time too: a re-stamp (the clock was set) rewrites the start but keeps size and mtime. */
  ctimeMs: number;
  startedAtMs: number | null;
  durationMs: number | null;
  width: number | null;
  height: number | null;
}

/** Characters that have no business in a recording name: separators, NUL, percent-encoding left over. */
const SUSPICIOUS = /[\0\\]|%[0-9a-f]{2}/i;

/** The recordings library; see the file comment. */
export class RecordingLibrary {
  /** Absolute path of the folder. */
  readonly dir: string;
  private readonly isRecordingOption: ((path: string) => boolean) | undefined;
  private readonly lastSegmentOption: (() => string | undefined) | undefined;
  /** Set by the moments (see RecordingLibraryOptions.isProtected); may be set after construction. */
  isProtectedOption: ((name: string) => boolean) | undefined;
  private readonly diskSpace: DiskSpaceFn;
  private readonly logger: Logger;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly mp4: Mp4Cache;
  /** Counters: headers read and full scans made (tests check the cache works). */
  readonly stats = { headerReads: 0, scans: 0 };

  constructor(dir: string, options: RecordingLibraryOptions = {}) {
    this.dir = resolve(dir);
    this.isRecordingOption = options.isRecording;
    this.lastSegmentOption = options.lastSegment;
    this.isProtectedOption = options.isProtected;
    this.diskSpace = options.diskSpace ?? statfsDiskSpace;
    this.logger = options.logger ?? silentLogger;
    this.mp4 = new Mp4Cache({
      dir: join(this.dir, MP4_CACHE_DIR),
      maxFiles: options.mp4CacheFiles ?? 8,
      logger: this.logger,
    });
  }

  /** MP4 conversions run so far (a cached MP4 is not converted again). */
  get mp4Conversions(): number {
    return this.mp4.conversions;
  }

  /**
   * Every segment, oldest first in recording order: by number, in the cycle
   * that ends with the newest segment (retention.ts orderSegments), the
   * order rotation deletes in. Never by time (a camera without a clock may
   * date a ride 1970) nor by name alone (the names wrap). A missing folder lists as empty.
   */
  async list(): Promise<RecordingInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const recording = await this.recordingCheck();
    const thumbs = new Map<string, { name: string; seconds: number }[]>();
    for (const n of names) {
      const t = parseThumbnailName(n);
      if (!t) continue;
      const list = thumbs.get(t.stem) ?? [];
      list.push({ name: n, seconds: t.unixSeconds });
      thumbs.set(t.stem, list);
    }
    const out: RecordingInfo[] = [];
    const seen = new Set<string>();
    const kept: RecordingInfo[] = [];
    for (const name of names) {
      const ring = parseSegmentName(name) !== undefined;
      if (!ring && !parseProtectedName(name)) continue;
      const path = join(this.dir, name);
      let s: Awaited<ReturnType<typeof lstat>>;
      try {
        s = await lstat(path);
      } catch {
        continue; // deleted meanwhile
      }
      if (!s.isFile()) continue; // symlinks and folders are never listed
      seen.add(name);
      const inProgress = recording(path);
      const entry = await this.entryFor(name, path, s, inProgress);
      const thumb = pickThumbnail(thumbs.get(name.replace(/\.mkv$/, '')), entry.startedAtMs);
      const startedAtMs = entry.startedAtMs ?? (thumb ? thumb.seconds * 1000 : s.mtimeMs - (entry.durationMs ?? 0));
      (ring ? out : kept).push({
        name,
        path,
        startedAtMs,
        durationMs: inProgress ? null : entry.durationMs,
        sizeBytes: s.size,
        modifiedAtMs: s.mtimeMs,
        width: entry.width,
        height: entry.height,
        thumbnail: thumb ? { name: thumb.name, path: join(this.dir, thumb.name) } : null,
        inProgress,
        protected: !ring || (this.isProtectedOption?.(name) ?? false),
      });
    }
    for (const key of this.cache.keys()) if (!seen.has(key)) this.cache.delete(key);
    // Protected segments left the ring: they come first, by their start (the seconds in their name).
    kept.sort((a, b) => protectedStart(a.name) - protectedStart(b.name) || (a.name < b.name ? -1 : 1));
    return [...kept, ...orderSegments(out, await this.newestNumber(out))];
  }

  /** The number that ends the recording order (see list()). */
  private async newestNumber(list: readonly RecordingInfo[]): Promise<number | undefined> {
    const current = list.find((r) => r.inProgress);
    const named = current?.name ?? this.lastSegmentOption?.();
    const n = named === undefined ? undefined : parseSegmentName(named);
    if (n !== undefined && list.some((r) => r.name === named)) return n;
    return lastSegmentNumber(this.dir, list);
  }

  private async entryFor(
    name: string,
    path: string,
    { size: sizeBytes, mtimeMs, ctimeMs }: { size: number; mtimeMs: number; ctimeMs: number },
    inProgress: boolean,
  ): Promise<CacheEntry> {
    const cached = this.cache.get(name);
    if (cached && cached.sizeBytes === sizeBytes && cached.mtimeMs === mtimeMs && cached.ctimeMs === ctimeMs)
      return cached;
    // A growing segment keeps its header: re-read nothing while it grows.
    if (cached && inProgress && cached.startedAtMs !== null) return cached;
    const entry: CacheEntry = {
      sizeBytes,
      mtimeMs,
      ctimeMs,
      startedAtMs: null,
      durationMs: null,
      width: null,
      height: null,
    };
    try {
      this.stats.headerReads++;
      const h = await readMatroskaHeader(path);
      entry.startedAtMs = h.startedAtMs;
      entry.durationMs = h.durationMs;
      entry.width = h.width;
      entry.height = h.height;
      if (h.durationMs === null && !inProgress) {
        // Not sealed (a crash the recorder has not repaired yet): measure the blocks.
        this.stats.scans++;
        const scan = await scanMatroska(path);
        if (scan.lastBlockMs !== null)
          entry.durationMs = Math.round(scan.lastBlockMs - (scan.firstBlockMs ?? 0) + (h.defaultFrameMs ?? 1000 / 30));
      }
    } catch (err) {
      this.logger.debug(`cannot read ${name}: ${(err as Error).message}`);
    }
    this.cache.set(name, entry);
    return entry;
  }

  /** Builds the in-progress test for one list() call. */
  private async recordingCheck(): Promise<(path: string) => boolean> {
    if (this.isRecordingOption) return this.isRecordingOption;
    try {
      const marker = JSON.parse(await readFile(join(this.dir, RECORDING_MARKER), 'utf8')) as {
        name?: unknown;
        pid?: unknown;
      };
      if (typeof marker.name !== 'string' || typeof marker.pid !== 'number' || !processAlive(marker.pid))
        return () => false;
      const current = join(this.dir, marker.name);
      return (path) => path === current;
    } catch {
      return () => false;
    }
  }

  private async isRecording(path: string): Promise<boolean> {
    return (await this.recordingCheck())(path);
  }

  /**
   * Resolves a segment given as a bare name (`log0001.mkv`) or an absolute
   * path inside the folder (what the device's API used) to its absolute
   * path. The caller decodes URL encoding once; anything still encoded is
   * refused. Throws RearviewError:
   * - ERR_PATH_OUTSIDE (HTTP 400): empty, NUL byte, backslash, leftover
   *   %xx, `..` or any other folder part, an absolute path elsewhere, a name
   *   that is not `log%04d.mkv`, a symbolic link, a hard link, a file on
   *   another filesystem (see openRecordingFile);
   * - ERR_NOT_FOUND (HTTP 404): a well-formed name with no such file, or not a regular file.
   * To read the file, use openSegmentFile: a path checked now may be swapped before it is opened.
   */
  async resolveSegment(nameOrPath: string): Promise<string> {
    const file = await this.openSegmentFile(nameOrPath);
    await file.close();
    return file.path;
  }

  /** The segment opened once and checked (see resolveSegment); read it through the returned file, then close it. */
  async openSegmentFile(nameOrPath: string): Promise<RecordingFile> {
    const name = this.checkedName(nameOrPath, 'segment');
    if (!isRecordingName(name)) throw outside(nameOrPath, 'not a recording name (log0001.mkv)');
    return this.openChecked(name, nameOrPath);
  }

  /**
   * Resolves a thumbnail given as its name (`log0001_1713198307.jpg`), an
   * absolute path inside the folder, or the name/path of its segment
   * (`log0001.mkv`: its newest thumbnail). Same refusals as resolveSegment.
   */
  async resolveThumbnail(nameOrPath: string): Promise<string> {
    const file = await this.openThumbnailFile(nameOrPath);
    await file.close();
    return file.path;
  }

  /** The thumbnail opened once and checked (see resolveThumbnail); read it through the returned file, then close it. */
  async openThumbnailFile(nameOrPath: string): Promise<RecordingFile> {
    const name = this.checkedName(nameOrPath, 'thumbnail');
    if (isRecordingName(name)) {
      const stem = name.replace(/\.mkv$/, '');
      let best: { name: string; seconds: number } | undefined;
      for (const n of await readdir(this.dir).catch(() => [] as string[])) {
        const t = parseThumbnailName(n);
        if (t?.stem === stem && (!best || t.unixSeconds > best.seconds)) best = { name: n, seconds: t.unixSeconds };
      }
      if (!best) throw new RearviewError('ERR_NOT_FOUND', `no thumbnail for ${name}`);
      return this.openChecked(best.name, nameOrPath);
    }
    if (!parseThumbnailName(name)) throw outside(nameOrPath, 'not a thumbnail name (log0001_1713198307.jpg)');
    return this.openChecked(name, nameOrPath);
  }

  /** Syntax checks common to segments and thumbnails; returns the bare file name. */
  private checkedName(nameOrPath: string, what: string): string {
    if (typeof nameOrPath !== 'string' || nameOrPath.length === 0 || nameOrPath.length > 4096)
      throw outside(String(nameOrPath), `empty or oversized ${what} name`);
    if (SUSPICIOUS.test(nameOrPath)) throw outside(nameOrPath, 'NUL byte, backslash or percent-encoding in the name');
    if (isAbsolute(nameOrPath)) {
      // Compare the path as given, not normalised: "/rec/../etc/log0001.mkv" must not sneak back in.
      if (nameOrPath.split('/').some((part) => part === '..' || part === '.'))
        throw outside(nameOrPath, '".." in the path');
      if (nameOrPath.endsWith('/')) throw outside(nameOrPath, 'a file path is expected');
      if (dirname(nameOrPath) !== this.dir) throw outside(nameOrPath, 'not inside the recordings folder');
      return basename(nameOrPath);
    }
    if (nameOrPath.includes('/') || nameOrPath === '..' || nameOrPath === '.')
      throw outside(nameOrPath, 'a bare file name is expected');
    return nameOrPath;
  }

  /** Opens `name` in the folder without following links and checks the descriptor (openRecordingFile). */
  private async openChecked(name: string, asGiven: string): Promise<RecordingFile> {
    try {
      return await openRecordingFile(this.dir, name);
    } catch (err) {
      if (hasCode(err, 'ERR_PATH_OUTSIDE'))
        throw outside(asGiven, (err as Error).message.replace(/^refused [^:]*: /, ''));
      throw err;
    }
  }

  /** Deletes a segment with its thumbnail and cached MP4. Refuses the one being recorded (ERR_SEGMENT_IN_PROGRESS). */
  async remove(nameOrPath: string): Promise<void> {
    const path = await this.resolveSegment(nameOrPath);
    if (await this.isRecording(path))
      throw new RearviewError('ERR_SEGMENT_IN_PROGRESS', `${basename(path)} is being recorded and cannot be deleted`);
    const info = (await this.list()).find((r) => r.path === path);
    await unlink(path).catch(ignoreMissing);
    this.cache.delete(basename(path));
    await removeThumbnailsOf(this.dir, new Map([[basename(path), info ? thumbnailSeconds(info) : null]]));
  }

  /**
   * Deletes every segment except the one being recorded and the protected
   * ones (moments: the moment store deletes those), then their thumbnails
   * and cached MP4s (the folder is read again once the segments are gone, so
   * a thumbnail finished during the wipe goes too); returns how many
   * segments were deleted.
   */
  async removeAll(): Promise<number> {
    const removed = new Map<string, number | null>();
    for (const r of await this.list()) {
      if (r.inProgress || r.protected) continue;
      await unlink(r.path).catch(ignoreMissing);
      this.cache.delete(r.name);
      removed.set(r.name, thumbnailSeconds(r));
    }
    await removeThumbnailsOf(this.dir, removed);
    return removed.size;
  }

  /** Segment count and bytes, and the disk's free and total bytes. */
  async usage(): Promise<RecordingUsage> {
    const list = await this.list();
    let space = { freeBytes: 0, diskBytes: 0 };
    try {
      space = await this.diskSpace(this.dir);
    } catch {
      // folder missing: report zeros
    }
    return { files: list.length, totalBytes: list.reduce((n, r) => n + r.sizeBytes, 0), ...space };
  }

  /**
   * The raw MKV for download, opened once and checked (as openSegmentFile);
   * `inProgress` tells whether it is being recorded (then serve `size`, its size when opened).
   */
  async openSegment(nameOrPath: string): Promise<RecordingFile & { inProgress: boolean }> {
    const file = await this.openSegmentFile(nameOrPath);
    return Object.assign(file, { inProgress: await this.isRecording(file.path) });
  }

  /**
   * The segment converted to MP4 (resolved as resolveSegment does); see
   * Mp4Source for how to serve it with or without Range.
   */
  async openMp4(nameOrPath: string): Promise<Mp4Source> {
    const file = await this.openSegmentFile(nameOrPath);
    try {
      return await this.mp4.open(file, { inProgress: await this.isRecording(file.path) });
    } catch (err) {
      await file.close();
      throw err;
    }
  }
}

/**
 * The thumbnail of a segment among those named after its stem: the one named
 * with its start (DateUTC), else the newest. A stale one (a thumbnail made
 * late for an earlier segment of the same number) is never preferred.
 */
function pickThumbnail(
  candidates: { name: string; seconds: number }[] | undefined,
  startedAtMs: number | null,
): { name: string; seconds: number } | undefined {
  if (!candidates) return undefined;
  if (startedAtMs !== null) {
    const exact = candidates.find((c) => c.seconds === Math.floor(startedAtMs / 1000));
    if (exact) return exact;
  }
  return candidates.reduce((a, b) => (b.seconds > a.seconds ? b : a));
}

/**
 * The Unix seconds a segment is known by: those its thumbnail is named with
 * (its start), else its start floored to seconds. This is the `date_updated`
 * of GET /list-local-videos, so `<path without .mkv>_<date_updated>.jpg` names
 * its thumbnail; nothing written to the file later (sealing, repair, a
 * changed modification time) changes it.
 */
export function thumbnailSeconds(r: Pick<RecordingInfo, 'thumbnail' | 'startedAtMs'>): number {
  const t = r.thumbnail ? parseThumbnailName(r.thumbnail.name) : undefined;
  return t ? t.unixSeconds : Math.floor(r.startedAtMs / 1000);
}

function protectedStart(name: string): number {
  return parseProtectedName(name)?.startUnixSeconds ?? 0;
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

function outside(given: string, why: string): RearviewError {
  const shown = given.length > 200 ? `${given.slice(0, 200)}...` : given;
  return new RearviewError('ERR_PATH_OUTSIDE', `refused ${JSON.stringify(shown)}: ${why}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
