/**
 * Retention: the one rule for deleting segments, used by every part that
 * deletes (rotation, a full disk, and later event protection and uploads).
 *
 * Candidates, oldest first within each tier (recording order):
 *   1. finished, unprotected segments already uploaded or needing no upload;
 *   2. finished, unprotected segments still queued for upload (logged and counted),
 *      oldest first in the upload queue's order (uploadOrder);
 *   never the segment being written, never a protected one. Protection is capped
 *   (maxProtectedBytes): the oldest protected segments past the cap count as
 *   unprotected, so protected data can never stop recording.
 * (deletionOrder). enforceRetention deletes in that order until the limits
 * (files, bytes, free space) hold, plus `freeBytes` more when the disk filled
 * anyway. Rotation is the only thing in the recorder that deletes a segment
 * with frames in it.
 */
import { lstat, readdir, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { MAX_SEGMENT_NUMBER, nextSegmentNumber, parseSegmentName, parseThumbnailName } from './segment-names.js';
import { openPrivateFolder, type PrivateFolder } from './recording-file.js';

/** Rotation limits. 0 disables a limit. Defaults (daemon config): 900 files, no byte limit, 500 MB and 5 % free. */
export interface RetentionLimits {
  /** Most segment files kept, the one being written included. */
  maxFiles: number;
  /** Most bytes of segment files kept, the one being written included. */
  maxBytes: number;
  /** Keep at least this many bytes free on the disk. */
  minFreeBytes: number;
  /** Keep at least this percentage (0..100) of the disk free. */
  minFreePercent: number;
}

/** Free and total bytes of the filesystem holding `dir`. */
export interface DiskSpace {
  freeBytes: number;
  diskBytes: number;
}

/** Measures free space (injectable in tests). */
export type DiskSpaceFn = (dir: string) => Promise<DiskSpace>;

/** statfs(2): bytes available to unprivileged users and the filesystem size. */
export const statfsDiskSpace: DiskSpaceFn = async (dir) => {
  const s = await statfs(dir);
  return { freeBytes: s.bavail * s.bsize, diskBytes: s.blocks * s.bsize };
};

/** Name of the folder (inside the recordings folder) that holds converted MP4 files. */
export const MP4_CACHE_DIR = '.mp4-cache';

/** One segment on disk. */
export interface SegmentFile {
  name: string;
  path: string;
  sizeBytes: number;
  modifiedAtMs: number;
}

/**
 * The number of the most recently written segment among `files`, judged by
 * the numbers themselves, never by modification times alone (a Pi without a
 * real-time clock may stamp a later ride 1970): with fewer files than numbers
 * in use, the newest is the end of the circular run, the used number whose
 * successor (in a cycle of `span` numbers, see segmentNumberSpan) is free.
 * Several runs (segments deleted by hand): the run end most recently
 * modified, as the device did; no run end (every number of the cycle taken):
 * the file modified last. Undefined for no files.
 */
export function newestSegmentNumber(files: readonly SegmentFile[], span = MAX_SEGMENT_NUMBER + 1): number | undefined {
  const used = new Set<number>();
  for (const f of files) used.add(parseSegmentName(f.name) as number);
  const newer = (f: SegmentFile, n: number, best: { n: number; mtimeMs: number } | undefined): boolean =>
    !best || f.modifiedAtMs > best.mtimeMs || (f.modifiedAtMs === best.mtimeMs && n > best.n);
  let best: { n: number; mtimeMs: number } | undefined;
  let latest: { n: number; mtimeMs: number } | undefined;
  for (const f of files) {
    const n = parseSegmentName(f.name) as number;
    if (newer(f, n, latest)) latest = { n, mtimeMs: f.modifiedAtMs };
    if (used.has(nextSegmentNumber(n, span))) continue;
    if (newer(f, n, best)) best = { n, mtimeMs: f.modifiedAtMs };
  }
  return (best ?? latest)?.n;
}

/**
 * Sorts segments oldest first in recording order: the numbers after
 * `newest` (mod 10000) come first, `newest` last. `newest` defaults to
 * newestSegmentNumber(files).
 */
export function orderSegments<T extends SegmentFile>(files: T[], newest = newestSegmentNumber(files)): T[] {
  if (newest === undefined) return files;
  const span = MAX_SEGMENT_NUMBER + 1;
  const age = (f: T): number => ((((parseSegmentName(f.name) as number) - newest - 1) % span) + span) % span;
  return files.sort((a, b) => age(a) - age(b));
}

/**
 * The `log%04d.mkv` files of `dir`, oldest first in recording order (see
 * orderSegments; `newest` is the number known to be the latest, e.g. the
 * recorder's last segment). Missing folder: [].
 */
export async function listSegmentFiles(dir: string, newest?: number): Promise<SegmentFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: SegmentFile[] = [];
  for (const name of names) {
    if (parseSegmentName(name) === undefined) continue;
    const path = join(dir, name);
    try {
      const s = await stat(path);
      if (s.isFile()) out.push({ name, path, sizeBytes: s.size, modifiedAtMs: s.mtimeMs });
    } catch {
      // Deleted between readdir and stat: not there any more.
    }
  }
  return newest === undefined ? orderSegments(out) : orderSegments(out, newest);
}

