/**
 * The uploader: archives each finished segment (and its thumbnail) once to
 * S3-compatible object storage, from a persisted queue (upload-queue.ts),
 * one segment at a time, oldest first. docs/recording.md ("Uploads") tells
 * the whole behaviour; in short:
 *
 * - Offline first: recording never waits for it. Network errors leave the
 *   queue as it is and retry with a backoff (1 s doubling to 5 min);
 *   `when: 'charging'` uploads only while the battery charges (the camera is
 *   then at home, on the home Wi-Fi).
 * - Bounded: at most `queueMax` segments wait; past it the oldest is dropped
 *   from the queue (logged, counted) and becomes an ordinary segment for
 *   rotation. Rotation deletes queued segments only after uploaded ones
 *   (retention.ts) and tells us (deleted()).
 * - Once: the file is hashed once (SHA-256 and MD5, whole and per part) and
 *   the hashes kept in the queue. Before anything is sent again after a
 *   restart, HEAD says whether the object is already there with our SHA-256
 *   (then it is not sent or completed again); a multipart upload resumes
 *   with the parts the server holds (ListParts, or the parts it acknowledged
 *   when the server has no ListParts).
 * - Verified: after the upload, HEAD's checksum (SHA-256, composite for
 *   multipart) or ETag (MD5) must match the local hashes; every request's
 *   body was checked by the server too (signed payload SHA-256, Content-MD5,
 *   x-amz-checksum-sha256). With `sse`, the server's answers must confirm
 *   the encryption asked for (else ERR_UPLOAD_SSE, sent again).
 * - Segments recorded before the clock was set wait until the recorder
 *   re-stamps them (their bytes change); a run that ended before that
 *   leaves them `undated` (uploaded under `CAMERA/undated/`).
 */