/**
 * The names in `dir` and its MP4 cache, read once for a batch of
 * removeSegmentFiles calls (deleting 900 segments must not read the folder 900 times).
 */
export interface FolderListing {
  names: string[];
  cached: string[];
}

/** Reads `dir` and its MP4 cache folder once; a missing folder gives empty lists. */
export async function readFolderListing(dir: string): Promise<FolderListing> {
  const [names, cached] = await Promise.all([readdir(dir).catch(() => []), withCacheFolder(dir, (f) => f.list(), [])]);
  return { names, cached };
}

/**
 * Runs `use` on the MP4 cache folder opened and checked (a real folder of
 * ours, never a link: deleting `log0001-*` through a planted link would
 * delete files elsewhere). `fallback` when it is missing or refused.
 */
async function withCacheFolder<T>(dir: string, use: (folder: PrivateFolder) => Promise<T>, fallback: T): Promise<T> {
  let folder: PrivateFolder;
  try {
    folder = await openPrivateFolder(join(dir, MP4_CACHE_DIR), (await stat(dir)).dev, { create: false });
  } catch {
    return fallback;
  }
  try {
    return await use(folder);
  } finally {
    await folder.close();
  }
}

/**
 * Deletes a segment, its thumbnail(s) and cached MP4 files. Returns the bytes
 * freed. Missing files are not an error. Pass `listing` (readFolderListing)
 * when deleting many segments, so the folder is read once, not per segment.
 */