import { readdir } from 'node:fs/promises';
import { RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { openRecordingFile, type RecordingFile } from '../recorder/recording-file.js';
import { removeSegmentFiles, type UploadState } from '../recorder/retention.js';
import { parseProtectedName, parseThumbnailName } from '../recorder/segment-names.js';
import { RateLimit } from './rate-limit.js';
import { S3RequestError, type BodyReader, type S3Client } from './s3-client.js';
import { expectedChecksums, hashFile } from './segment-hashes.js';
import {
  MAX_UPLOADED_RECORDS,
  readQueueFile,
  setQueueFileAside,
  UPLOAD_QUEUE_FILE as UPLOAD_QUEUE_NAME,
  writeQueueFile,
  type EntryClock,
  type QueueEntry,
  type UploadedRecord,
} from './upload-queue.js';

/** A finished segment as the recorder reports it. */
export interface FinishedSegment {
  name: string;
  startedAtMs: number;
  durationMs: number;
  frames: number | null;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  /** Started while the camera's clock was not set (its start will be re-stamped). */
  provisional: boolean;
  /** Overrides what `provisional` implies: `undated` for a start that will never be re-stamped. */
  clock?: EntryClock;
}

/** When uploads may run. */
export type UploadWhen = 'charging' | 'always';

/** What the uploader is doing. */
export type UploaderState = 'starting' | 'idle' | 'uploading' | 'waiting-charging' | 'offline' | 'failing' | 'closed';

/** The last error met. */
export interface UploadError {
  code: string;
  message: string;
  atMs: number;
}

/** `status.upload` (docs/api.md). */
export interface UploaderStatus {
  state: UploaderState;
  /** Why it waits or fails, in words; null while idle or uploading. */
  reason: string | null;
  /** `s3://bucket/***`: the bucket is shown, the prefix and endpoint are not (docs/config.md). */
  target: string;
  when: UploadWhen;
  queueLength: number;
  queueBytes: number;
  /** Of the queue: segments recorded before the clock was set, waiting to be re-stamped. */
  waitingForClock: number;
  current: { name: string; sentBytes: number; sizeBytes: number } | null;
  uploaded: number;
  uploadedBytes: number;
  /** Uploads checked against the server's checksum or ETag; the rest (`uploaded - verified`) could not be checked. */
  verified: number;
  failures: number;
  lastError: UploadError | null;
  lastUploadAtMs: number | null;
  /** Dropped from a full queue (oldest first). */
  droppedQueueFull: number;
  /** Deleted (rotation, a user) before they could be uploaded. */
  deletedBeforeUpload: number;
  /** Local copies deleted after a verified upload (`--upload-then-delete`). */
  deletedAfterUpload: number;
  rateBytesPerSecond: number;
}

/** Options of {@link Uploader}. */
export interface UploaderOptions {
  /** The recordings folder (the queue file lives there). */
  dir: string;
  client: S3Client;
  /** `s3://bucket/***` for the status. */
  target: string;
  /** Key prefix, '' or ending in '/'. */
  prefix: string;
  cameraName: string;
  /** Multipart part size (and the size above which multipart is used), bytes. Default 8 MiB. */
  partBytes?: number;
  /** Upload bandwidth cap, bytes per second; 0 = none. */
  rateBytesPerSecond?: number;
  when?: UploadWhen;
  /** Charging or not (null: unknown, counted as not charging). */
  isCharging?: () => Promise<boolean | null>;
  /** Delete local copies after a verified upload. */
  thenDelete?: boolean;
  /** A moment keeps this segment: never deleted by thenDelete. */
  isProtected?: (name: string) => boolean;
  /**
   * Resolves once the thumbnail of segment `name` is made, failed or dropped
   * (the recorder's thumbnail maker): awaited before a segment's thumbnail
   * is looked for, so none is made after its segment went up.
   */
  thumbnailSettled?: (name: string) => Promise<void>;
  /**
   * Set when uploads cannot work at all (credentials or CA file refused at
   * start): nothing is sent, the status says `failing` with this reason, the
   * queue still fills (and waits for a restart with the problem fixed).
   */
  unusable?: { code: string; message: string } | undefined;
  /** Most segments queued. Default 1000. */
  queueMax?: number;
  /** Server-side encryption header value. */
  sse?: 'AES256' | 'aws:kms' | undefined;
  /** This daemon run (to tell its own not-yet-re-stamped segments from earlier runs'). */
  runId: string;
  /** Wall clock for status times. Default Date.now. */
  now?: () => number;
  /** Backoff after a failure: first and largest delay. Defaults 1000 and 300000 ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How often the charging state is read while waiting for it. Default 10000 ms. */
  chargingPollMs?: number;
  logger?: Logger;
}

/** Default part size: 8 MiB (S3's minimum is 5 MiB; a 60 MB segment is 8 parts). */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/**
 * The uploader's I/O buffer: files are read (hashed, sent) 1 MiB at a time.
 * Large pieces matter more than the buffer: each piece costs a few promises
 * and views, and 64 KiB pieces made V8 grow its young generation by about
 * 8 MB during a 60 MB upload (docs/recording.md, "Figures").
 */
const IO_BUFFER_BYTES = 1024 * 1024;

/** Largest thumbnail uploaded (ours are tens of KB). */
const MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024;

/** Uploads finished segments; see the file comment. */
export class Uploader {
  private entries: QueueEntry[] = [];
  private rankOf: { list: QueueEntry[]; length: number; map: Map<string, number> } | undefined;
  private uploaded = new Map<string, UploadedRecord>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly partBytes: number;
  private readonly rate: RateLimit;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private retryDelayMs: number;
  private readonly abort = new AbortController();
  private closed = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private saving: Promise<void> = Promise.resolve();
  private saveQueued = false;
  private lastLoggedErrorCode: string | undefined;
  private readonly st: UploaderStatus;
  private readonly listeners = new Set<(status: UploaderStatus) => void>();

  constructor(private readonly options: UploaderOptions) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
    this.rate = new RateLimit(options.rateBytesPerSecond ?? 0);
    this.retryMinMs = options.retryMinMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 300_000;
    this.retryDelayMs = this.retryMinMs;
    this.st = {
      state: 'starting',
      reason: null,
      target: options.target,
      when: options.when ?? 'charging',
      queueLength: 0,
      queueBytes: 0,
      waitingForClock: 0,
      current: null,
      uploaded: 0,
      uploadedBytes: 0,
      verified: 0,
      failures: 0,
      lastError: null,
      lastUploadAtMs: null,
      droppedQueueFull: 0,
      deletedBeforeUpload: 0,
      deletedAfterUpload: 0,
      rateBytesPerSecond: options.rateBytesPerSecond ?? 0,
    };
  }

  /** A snapshot of the status. */
  get status(): UploaderStatus {
    let bytes = 0;
    let waiting = 0;
    for (const e of this.entries) {
      bytes += e.sizeBytes;
      if (e.clock === 'waiting') waiting++;
    }
    return {
      ...this.st,
      queueLength: this.entries.length,
      queueBytes: bytes,
      waitingForClock: waiting,
      current: this.st.current ? { ...this.st.current } : null,
      lastError: this.st.lastError ? { ...this.st.lastError } : null,
    };
  }

  /** For the retention rule: queued segments are deleted only after uploaded ones. */
  uploadState(name: string): UploadState {
    if (this.ranks().has(name)) return 'queued';
    return this.uploaded.has(name) ? 'uploaded' : 'none';
  }

  /** For the retention rule: a queued segment's place in the queue (0 = the oldest, recorded first). */
  queuePosition(name: string): number | undefined {
    return this.ranks().get(name);
  }

  /** Name to queue position, built once per change of the queue (rotation asks for every segment). */
  private ranks(): Map<string, number> {
    if (this.rankOf?.list !== this.entries || this.rankOf.length !== this.entries.length) {
      this.rankOf = {
        list: this.entries,
        length: this.entries.length,
        map: new Map(this.entries.map((e, i) => [e.name, i])),
      };
    }
    return this.rankOf.map;
  }

  /** Loads the persisted queue (earlier runs' segments waiting for the clock become undated) and starts uploading. */
  async start(): Promise<void> {
    try {
      const doc = await readQueueFile(this.options.dir);
      this.entries = doc.entries;
      for (const r of doc.uploaded) this.uploaded.set(r.name, r);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.error(
          `upload queue ${UPLOAD_QUEUE_NAME} could not be read (${(err as Error).message}): set aside as ${UPLOAD_QUEUE_NAME}.bad, starting with an empty queue`,
        );
        await setQueueFileAside(this.options.dir);
      }
    }
    let undated = 0;
    for (const e of this.entries) {
      if (e.clock === 'waiting' && e.runId !== this.options.runId) {
        e.clock = 'undated';
        undated++;
      }
    }
    if (undated > 0)
      this.logger.warn(
        `${undated} queued segment(s) were recorded before the clock was set in an earlier run and can no longer be re-stamped: uploading them under undated/`,
      );
    if (this.entries.length > 0)
      this.logger.info(`upload queue: ${this.entries.length} segment(s) waiting from an earlier run`);
    this.st.state = 'idle';
    const unusable = this.options.unusable;
    if (unusable) {
      this.st.lastError = { code: unusable.code, message: unusable.message, atMs: this.now() };
      this.setState('failing', unusable.message);
    }
    this.loop = this.run();
  }

  /** Stops: the request in flight is aborted (it resumes at the next start), the queue is saved. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.loop;
    this.closed = true;
    this.abort.abort();
    this.wake();
    await this.loop;
    await this.save();
    this.options.client.close();
    this.st.state = 'closed';
  }

  /** Queues a finished segment (a segment of the same name queued or uploaded before is replaced: the numbers cycle). */
  enqueue(seg: FinishedSegment): void {
    if (this.closed) return;
    this.entries = this.entries.filter((e) => e.name !== seg.name);
    this.uploaded.delete(seg.name);
    this.entries.push({
      name: seg.name,
      queuedAtMs: this.now(),
      sizeBytes: seg.sizeBytes,
      startedAtMs: seg.startedAtMs,
      durationMs: seg.durationMs,
      frames: seg.frames,
      width: seg.width,
      height: seg.height,
      clock: seg.clock ?? (seg.provisional ? 'waiting' : 'valid'),
      runId: this.options.runId,
      attempts: 0,
    });
    const max = this.options.queueMax ?? 1000;
    while (this.entries.length > max) {
      // Oldest first (one being uploaded now still finishes, and is then recorded as uploaded).
      const [dropped] = this.entries.splice(0, 1);
      this.st.droppedQueueFull++;
      this.logger.warn(
        `upload queue full (${max} segments): ${dropped?.name} dropped from the queue, it will not be uploaded`,
      );
    }
    void this.save();
    this.wake();
    this.notify();
  }

  /** The recorder re-stamped a segment recorded before the clock was set: its true start. */
  restamped(name: string, startedAtMs: number): void {
    const e = this.entries.find((x) => x.name === name && x.clock === 'waiting');
    if (!e) return;
    e.startedAtMs = startedAtMs;
    e.clock = 'valid';
    e.hashes = undefined; // its bytes changed (DateUTC)
    void this.save();
    this.wake();
  }

  /**
   * A segment left the ring under a new name (a moment keeps it): its queue
   * entry and uploaded record follow it. Its object key stays the one of its
   * ring name (keyFor drops the protected suffix), so an upload under way or
   * done is not repeated under another key.
   */
  renamed(from: string, to: string): void {
    let changed = false;
    for (const e of this.entries) {
      if (e.name !== from) continue;
      e.name = to;
      changed = true;
    }
    const record = this.uploaded.get(from);
    if (record) {
      this.uploaded.delete(from);
      this.uploaded.set(to, { ...record, name: to });
      changed = true;
    }
    if (this.st.current?.name === from) this.st.current.name = to;
    if (changed) void this.save();
  }

  /** Segments deleted (rotation, a user): they leave the queue and the uploaded record. */
  deleted(names: readonly string[]): void {
    let changed = false;
    for (const name of names) {
      const before = this.entries.length;
      this.entries = this.entries.filter((e) => e.name !== name);
      if (this.entries.length < before) {
        this.st.deletedBeforeUpload++;
        changed = true;
      }
      if (this.uploaded.delete(name)) changed = true;
    }
    if (changed) void this.save();
  }

  /** Calls `listener` after every change of the status (state, an upload done, a failure). Returns the unsubscribe. */
  onChange(listener: (status: UploaderStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once `predicate(status)` holds (checked now and after every change). */
  waitFor(predicate: (status: UploaderStatus) => boolean): Promise<UploaderStatus> {
    return new Promise((resolve) => {
      const check = (s: UploaderStatus): boolean => {
        if (!predicate(s)) return false;
        off();
        resolve(s);
        return true;
      };
      const off = this.onChange(check);
      check(this.status);
    });
  }

  private notify(): void {
    if (this.listeners.size === 0) return;
    const s = this.status;
    for (const l of [...this.listeners]) l(s);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Waits `ms` or until woken (a new segment, close). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const unusable = this.options.unusable;
      if (unusable) {
        this.setState('failing', unusable.message);
        await this.sleep(3_600_000);
        continue;
      }
      const entry = this.entries.find((e) => e.clock !== 'waiting');
      if (!entry) {
        this.setState(
          'idle',
          this.entries.length > 0 ? 'queued segments wait for the clock to be set (re-stamp)' : null,
        );
        await this.sleep(3_600_000);
        continue;
      }
      if (this.st.when === 'charging') {
        const charging = await this.options.isCharging?.().catch(() => null);
        if (charging !== true) {
          this.setState(
            'waiting-charging',
            charging === null || charging === undefined
              ? 'waiting to charge (charging state unknown)'
              : 'waiting to charge (uploads run while charging: --upload-when charging)',
          );
          await this.sleep(this.options.chargingPollMs ?? 10_000);
          continue;
        }
      }
      try {
        this.setState('uploading', null);
        await this.uploadEntry(entry);
        this.retryDelayMs = this.retryMinMs;
        if (this.lastLoggedErrorCode) this.logger.info('uploading again');
        this.lastLoggedErrorCode = undefined;
      } catch (err) {
        if (this.closed) break;
        this.failed(entry, err);
        await this.sleep(this.retryDelayMs);
        this.retryDelayMs = Math.min(this.retryMaxMs, this.retryDelayMs * 2);
      } finally {
        this.st.current = null;
      }
    }
  }

  private setState(state: UploaderState, reason: string | null): void {
    const changed = this.st.state !== state || this.st.reason !== reason;
    this.st.state = state;
    this.st.reason = reason;
    if (changed) this.notify();
  }

  private failed(entry: QueueEntry, err: unknown): void {
    const e = err as Partial<S3RequestError> & Error;
    const code = e instanceof S3RequestError ? (e.s3Code ?? e.errno ?? `HTTP_${e.status}`) : (e.code ?? 'ERR_UPLOAD');
    const network = e instanceof S3RequestError && e.isNetwork;
    const hint =
      e instanceof S3RequestError && e.isAuth
        ? ' (check the credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or uploadCredentialsFile, and the bucket policy)'
        : '';
    const message = `${entry.name}: ${e.message}${hint}`;
    this.st.failures++;
    entry.attempts++;
    this.st.lastError = { code: String(code), message, atMs: this.now() };
    this.setState(network ? 'offline' : 'failing', network ? `endpoint unreachable: ${e.message}` : message);
    const line = `upload failed: ${message}; retrying in ${Math.round(this.retryDelayMs / 1000)} s`;
    if (this.lastLoggedErrorCode !== code) this.logger.warn(line);
    else this.logger.debug(line);
    this.lastLoggedErrorCode = String(code);
    void this.save();
    this.notify();
  }

  /** Uploads one queued segment end to end; throws to retry later. */
  private async uploadEntry(entry: QueueEntry): Promise<void> {
    const signal = this.abort.signal;
    // One buffer for every read of this segment: hashing, thumbnail, request bodies. Not pooled
    // (allocUnsafeSlow): its pages cost memory only once used, and it goes with the attempt.
    const io = Buffer.allocUnsafeSlow(IO_BUFFER_BYTES);
    const client = this.options.client;
    let file: RecordingFile;
    try {
      file = await openRecordingFile(this.options.dir, entry.name);
    } catch (err) {
      if (err instanceof RearviewError && (err.code === 'ERR_NOT_FOUND' || err.code === 'ERR_PATH_OUTSIDE')) {
        // Gone (deleted by hand, rotation we were not told of) or replaced by something we must not read.
        this.removeEntry(entry);
        this.st.deletedBeforeUpload++;
        this.logger.warn(`${entry.name} is no longer uploadable (${err.message}): dropped from the upload queue`);
        await this.save();
        return;
      }
      throw err;
    }
    try {
      const s = file.stats;
      const h = entry.hashes;
      if (!h || h.size !== s.size || h.ino !== s.ino || h.mtimeMs !== s.mtimeMs || h.partBytes !== this.partBytes) {
        if (entry.multipart) await this.abandonMultipart(entry);
        entry.sent = false;
        const hashes = await hashFile(file.handle, s.size, this.partBytes, io);
        entry.hashes = { ...hashes, ino: s.ino, mtimeMs: s.mtimeMs };
        entry.sizeBytes = s.size;
        await this.save();
      }
      const hashes = entry.hashes as NonNullable<QueueEntry['hashes']>;
      entry.key ??= this.keyFor(entry);
      const key = entry.key;
      this.st.current = { name: entry.name, sentBytes: 0, sizeBytes: hashes.size };
      if (!entry.thumbnailDone) {
        await this.uploadThumbnail(entry, signal, io);
        entry.thumbnailDone = true;
        await this.save();
      }
      // Already there with our bytes (a run that died after completing): never sent or completed twice.
      // Not when it is not encrypted as asked: then it is sent again.
      const existing = await client.head(key, signal);
      const found =
        existing && existing.metadata.sha256 === hashes.sha256Hex && !this.sseProblem(existing.sse)
          ? this.compare(existing, hashes)
          : null;
      let verified = found && 'verified' in found ? found.verified : null;
      if (verified === null) {
        if (hashes.size <= this.partBytes) {
          entry.sent = true;
          await this.save();
          const answer = await client.put(
            key,
            this.body(file, 0),
            hashes.size,
            hashes,
            this.headers(entry),
            signal,
            this.pace,
            this.pieceOf(io),
          );
          await this.checkSse(entry, key, answer.sse);
        } else {
          await this.uploadMultipart(entry, file, key, signal, io);
        }
        const head = await client.head(key, signal);
        const stored = head
          ? this.compare(head, hashes)
          : { mismatch: 'there is no object under its key after the upload' };
        if ('mismatch' in stored) {
          entry.sent = false;
          entry.multipart = undefined;
          await this.save();
          throw new RearviewError(
            'ERR_UPLOAD_VERIFY',
            `${key}: the stored object does not match the local file: ${stored.mismatch}; the local copy is kept, uploading again`,
          );
        }
        await this.checkSse(entry, key, head?.sse ?? null);
        verified = stored.verified;
      }
      this.finishEntry(entry, key, hashes, verified);
      await this.save();
      if (this.options.thenDelete && verified !== 'none') await this.deleteLocal(entry.name, file);
    } finally {
      await file.close();
    }
  }

  /**
   * The stored object against the local hashes: `sha256`/`md5` when it is
   * ours, `none` when there is nothing to compare with (size and our
   * metadata match), or what differs, in words (both values).
   */
  private compare(
    head: NonNullable<Awaited<ReturnType<S3Client['head']>>>,
    hashes: NonNullable<QueueEntry['hashes']>,
  ): { verified: UploadedRecord['verified'] } | { mismatch: string } {
    if (head.size !== hashes.size)
      return { mismatch: `its size is ${head.size} bytes, the local file's ${hashes.size} bytes` };
    const expected = expectedChecksums(hashes);
    if (head.checksumSha256)
      return expected.checksumSha256.includes(head.checksumSha256)
        ? { verified: 'sha256' }
        : {
            mismatch: `its SHA-256 checksum is ${head.checksumSha256}, the local file's is ${expected.checksumSha256[0]}`,
          };
    if (head.etag && /^[0-9a-f]{32}(-\d+)?$/.test(head.etag))
      return expected.etag.includes(head.etag)
        ? { verified: 'md5' }
        : { mismatch: `its ETag (MD5) is ${head.etag}, the local file's is ${expected.etag[0]}` };
    return { verified: 'none' };
  }

  /** What is wrong with the encryption the server answered (null: nothing asked, or what was asked). */
  private sseProblem(answered: string | null): string | null {
    const asked = this.options.sse;
    if (!asked || answered === asked) return null;
    return `server-side encryption ${asked} was asked for, the server answered ${answered ?? 'no x-amz-server-side-encryption header'}`;
  }

  /** Throws ERR_UPLOAD_SSE (the entry to be sent again) when the server's answer does not confirm the encryption asked for. */
  private async checkSse(entry: QueueEntry, key: string, answered: string | null): Promise<void> {
    const problem = this.sseProblem(answered);
    if (!problem) return;
    entry.sent = false;
    entry.multipart = undefined;
    await this.save();
    throw new RearviewError(
      'ERR_UPLOAD_SSE',
      `${key}: ${problem}: the object is not known to be stored encrypted; the local copy is kept, uploading again`,
    );
  }

  private finishEntry(
    entry: QueueEntry,
    key: string,
    hashes: NonNullable<QueueEntry['hashes']>,
    verified: UploadedRecord['verified'],
  ): void {
    this.removeEntry(entry);
    this.uploaded.set(entry.name, {
      name: entry.name,
      key,
      sizeBytes: hashes.size,
      sha256Hex: hashes.sha256Hex,
      verified,
      atMs: this.now(),
    });
    while (this.uploaded.size > MAX_UPLOADED_RECORDS) this.uploaded.delete(this.uploaded.keys().next().value as string);
    this.st.uploaded++;
    this.st.uploadedBytes += hashes.size;
    if (verified !== 'none') this.st.verified++;
    this.st.lastUploadAtMs = this.now();
    this.notify();
    this.logger.info(
      `uploaded ${entry.name} to ${key} (${hashes.size} bytes, ${verified === 'none' ? 'not verifiable: the server gives no checksum or MD5 ETag' : `verified by ${verified === 'sha256' ? 'SHA-256 checksum' : 'MD5 ETag'}`})`,
    );
  }

  private removeEntry(entry: QueueEntry): void {
    this.entries = this.entries.filter((e) => e !== entry);
  }

  /** `--upload-then-delete`: the segment, its thumbnail and cached MP4s, when the file is still the one uploaded. */
  private async deleteLocal(name: string, file: RecordingFile): Promise<void> {
    // A moment's segment stays on the camera: the rider asked to keep it there.
    if (parseProtectedName(name) || this.options.isProtected?.(name)) {
      this.logger.info(`kept ${name} after its upload: a moment keeps it`);
      return;
    }
    try {
      const now = await openRecordingFile(this.options.dir, name);
      const same =
        now.stats.ino === file.stats.ino &&
        now.stats.size === file.stats.size &&
        now.stats.mtimeMs === file.stats.mtimeMs;
      await now.close();
      if (!same) return;
      await removeSegmentFiles(this.options.dir, name);
      this.uploaded.delete(name);
      this.st.deletedAfterUpload++;
      this.logger.info(`deleted local copy of ${name} after a verified upload`);
    } catch (err) {
      this.logger.warn(`could not delete ${name} after upload: ${(err as Error).message}`);
    }
  }

  /** The piece of the I/O buffer a body is written in: under a bandwidth cap at most a quarter second's worth. */
  private pieceOf(io: Buffer): Buffer {
    const rate = this.rate.bytesPerSecond;
    return rate > 0 ? io.subarray(0, Math.max(16 * 1024, Math.min(io.length, Math.floor(rate / 4)))) : io;
  }

  /** Reads the open file from `start` (a part's offset) into the client's buffer. */
  private body(file: RecordingFile, start: number): BodyReader {
    return async (buf, at) => (await file.handle.read(buf, 0, buf.length, start + at)).bytesRead;
  }

  /** Before each piece of a body: the bandwidth cap, and the progress count. */
  private readonly pace = async (bytes: number): Promise<void> => {
    await this.rate.wait(bytes);
    if (this.st.current) this.st.current.sentBytes += bytes;
    this.notify();
  };

  /** Object metadata and options of a segment's PutObject / CreateMultipartUpload. */
  private headers(entry: QueueEntry): Record<string, string> {
    const h = entry.hashes as NonNullable<QueueEntry['hashes']>;
    const out: Record<string, string> = {
      'content-type': 'video/x-matroska',
      'x-amz-meta-camera': this.options.cameraName,
      'x-amz-meta-start': new Date(entry.startedAtMs).toISOString(),
      'x-amz-meta-end': new Date(entry.startedAtMs + entry.durationMs).toISOString(),
      'x-amz-meta-duration-ms': String(Math.round(entry.durationMs)),
      'x-amz-meta-sha256': h.sha256Hex,
      'x-amz-meta-clock': entry.clock === 'valid' ? 'valid' : 'provisional',
    };
    if (entry.frames !== null) out['x-amz-meta-frames'] = String(entry.frames);
    if (entry.width !== null && entry.height !== null) out['x-amz-meta-resolution'] = `${entry.width}x${entry.height}`;
    if (this.options.sse) out['x-amz-server-side-encryption'] = this.options.sse;
    return out;
  }

  /** `PREFIX/CAMERA/YYYY/MM/DD/log0001_<start unix>.mkv` (UTC), or `PREFIX/CAMERA/undated/...`. */
  private keyFor(entry: QueueEntry): string {
    // A segment a moment kept (log0042-<s>.mkv) keeps the key of its ring name (log0042).
    const stem = entry.name.replace(/\.mkv$/, '').replace(/-\d+$/, '');
    const seconds = Math.floor(entry.startedAtMs / 1000);
    const base = `${this.options.prefix}${this.options.cameraName}/`;
    if (entry.clock !== 'valid') return `${base}undated/${stem}_${seconds}.mkv`;
    const d = new Date(entry.startedAtMs);
    const p2 = (n: number): string => String(n).padStart(2, '0');
    return `${base}${d.getUTCFullYear()}/${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${stem}_${seconds}.mkv`;
  }

  /** The segment's thumbnail (`log0001_<s>.jpg`, the newest when several), beside the segment's key. Skipped when there is none. */
  private async uploadThumbnail(entry: QueueEntry, signal: AbortSignal, io: Buffer): Promise<void> {
    const settled = this.options.thumbnailSettled?.(entry.name);
    if (settled) {
      // Its thumbnail may still be in the making (a slow decoder, a short segment): wait for it.
      let onAbort: (() => void) | undefined;
      await Promise.race([
        settled,
        new Promise<void>((resolve) => {
          onAbort = resolve;
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
      if (onAbort) signal.removeEventListener('abort', onAbort);
      if (signal.aborted) throw new RearviewError('ERR_UPLOAD', 'closing');
    }
    const stem = entry.name.replace(/\.mkv$/, '');
    const names = (await readdir(this.options.dir).catch(() => [] as string[]))
      .filter((n) => parseThumbnailName(n)?.stem === stem)
      .sort((a, b) => (parseThumbnailName(b)?.unixSeconds ?? 0) - (parseThumbnailName(a)?.unixSeconds ?? 0));
    const name = names[0];
    if (!name) return;
    let thumb: RecordingFile;
    try {
      thumb = await openRecordingFile(this.options.dir, name);
    } catch {
      return; // deleted or refused meanwhile: no thumbnail to upload
    }
    try {
      if (thumb.size === 0 || thumb.size > MAX_THUMBNAIL_BYTES) return;
      const hashes = await hashFile(thumb.handle, thumb.size, thumb.size, io);
      const key = (entry.key as string).replace(/\.mkv$/, '.jpg');
      const existing = await this.options.client.head(key, signal);
      if (
        existing &&
        existing.size === thumb.size &&
        existing.metadata.sha256 === hashes.sha256Hex &&
        !this.sseProblem(existing.sse)
      )
        return;
      const headers: Record<string, string> = {
        'content-type': 'image/jpeg',
        'x-amz-meta-camera': this.options.cameraName,
        'x-amz-meta-segment': entry.name,
        'x-amz-meta-sha256': hashes.sha256Hex,
      };
      if (this.options.sse) headers['x-amz-server-side-encryption'] = this.options.sse;
      const answer = await this.options.client.put(
        key,
        this.body(thumb, 0),
        thumb.size,
        hashes,
        headers,
        signal,
        undefined,
        io,
      );
      const problem = this.sseProblem(answer.sse);
      if (problem)
        throw new RearviewError(
          'ERR_UPLOAD_SSE',
          `${key}: ${problem}: the thumbnail is not known to be stored encrypted; uploading again`,
        );
    } finally {
      await thumb.close();
    }
  }

  /** Multipart: create (or resume) the upload, send the parts the server lacks, complete once. */
  private async uploadMultipart(
    entry: QueueEntry,
    file: RecordingFile,
    key: string,
    signal: AbortSignal,
    io: Buffer,
  ): Promise<void> {
    const client = this.options.client;
    const hashes = entry.hashes as NonNullable<QueueEntry['hashes']>;
    if (entry.multipart && entry.multipart.key !== key) await this.abandonMultipart(entry);
    let held = new Map<number, string>();
    if (entry.multipart) {
      const listed = await client.listParts(key, entry.multipart.uploadId, signal);
      if (listed === null) {
        // The upload is gone (completed in a run that died before saving it, or aborted): HEAD decided above.
        entry.multipart = undefined;
      } else if (listed === 'unsupported') {
        // No ListParts (s3rver): the parts the server acknowledged, as saved.
        for (const p of entry.multipart.done) held.set(p.partNumber, p.etag);
      } else {
        for (const p of listed) {
          const want = hashes.parts[p.partNumber - 1];
          const b64 = want ? Buffer.from(want.sha256Hex, 'hex').toString('base64') : '';
          if (want && p.size === want.size && (p.checksumSha256 === b64 || p.etag === want.md5Hex))
            held.set(p.partNumber, p.etag);
        }
      }
    }
    if (!entry.multipart) {
      const { uploadId, sse } = await client.createMultipart(
        key,
        { ...this.headers(entry), 'x-amz-checksum-algorithm': 'SHA256' },
        signal,
      );
      const problem = this.sseProblem(sse);
      if (problem) {
        // Not one part to an upload the server will not encrypt as asked.
        await client.abortMultipart(key, uploadId, signal).catch((err: unknown) => {
          this.logger.debug(`aborting multipart upload of ${entry.name}: ${(err as Error).message}`);
        });
        await this.checkSse(entry, `${key} (CreateMultipartUpload)`, sse);
      }
      entry.multipart = { uploadId, key, done: [] };
      held = new Map();
      await this.save();
    }
    const mp = entry.multipart;
    mp.done = mp.done.filter((p) => held.get(p.partNumber) === p.etag);
    let offset = 0;
    const done: { partNumber: number; etag: string; checksumSha256: string }[] = [];
    for (let i = 0; i < hashes.parts.length; i++) {
      const part = hashes.parts[i] as (typeof hashes.parts)[number];
      const partNumber = i + 1;
      let etag = held.get(partNumber);
      if (etag === undefined) {
        const start = offset;
        etag = await client.uploadPart(
          key,
          mp.uploadId,
          partNumber,
          this.body(file, start),
          part.size,
          part,
          signal,
          this.pace,
          this.pieceOf(io),
        );
        mp.done.push({ partNumber, etag });
        await this.save();
      } else if (this.st.current) {
        this.st.current.sentBytes += part.size;
      }
      done.push({ partNumber, etag, checksumSha256: Buffer.from(part.sha256Hex, 'hex').toString('base64') });
      offset += part.size;
    }
    entry.sent = true;
    await this.save();
    try {
      await client.completeMultipart(key, mp.uploadId, done, signal);
    } catch (err) {
      // A part the server lost (restarted without it) or refused: start the upload again from scratch next time.
      if (err instanceof S3RequestError && (err.s3Code === 'NoSuchUpload' || err.s3Code === 'InvalidPart')) {
        // After InvalidPart the upload still exists: abort it, or S3 keeps (and bills) its parts.
        if (err.s3Code === 'InvalidPart') await this.abandonMultipart(entry);
        entry.multipart = undefined;
        entry.sent = false;
        await this.save();
      }
      throw err;
    }
    entry.multipart = undefined;
  }

  /** Aborts a multipart upload that can no longer be used (the file changed); failures only logged. */
  private async abandonMultipart(entry: QueueEntry): Promise<void> {
    const mp = entry.multipart;
    entry.multipart = undefined;
    if (!mp) return;
    await this.options.client.abortMultipart(mp.key, mp.uploadId, this.abort.signal).catch((err: unknown) => {
      this.logger.debug(`aborting the old multipart upload of ${entry.name}: ${(err as Error).message}`);
    });
  }

  /** Saves the queue (coalesced: one write in flight, one more queued at most). */
  private save(): Promise<void> {
    if (this.saveQueued) return this.saving;
    this.saveQueued = true;
    this.saving = this.saving.then(async () => {
      this.saveQueued = false;
      try {
        await writeQueueFile(this.options.dir, {
          version: 1,
          entries: this.entries,
          uploaded: [...this.uploaded.values()],
        });
      } catch (err) {
        this.logger.error(`cannot save the upload queue: ${(err as Error).message}`);
      }
    });
    return this.saving;
  }
}