export async function removeSegmentFiles(dir: string, name: string, listing?: FolderListing): Promise<number> {
  const stem = name.replace(/\.mkv$/, '');
  let freed = 0;
  const rm = async (path: string): Promise<void> => {
    try {
      const s = await lstat(path);
      await unlink(path);
      freed += s.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  };
  await rm(join(dir, name));
  const { names, cached } = listing ?? (await readFolderListing(dir));
  for (const n of names) if (parseThumbnailName(n)?.stem === stem) await rm(join(dir, n));
  const ours = cached.filter((n) => n.startsWith(`${stem}-`));
  if (ours.length > 0)
    await withCacheFolder(
      dir,
      async (folder) => {
        for (const n of ours) await rm(folder.ref(n));
      },
      undefined,
    );
  return freed;
}

/**
 * Deletes the thumbnails (and cached MP4s) of segments already deleted, with
 * one fresh read of the folder. `removed` maps each deleted segment name to
 * the Unix seconds its thumbnail is named with (its start). Read after the
 * segments are gone, so a thumbnail finished meanwhile is seen here (or its
 * maker sees the segment gone, thumbnails.ts). When a new segment has taken
 * the number meanwhile, only the thumbnails named with the old seconds go.
 */
export async function removeThumbnailsOf(dir: string, removed: ReadonlyMap<string, number | null>): Promise<void> {
  if (removed.size === 0) return;
  const listing = await readFolderListing(dir);
  const present = new Set(listing.names);
  const doomed = new Set<string>();
  for (const n of listing.names) {
    const t = parseThumbnailName(n);
    if (!t || !removed.has(`${t.stem}.mkv`)) continue;
    if (!present.has(`${t.stem}.mkv`) || removed.get(`${t.stem}.mkv`) === t.unixSeconds) doomed.add(n);
  }
  for (const n of doomed) await unlink(join(dir, n)).catch(ignoreMissing);
  const cached = listing.cached.filter((n) => removed.has(`${n.split('-')[0]}.mkv`));
  if (cached.length > 0)
    await withCacheFolder(
      dir,
      async (folder) => {
        for (const n of cached) await unlink(folder.ref(n)).catch(ignoreMissing);
      },
      undefined,
    );
}

/**
 * Deletes thumbnails whose segment is gone (left by an older version, or by a
 * crash between the two deletions). Returns their names.
 */
export async function removeOrphanThumbnails(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const present = new Set(names);
  const orphans = names.filter((n) => {
    const t = parseThumbnailName(n);
    return t !== undefined && !present.has(`${t.stem}.mkv`);
  });
  for (const n of orphans) await unlink(join(dir, n)).catch(ignoreMissing);
  return orphans;
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

/** Upload state of a segment: `none` = needs no upload (no archive configured). */
export type UploadState = 'none' | 'uploaded' | 'queued';

/**
 * What the retention rule needs to know about segments beyond the files
 * themselves. Protection (moments) and uploads (an archive) plug in here;
 * the defaults are "unprotected" and "needs no upload".
 */
export interface RetentionInputs {
  /** True for a segment to keep however old (within maxProtectedBytes). Default: none. */
  isProtected?: (name: string) => boolean;
  /** Default: 'none' for every segment. */
  uploadState?: (name: string) => UploadState;
  /**
   * A queued segment's place in the upload queue (0 = the oldest): queued
   * segments are deleted in this order. Names skipped while a queued segment
   * held them (the cycle of names wraps) make the names' order differ from
   * the recording order; the queue has the true one. Default: names' order.
   */
  uploadOrder?: (name: string) => number | undefined;
  /** Most bytes of protected segments honoured; older protected ones past it are deletable. Default: no cap. */
  maxProtectedBytes?: number;
}

/** Why a segment may be deleted. */
export type DeletionReason = 'done' | 'upload-queued';

/** A segment the rule allows deleting, with the tier it came from. */
export interface DeletionCandidate {
  file: SegmentFile;
  reason: DeletionReason;
  /** Protected, but past the protection cap. */
  overProtectedCap: boolean;
}

/**
 * The retention rule (see the file comment): the segments that may be deleted,
 * in the order they must be. `files` oldest first (listSegmentFiles);
 * `inProgress` names segments being written.
 */
export function deletionOrder(
  files: readonly SegmentFile[],
  inProgress: ReadonlySet<string>,
  inputs: RetentionInputs = {},
): DeletionCandidate[] {
  const isProtected = inputs.isProtected ?? (() => false);
  const uploadState = inputs.uploadState ?? (() => 'none' as const);
  const cap = inputs.maxProtectedBytes ?? Infinity;
  // The newest protected segments keep their protection up to the cap.
  const overCap = new Set<string>();
  let protectedBytes = 0;
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i] as SegmentFile;
    if (inProgress.has(f.name) || !isProtected(f.name)) continue;
    protectedBytes += f.sizeBytes;
    if (protectedBytes > cap) overCap.add(f.name);
  }
  const done: DeletionCandidate[] = [];
  const queued: DeletionCandidate[] = [];
  for (const file of files) {
    if (inProgress.has(file.name)) continue;
    const overProtectedCap = overCap.has(file.name);
    if (!overProtectedCap && isProtected(file.name)) continue;
    if (uploadState(file.name) === 'queued') queued.push({ file, reason: 'upload-queued', overProtectedCap });
    else done.push({ file, reason: 'done', overProtectedCap });
  }
  const rank = inputs.uploadOrder;
  if (rank) {
    const at = (c: DeletionCandidate): number => rank(c.file.name) ?? Number.MAX_SAFE_INTEGER;
    queued.sort((a, b) => at(a) - at(b)); // stable: ties keep the names' order
  }
  return [...done, ...queued];
}

/** What one rotation pass did. */
export interface RetentionResult {
  deleted: string[];
  freedBytes: number;
  /** Deleted although still queued for upload (tier 2). */
  deletedNotUploaded: string[];
  /** Deleted although protected, because protected data was over its cap. */
  deletedOverProtectedCap: string[];
  /** True when limits still do not hold after deleting everything allowed (only protected or in-progress files are left). */
  stillOver: boolean;
}

/** Options of {@link enforceRetention}. */
export interface RetentionOptions extends RetentionInputs {
  diskSpace?: DiskSpaceFn;
  /** Segments being written: never deleted. */
  inProgress?: ReadonlySet<string>;
  logger?: Logger;
  /** The newest segment's number (see listSegmentFiles). */
  newest?: number;
  /**
   * Free at least this many bytes even when the limits hold (the disk filled anyway,
   * e.g. another writer): room for one more segment. Default 0.
   */
  freeBytes?: number;
  /**
   * Files about to be created: the file limit must hold with them (the
   * recorder passes 1 before opening a segment, so the oldest segment, whose
   * number comes next, is rotated away first). Default 0.
   */
  reserveFiles?: number;
}

/**
 * Deletes segments of `dir` in the order of the retention rule (deletionOrder)
 * until the limits hold and `freeBytes` are freed.
 */
export async function enforceRetention(
  dir: string,
  limits: RetentionLimits,
  options: RetentionOptions = {},
): Promise<RetentionResult> {
  const diskSpace = options.diskSpace ?? statfsDiskSpace;
  const logger = options.logger ?? silentLogger;
  const files = await listSegmentFiles(dir, options.newest);
  let count = files.length;
  let total = files.reduce((n, f) => n + f.sizeBytes, 0);
  let space: DiskSpace | undefined;
  if (limits.minFreeBytes > 0 || limits.minFreePercent > 0) space = await diskSpace(dir);
  const needFree = space ? Math.max(limits.minFreeBytes, (limits.minFreePercent / 100) * space.diskBytes) : 0;
  let free = space?.freeBytes ?? Infinity;
  const mustFree = options.freeBytes ?? 0;
  const reserve = options.reserveFiles ?? 0;
  const over = (): boolean =>
    (limits.maxFiles > 0 && count + reserve > limits.maxFiles) ||
    (limits.maxBytes > 0 && total > limits.maxBytes) ||
    free < needFree;
  const result: RetentionResult = {
    deleted: [],
    freedBytes: 0,
    deletedNotUploaded: [],
    deletedOverProtectedCap: [],
    stillOver: false,
  };
  let listing: FolderListing | undefined;
  for (const { file: f, reason, overProtectedCap } of deletionOrder(files, options.inProgress ?? new Set(), options)) {
    if (!over() && result.freedBytes >= mustFree) break;
    listing ??= await readFolderListing(dir);
    const freed = await removeSegmentFiles(dir, f.name, listing);
    count--;
    total -= f.sizeBytes;
    free += freed;
    result.deleted.push(f.name);
    result.freedBytes += freed;
    if (reason === 'upload-queued') result.deletedNotUploaded.push(f.name);
    if (overProtectedCap) result.deletedOverProtectedCap.push(f.name);
  }
  result.stillOver = over() || result.freedBytes < mustFree;
  if (result.deleted.length > 0) {
    logger.info(
      `rotation: deleted ${result.deleted.length} segment(s) (${result.deleted.join(', ')}), ${result.freedBytes} bytes freed`,
    );
  }
  if (result.deletedNotUploaded.length > 0) {
    logger.warn(
      `rotation: deleted ${result.deletedNotUploaded.length} segment(s) not uploaded yet to make room: ${result.deletedNotUploaded.join(', ')}`,
    );
  }
  if (result.deletedOverProtectedCap.length > 0) {
    logger.warn(
      `rotation: protected segments over the --max-protected cap deleted: ${result.deletedOverProtectedCap.join(', ')}`,
    );
  }
  return result;
}
