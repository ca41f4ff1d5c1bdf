/**
 * The recorder: one more reader of the stream hub, writing 1-minute (by
 * default) Matroska segments `log%04d.mkv` into the recordings folder, with
 * a thumbnail per segment and rotation of old segments.
 *
 * Never stalls the live stream: the hub never waits for its readers, and the
 * recorder's reader has a bounded queue. When the disk is slow the reader
 * drops to the next keyframe (counted, logged); when writing fails (ENOSPC,
 * read-only filesystem, folder deleted underneath) the error is logged and
 * kept in `status`, the segment is closed as it is, and recording resumes at
 * a keyframe after a backoff (1 s doubling to 30 s). A full disk (ENOSPC) on
 * any write path makes room first (the retention rule, retention.ts) and
 * retries at once.
 *
 * Crash safety: see SegmentWriter (append-only, unbuffered) and docs/recording.md.
 * A marker file names the segment being written, and at start-up a segment
 * left unfinished by a crash is repaired (crash-recovery.ts). Numbering
 * continues after the last segment opened (segment-numbering.ts). Opening a
 * segment never deletes or truncates a file (a taken number is skipped);
 * only rotation deletes.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { RearviewError } from '../errors.js';
import type { HubReaderOptions } from '../hub/hub-reader.js';
import type { StreamFrame, StreamParams } from '../hub/stream-frame.js';
import type { Logger } from '../log/logger.js';
import { RateLimitedCounter, silentLogger } from '../log/logger.js';
import {
  recoverUnfinishedSegments,
  removeRecordingMarker,
  repairCutSegment,
  sweepTempFiles,
  writeRecordingMarker,
} from './crash-recovery.js';
import {
  enforceRetention,
  listSegmentFiles,
  removeOrphanThumbnails,
  statfsDiskSpace,
  type DiskSpaceFn,
  type RetentionInputs,
  type RetentionLimits,
  type RetentionResult,
} from './retention.js';
import { SegmentWriter, type SegmentSummary } from './segment-writer.js';
import {
  MAX_SEGMENT_NUMBER,
  nextSegmentNumber,
  segmentName,
  segmentNumberSpan,
  thumbnailName,
} from './segment-names.js';
import { lastSegmentNumber, saveLastSegment } from './segment-numbering.js';
import { ThumbnailMaker } from './thumbnails.js';
import { restampSegment } from './segment-restamp.js';
import { makeDirectory } from '../util/make-directory.js';
import type { CameraClock } from '../util/camera-clock.js';

/** What the recorder needs of the camera's clock: whether capture times are provisional, and when they become true. */
export type RecorderClock = Pick<CameraClock, 'isSet' | 'isProvisional' | 'corrected' | 'onChange'>;

/** The part of a hub reader the recorder uses (StreamHub's HubReader has it). */
export interface RecorderReader {
  read(): StreamFrame | undefined;
  onReadable(cb: () => void): void;
  onStalled(cb: () => void): void;
  readonly stats: { framesDropped: number; dropEvents: number; queuedFrames: number };
  /** Same as stats.dropEvents without building the stats object (read per frame). */
  readonly dropEventCount: number;
  close(): void;
}

/** The part of the stream hub the recorder uses (StreamHub has it). */
export interface RecorderHub {
  addReader(options: HubReaderOptions): RecorderReader;
}

/** Options of {@link Recorder}. Defaults follow defaultConfig(). */
export interface RecorderOptions {
  hub: RecorderHub;
  /** Recordings folder (created if missing). */
  dir: string;
  /** Cut at the first keyframe once a segment is this long. Default 60000 ms. */
  segmentMs?: number;
  /** Rotation limits. Default 900 files, no byte limit, 500 MB and 5 % free. */
  limits?: Partial<RetentionLimits>;
  /** Free-space probe. Default statfs. */
  diskSpace?: DiskSpaceFn;
  /** Protection and upload state of segments for the retention rule. Default: unprotected, needing no upload. */
  retention?: Pick<RetentionInputs, 'isProtected' | 'uploadState' | 'uploadOrder'>;
  /** Most space protected segments keep their protection in: bytes or a percentage of the disk. Default 25 %. */
  maxProtected?: { bytes: number } | { percent: number };
  /** Thumbnail maker; `false` for none. Default a new ThumbnailMaker. */
  thumbnails?: ThumbnailMaker | false;
  /** Reader queue bounds: past them the recorder skips to the next keyframe. Defaults 16 MB and 3000 ms. */
  queueLimitBytes?: number;
  queueLimitMs?: number;
  /** First and largest retry delay after a write error. Defaults 1000 and 30000 ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Rotation is also checked this often while a segment is written. Default 10000 ms; 0 turns it off. */
  retentionIntervalMs?: number;
  /** Wall clock for status times, ms since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * The camera's clock (the one the capture times come from). Segments
   * started while it is not set are re-stamped when it is (docs/recording.md,
   * "The clock"). Default: none, capture times are taken as they are.
   */
  clock?: RecorderClock;
  /**
   * Told of every segment finished (sealed) and of its true start once
   * re-stamped, and of segments rotation deleted: the uploader's queue
   * (src/upload). Called synchronously; must not throw.
   */
  events?: RecorderEvents;
  /** Told when a segment opens and when it is finished (sealed, or cut and repaired): the moments use it. */
  segmentEvents?: RecorderSegmentEvents;
  logger?: Logger;
}

/** A segment the recorder finished. */
export interface FinishedSegmentInfo {
  name: string;
  /** Capture time of its first frame (provisional when `provisional`), ms since the epoch. */
  startedAtMs: number;
  durationMs: number;
  frames: number;
  sizeBytes: number;
  width: number;
  height: number;
  /** Started before the camera's clock was set: re-stamped (onSegmentRestamped) when it is. */
  provisional: boolean;
}

/** What the recorder tells about its segments (RecorderOptions.events). */
export interface RecorderEvents {
  onSegmentFinished?(segment: FinishedSegmentInfo): void;
  onSegmentRestamped?(name: string, startedAtMs: number): void;
  onSegmentsDeleted?(names: readonly string[]): void;
  /** A finished segment left the ring under a new name: a moment keeps it (told by the moments, src/recorder/moment-store.ts). */
  onSegmentRenamed?(from: string, to: string): void;
}

/** Segment lifecycle callbacks (must not throw; called synchronously). */
export interface RecorderSegmentEvents {
  opened(name: string, startedAtMs: number): void;
  finished(name: string): void;
}

/** The last error the recorder met. */
export interface RecorderError {
  /** ENOSPC, EROFS, ENOENT, EACCES, ... or a RearviewError code. */
  code: string;
  message: string;
  atMs: number;
}

/** What the recorder is doing (for the status API and logs). */
export interface RecorderStatus {
  /** starting; waiting (for a keyframe); recording; retrying (after an error, until retryAtMs); paused (pause()); closed. */
  state: 'starting' | 'waiting' | 'recording' | 'retrying' | 'paused' | 'closed';
  dir: string;
  currentSegment: string | null;
  currentSegmentStartedAtMs: number | null;
  /** Frames written to the current segment. */
  currentSegmentFrames: number;
  segmentsCompleted: number;
  framesWritten: number;
  bytesWritten: number;
  /** Frames the reader dropped because the recorder fell behind (slow disk), and how many times it skipped. */
  framesDropped: number;
  dropEvents: number;
  /** Frames discarded while retrying after an error or waiting for a keyframe. */
  framesSkipped: number;
  errors: number;
  lastError: RecorderError | null;
  /** When the next attempt is due (ms since the epoch), while retrying. */
  retryAtMs: number | null;
  /** Segments deleted by rotation since start. */
  rotatedSegments: number;
  /** Of those, segments deleted while still queued for upload. */
  rotatedNotUploaded: number;
  /** Times a full disk (ENOSPC) was met and rotation made room. */
  diskFullEvents: number;
  /** Segments repaired at start-up after a crash. */
  repairedSegments: string[];
  /** Whether a thumbnail is made per segment; `reason` says why not (no ffmpeg, or turned off). */
  thumbnails: { enabled: boolean; reason: string | null };
}

/** Records the hub's stream into rotating segments; see the file comment. */
export class Recorder {
  readonly dir: string;
  private readonly hub: RecorderHub;
  private segmentMs: number;
  private limits: RetentionLimits;
  private readonly diskSpace: DiskSpaceFn | undefined;
  private readonly retention: Pick<RetentionInputs, 'isProtected' | 'uploadState' | 'uploadOrder'>;
  private readonly maxProtected: { bytes: number } | { percent: number };
  private readonly thumbnails: ThumbnailMaker | undefined;
  private readonly queueLimitBytes: number;
  private readonly queueLimitMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly retentionIntervalMs: number;
  private readonly now: () => number;
  private readonly clock: RecorderClock | undefined;
  private readonly events: RecorderEvents;
  private readonly segmentEvents: RecorderSegmentEvents | undefined;
  /** Segments of this run started while the clock was not set: name -> provisional start (ms). */
  private readonly provisional = new Map<string, number>();
  private restamping: Promise<void> | undefined;
  /** The writer being sealed (its start is still written into the file). */
  private sealing: { writer: SegmentWriter; done: Promise<unknown> } | undefined;
  private unsubscribeClock: (() => void) | undefined;
  private readonly logger: Logger;
  private reader: RecorderReader | undefined;
  private writer: SegmentWriter | undefined;
  private nextNumber = 0;
  /** Number of the last segment opened (or found newest at start-up): the end of the recording order. */
  private lastNumber: number | undefined;
  /** A segment is being created: rotation waits (see openSegment). */
  private opening = false;
  private pumping: Promise<void> | undefined;
  private retryAtMs: number | null = null;
  private retryDelayMs: number;
  private lastErrorCode: string | undefined;
  private retentionTimer: ReturnType<typeof setInterval> | undefined;
  private retentionRunning: Promise<void> | undefined;
  private started = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private paused = false;
  private readonly skipLog: RateLimitedCounter;
  private readonly dropLog: RateLimitedCounter;
  private dropEventsSeen = 0;
  private readonly st: RecorderStatus;

  constructor(options: RecorderOptions) {
    this.hub = options.hub;
    this.dir = resolve(options.dir);
    this.segmentMs = options.segmentMs ?? 60_000;
    if (!(this.segmentMs > 0)) throw new RangeError(`segmentMs must be positive, got ${this.segmentMs}`);
    this.limits = { maxFiles: 900, maxBytes: 0, minFreeBytes: 500_000_000, minFreePercent: 5, ...options.limits };
    this.diskSpace = options.diskSpace;
    this.retention = options.retention ?? {};
    this.maxProtected = options.maxProtected ?? { percent: 25 };
    this.thumbnails =
      options.thumbnails === false
        ? undefined
        : (options.thumbnails ?? new ThumbnailMaker({ logger: options.logger?.child('thumbnails') }));
    this.queueLimitBytes = options.queueLimitBytes ?? 16_000_000;
    this.queueLimitMs = options.queueLimitMs ?? 3000;
    this.retryMinMs = options.retryMinMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.retryDelayMs = this.retryMinMs;
    this.retentionIntervalMs = options.retentionIntervalMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.clock = options.clock;
    this.events = options.events ?? {};
    this.segmentEvents = options.segmentEvents;
    this.logger = options.logger ?? silentLogger;
    this.dropLog = new RateLimitedCounter(
      (n, total) =>
        this.logger.warn(
          `disk too slow: skipped to the next keyframe ${n} time(s) (${total} in all, ${this.reader?.stats.framesDropped ?? 0} frames dropped)`,
        ),
      5000,
    );
    this.skipLog = new RateLimitedCounter(
      (n, total) => this.logger.warn(`skipped ${n} frame(s) while not recording (${total} in all)`),
      5000,
    );
    this.st = {
      state: 'starting',
      dir: this.dir,
      currentSegment: null,
      currentSegmentStartedAtMs: null,
      currentSegmentFrames: 0,
      segmentsCompleted: 0,
      framesWritten: 0,
      bytesWritten: 0,
      framesDropped: 0,
      dropEvents: 0,
      framesSkipped: 0,
      errors: 0,
      lastError: null,
      retryAtMs: null,
      rotatedSegments: 0,
      rotatedNotUploaded: 0,
      diskFullEvents: 0,
      repairedSegments: [],
      thumbnails: this.thumbnails
        ? { enabled: this.thumbnails.unavailableReason === null, reason: this.thumbnails.unavailableReason }
        : { enabled: false, reason: 'thumbnails are turned off' },
    };
  }

  /** A snapshot of what the recorder is doing. */
  get status(): RecorderStatus {
    if (this.reader) {
      const s = this.reader.stats;
      this.st.framesDropped = s.framesDropped;
      this.st.dropEvents = s.dropEvents;
    }
    this.st.currentSegmentFrames = this.writer?.frameCount ?? 0;
    return {
      ...this.st,
      retryAtMs: this.retryAtMs,
      repairedSegments: [...this.st.repairedSegments],
      thumbnails: { ...this.st.thumbnails },
    };
  }

  /** The segment being written (absolute path), or undefined. */
  get currentSegmentPath(): string | undefined {
    return this.writer?.path;
  }

  /**
   * The name of the last segment opened (or found newest at start-up): the
   * end of the recording order. Undefined before the first one.
   */
  get lastSegment(): string | undefined {
    return this.lastNumber === undefined ? undefined : segmentName(this.lastNumber);
  }

  /** How many numbers the names cycle through: the file limit (log0000..log0899 for 900), else 10000. */
  private get span(): number {
    return segmentNumberSpan(this.limits.maxFiles);
  }

  /**
   * Prepares the folder (repairs a segment left by a crash, finds the next
   * number, runs rotation) and starts reading the hub. A folder that cannot
   * be prepared is reported in the status and retried, never thrown.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.prepareFolder();
    } catch (err) {
      this.fail(err, 'preparing the recordings folder');
    }
    if (this.closed) return;
    this.reader = this.hub.addReader({
      name: 'recorder',
      join: 'next-keyframe',
      softLimitBytes: this.queueLimitBytes,
      softLimitMs: this.queueLimitMs,
      // Never disconnect the recorder: a hung disk is reported, the reader keeps skipping to keyframes.
      hardLimitMs: 24 * 3_600_000,
    });
    this.unsubscribeClock = this.clock?.onChange((change) => {
      if (change.correctionMs !== null) this.restampProvisional();
    });
    this.reader.onReadable(() => this.kick());
    this.reader.onStalled(() => this.logger.warn('recorder is not keeping up with the stream (disk too slow?)'));
    if (this.retryAtMs === null) this.st.state = 'waiting';
    if (this.retentionIntervalMs > 0) {
      this.retentionTimer = setInterval(() => void this.runRetention(), this.retentionIntervalMs);
      this.retentionTimer.unref();
    }
    this.kick();
  }

  /**
   * Stops reading, writes the frames already queued, finishes the current segment (sealed,
   * playable), waits for the thumbnail. Idempotent (every call resolves when shutdown is done).
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.pumping;
    // Write what is queued now (up to queueLimitMs behind a slow card) into the final segment before
    // closing the reader, which would discard it. Only what is queued now: a live hub keeps pushing.
    const reader = this.reader;
    for (let queued = reader?.stats.queuedFrames ?? 0; queued > 0; queued--) {
      const frame = reader?.read();
      if (!frame) break;
      try {
        await this.handle(frame);
      } catch (err) {
        this.fail(err, 'recording');
      }
    }
    reader?.close();
    this.unsubscribeClock?.();
    await this.retentionRunning;
    await this.finishSegment();
    await this.restamping;
    await this.thumbnails?.whenIdle();
    await this.thumbnails?.close();
    this.st.state = 'closed';
  }

  /**
   * Stops recording until resume() (the device's exclusive streaming mode): the current segment is
   * finished at the next frame and frames are skipped. Idempotent.
   */
  pause(): void {
    if (this.closed || this.paused) return;
    this.paused = true;
    this.st.state = 'paused';
    this.logger.info('recording paused');
  }

  /** Records again from the next keyframe (a new segment). Idempotent. */
  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    if (this.st.state === 'paused') this.st.state = this.retryAtMs !== null ? 'retrying' : 'waiting';
    this.logger.info('recording resumed');
  }

  /**
   * Changes the segment length (settings, ms): the segment being written is
   * cut at the first keyframe past the new length, later ones follow it.
   */
  setSegmentMs(segmentMs: number): void {
    if (!(segmentMs > 0)) throw new RangeError(`segmentMs must be positive, got ${segmentMs}`);
    this.segmentMs = segmentMs;
  }

  /** Changes rotation limits (settings) and applies them at once; the limits not given are kept. */
  async setLimits(limits: Partial<RetentionLimits>): Promise<void> {
    this.limits = { ...this.limits, ...limits };
    if (!this.started || this.closed) return;
    await this.retentionRunning; // a pass already running uses the old limits: run another one
    await this.runRetention();
  }

  /** The current segment length (ms) and rotation limits. */
  get settings(): { segmentMs: number; limits: RetentionLimits } {
    return { segmentMs: this.segmentMs, limits: { ...this.limits } };
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Resolves when every frame handed out so far has been written (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /** Resolves when no thumbnail is being made. */
  async thumbnailsIdle(): Promise<void> {
    await this.thumbnails?.whenIdle();
  }

  /** Resolves once the thumbnail of segment `name` is made, failed or dropped (the uploader waits for it). */
  thumbnailSettled(name: string): Promise<void> {
    return this.thumbnails?.settled(join(this.dir, name)) ?? Promise.resolve();
  }

  private kick(): void {
    if (this.pumping || this.closed || !this.reader) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  private async pump(): Promise<void> {
    for (;;) {
      const reader = this.reader;
      if (!reader || this.closed) return;
      const frame = reader.read();
      if (!frame) return;
      const drops = reader.dropEventCount; // per frame: a plain getter, not the stats snapshot
      if (drops > this.dropEventsSeen) {
        this.dropLog.add(drops - this.dropEventsSeen);
        this.dropEventsSeen = drops;
      }
      try {
        await this.handle(frame);
      } catch (err) {
        // handle() reports its own errors; this is a bug guard so the loop never dies.
        this.fail(err, 'recording');
      }
    }
  }

  private async handle(stamped: StreamFrame): Promise<void> {
    // A frame captured before the clock was set but written after: its true time (one object per such frame).
    const clock = this.clock;
    const frame =
      clock?.isSet && clock.isProvisional(stamped.capturedAtMs)
        ? { ...stamped, capturedAtMs: clock.corrected(stamped.capturedAtMs) }
        : stamped;
    if (this.paused) {
      if (this.writer) {
        await this.finishSegment();
        this.st.state = 'paused';
      }
      return this.skip();
    }
    if (this.retryAtMs !== null) {
      if (this.now() < this.retryAtMs || !frame.isKey) return this.skip();
      this.retryAtMs = null;
    }
    if (this.writer && frame.isKey && !(await this.stillThere(this.writer))) {
      const lost = this.writer;
      this.writer = undefined;
      this.st.currentSegment = null;
      const err = Object.assign(new Error(`${lost.path} (or its folder) was deleted while being recorded`), {
        code: 'ENOENT',
      });
      this.fail(err, 'recording');
      this.retryAtMs = null; // start a new segment at once (the folder is created again)
      this.st.state = 'waiting';
      await lost.abort();
    }
    if (this.writer && frame.isKey && this.shouldCut(this.writer, frame)) await this.finishSegment(true);
    // A keyframe that met a full disk is written again into a new segment once room is made (once).
    for (let attempt = 0; ; attempt++) {
      if (!this.writer) {
        if (!frame.isKey) return this.skip();
        if (!(await this.openSegment(frame.params, frame))) return;
      }
      const writer = this.writer as SegmentWriter;
      try {
        await writer.write(frame);
        this.st.framesWritten++;
        this.retryDelayMs = this.retryMinMs;
        return;
      } catch (err) {
        this.writer = undefined;
        this.st.currentSegment = null;
        this.st.currentSegmentStartedAtMs = null;
        await writer.abort();
        // Room first: the repair appends Cues, which needs space too. The cut segment is kept.
        const roomMade = isDiskFull(err) && (await this.makeRoom(`writing ${writer.path}`, basename(writer.path)));
        await repairCutSegment(this.dir, writer.path, this.logger);
        if (!roomMade) return this.fail(err, `writing ${writer.path}`);
        if (!frame.isKey || attempt > 0) {
          this.st.state = 'waiting'; // next keyframe, no backoff: the room is there now
          return this.skip();
        }
      }
    }
  }

  /**
   * The disk filled (ENOSPC) although the limits held (another writer, a
   * limit set too loose): deletes by the retention rule until one more
   * segment fits. `keep` (the segment just cut) is never deleted. True when
   * something was deleted.
   */
  private async makeRoom(what: string, keep?: string): Promise<boolean> {
    this.st.diskFullEvents++;
    this.st.errors++;
    this.st.lastError = { code: 'ENOSPC', message: `${what}: disk full`, atMs: this.now() };
    try {
      const files = await listSegmentFiles(this.dir, this.lastNumber);
      // Room for one more segment: about the size of the newest finished one.
      const finished = files.filter((f) => f.name !== keep && f.name !== this.st.currentSegment);
      const freeBytes = Math.max(1, finished[finished.length - 1]?.sizeBytes ?? 1);
      const r = await this.retain(freeBytes, keep);
      if (r.deleted.length === 0) {
        this.logger.error(
          `disk full ${what}: nothing left that may be deleted (only protected or in-progress segments)`,
        );
        return false;
      }
      this.logger.warn(
        `disk full ${what}: deleted ${r.deleted.join(', ')} (${r.freedBytes} bytes) to make room; recording again`,
      );
      return true;
    } catch (err) {
      this.logger.error(`disk full ${what}: could not make room: ${(err as Error).message}`);
      return false;
    }
  }

  private shouldCut(writer: SegmentWriter, frame: StreamFrame): boolean {
    if (frame.params.generation !== writer.params.generation) return true; // new SPS/PPS: new file, new avcC
    // The writer's timeline: capture clock snapped to the frame grid, with clock jumps handled.
    const halfFrameMs = 500 / (frame.params.fps > 0 ? frame.params.fps : 30);
    return writer.projectedMs(frame) + halfFrameMs >= this.segmentMs;
  }

  /** One stat per keyframe: notices a segment (or the whole folder) deleted underneath us. */
  private async stillThere(writer: SegmentWriter): Promise<boolean> {
    try {
      await stat(writer.path);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ENOENT';
    }
  }

  private skip(): void {
    this.st.framesSkipped++;
    this.skipLog.add();
  }

  private async openSegment(params: StreamParams, first: StreamFrame): Promise<boolean> {
    // A rotation pass that took its protected set and newest number before this segment existed
    // would rank the new file as the oldest and delete it: let it finish first, and start none
    // until the new segment is current (regression: retention.test's maxFiles case, intermittent).
    this.opening = true;
    await this.retentionRunning?.catch(() => {
      // a failed pass logs its own error; only its end matters here
    });
    // The number after the last one, in the cycle of the file limit as it is now (a limit changed
    // at run time applies here; no file is renamed).
    this.nextNumber = this.lastNumber === undefined ? 0 : nextSegmentNumber(this.lastNumber, this.span);
    // Make room for the new file first: at the file limit the oldest segment goes, and in a full
    // cycle that is the one holding the next number (the device overwrote it; we delete it by the
    // retention rule, so a protected or unfinished one stays and its number is skipped).
    try {
      await this.retain(0, undefined, 1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.logger.warn(`rotation failed: ${(err as Error).message}`);
    }
    let name = segmentName(this.nextNumber);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          name = await this.createSegment(params, first);
          break;
        } catch (err) {
          // Disk full (the marker, the state file or the header): make room and try once more.
          if (!isDiskFull(err) || attempt > 0 || !(await this.makeRoom(`creating ${segmentName(this.nextNumber)}`)))
            throw err;
        }
      }
    } catch (err) {
      this.opening = false;
      this.fail(err, `creating ${join(this.dir, segmentName(this.nextNumber))}`);
      return false;
    }
    this.lastNumber = this.nextNumber;
    this.nextNumber = nextSegmentNumber(this.nextNumber, this.span);
    this.st.state = 'recording';
    this.st.currentSegment = name;
    this.opening = false;
    this.st.currentSegmentStartedAtMs = first.capturedAtMs;
    if (this.clock && !this.clock.isSet) this.provisional.set(name, first.capturedAtMs);
    this.segmentEvents?.opened(name, first.capturedAtMs);
    if (this.lastErrorCode) {
      this.logger.info(`recording again after ${this.lastErrorCode}`);
      this.lastErrorCode = undefined;
    }
    this.logger.debug(`segment ${name} started`);
    this.thumbnails?.request({
      annexB: first.annexB,
      path: join(this.dir, thumbnailName(name, first.capturedAtMs)),
      segmentPath: join(this.dir, name),
    });
    return true;
  }

  /** Creates the next free segment (marker, state, header); sets this.writer and returns its name. */
  private async createSegment(params: StreamParams, first: StreamFrame): Promise<string> {
    await makeDirectory(this.dir); // also brings back a folder deleted underneath us
    // A taken number is skipped, never replaced: it may hold a ride (protected, unfinished, clock
    // trouble, files copied back). Free numbers of the cycle first; only when every one is held,
    // one above it (the names leave log0000..log(maxFiles-1) then, with a warning).
    const taken = new Set(await readdir(this.dir));
    for (let attempt = 0; ; attempt++) {
      const span = this.span;
      const wanted = this.nextNumber;
      let n: number | undefined;
      for (let i = 0; i < span && n === undefined; i++) {
        const x = (wanted + i) % span;
        if (!taken.has(segmentName(x))) n = x;
      }
      for (let x = span; x <= MAX_SEGMENT_NUMBER && n === undefined; x++) if (!taken.has(segmentName(x))) n = x;
      if (n === undefined)
        throw new RearviewError(
          'ERR_RECORDER_IO',
          'every segment number is taken (log0000..log9999): set a rotation limit',
        );
      if (n >= span)
        this.logger.warn(
          `every name ${segmentName(0)}..${segmentName(span - 1)} is held (protected or unfinished segments): recording into ${segmentName(n)}`,
        );
      else if (n !== wanted)
        this.logger.info(`${segmentName(wanted)} is kept (not deletable yet): recording into ${segmentName(n)}`);
      this.nextNumber = n;
      const name = segmentName(n);
      await writeRecordingMarker(this.dir, name, first.capturedAtMs);
      await saveLastSegment(this.dir, name, span);
      const writer = new SegmentWriter({ path: join(this.dir, name), params });
      try {
        await writer.start(); // exclusive create: never truncates a file that appeared meanwhile
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
        taken.add(name);
        continue;
      }
      this.writer = writer;
      return name;
    }
  }

  /** Seals the current segment. `cutting`: the next one opens at once, so the state stays 'recording' (no false "not recording" between two segments). */
  private async finishSegment(cutting = false): Promise<void> {
    const writer = this.writer;
    if (!writer) return;
    this.writer = undefined;
    this.st.currentSegment = null;
    this.st.currentSegmentStartedAtMs = null;
    let summary: SegmentSummary | undefined;
    try {
      const closing = writer.close();
      this.sealing = { writer, done: closing.catch(() => undefined) }; // its failure is handled below
      summary = await closing;
      await removeRecordingMarker(this.dir);
    } catch (err) {
      await writer.abort();
      // Sealing needs room too (Cues): make it, then the repair seals what was written.
      const roomMade = isDiskFull(err) && (await this.makeRoom(`closing ${writer.path}`, basename(writer.path)));
      await repairCutSegment(this.dir, writer.path, this.logger);
      this.segmentEvents?.finished(basename(writer.path));
      if (!roomMade) this.fail(err, `closing ${writer.path}`);
      else if (!this.closed) this.st.state = 'waiting';
      return;
    }
    this.segmentEvents?.finished(basename(writer.path));
    this.st.segmentsCompleted++;
    this.st.bytesWritten += summary.bytes;
    const name = basename(writer.path);
    this.events.onSegmentFinished?.({
      name,
      startedAtMs: summary.startedAtMs,
      durationMs: summary.durationMs,
      frames: summary.frames,
      sizeBytes: summary.bytes,
      width: writer.params.width,
      height: writer.params.height,
      provisional: this.provisional.has(name),
    });
    if (!this.closed && !cutting) this.st.state = 'waiting';
    this.logger.info(
      `segment ${summary.path} closed: ${summary.frames} frames, ${(summary.durationMs / 1000).toFixed(2)} s, ${summary.bytes} bytes`,
    );
  }

  /**
   * The clock was set: every segment of this run started while it was not
   * gets its true start (DateUTC, thumbnail name; segment-restamp.ts), the
   * one being written included (its writer seals it with the true start).
   * Runs in the background, one pass at a time; close() waits for it.
   */
  private restampProvisional(): void {
    const clock = this.clock;
    if (!clock?.isSet || this.provisional.size === 0) return;
    const current = this.writer;
    const currentName = current ? basename(current.path) : undefined;
    // The writers that will still write their start into the file (DateUTC) take the true one now.
    for (const writer of [current, this.sealing?.writer]) {
      const from = writer ? this.provisional.get(basename(writer.path)) : undefined;
      if (writer && from !== undefined) writer.shiftStart(clock.corrected(from) - from);
    }
    if (current && currentName === this.st.currentSegment) this.st.currentSegmentStartedAtMs = current.startedAtMs;
    const sealing = this.sealing?.done;
    const previous = this.restamping;
    const run = (async () => {
      await previous;
      await sealing; // a segment being sealed has its start written first; then it is checked like any other
      // A thumbnail still being made carries the provisional name: rename it once written.
      await this.thumbnails?.whenIdle();
      let segments = 0;
      let thumbnails = 0;
      for (const [name, from] of [...this.provisional]) {
        this.provisional.delete(name);
        const to = clock.corrected(from);
        try {
          const r = await restampSegment(this.dir, name, from, to, { segment: name !== currentName });
          if (r.segment || name === currentName) segments++;
          if (r.segment || name === currentName) this.events.onSegmentRestamped?.(name, to);
          if (r.thumbnail) thumbnails++;
        } catch (err) {
          this.logger.warn(`could not re-stamp ${name}: ${(err as Error).message}`);
        }
      }
      this.logger.info(
        `clock set: re-stamped ${segments} segment(s) and ${thumbnails} thumbnail(s) recorded before it with their true times`,
      );
    })();
    this.restamping = run;
    void run.finally(() => {
      if (this.restamping === run) this.restamping = undefined;
    });
  }

  /** Resolves when no re-stamp pass is running (tests). */
  async restampIdle(): Promise<void> {
    while (this.restamping) await this.restamping;
  }

  private fail(err: unknown, what: string): void {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof RearviewError ? err.code : 'ERR_RECORDER_IO');
    const message = `${what}: ${(err as Error).message ?? String(err)}`;
    this.st.errors++;
    this.st.lastError = { code: String(code), message, atMs: this.now() };
    this.retryAtMs = this.now() + this.retryDelayMs;
    this.st.state = 'retrying';
    if (this.lastErrorCode !== code) this.logger.error(`${message}; retrying in ${this.retryDelayMs} ms`);
    else this.logger.debug(`${message}; retrying in ${this.retryDelayMs} ms`);
    this.lastErrorCode = String(code);
    this.retryDelayMs = Math.min(this.retryMaxMs, this.retryDelayMs * 2);
  }

  private async runRetention(): Promise<void> {
    if (this.opening) return; // openSegment runs a pass once the new segment is current
    if (this.retentionRunning) return this.retentionRunning;
    this.retentionRunning = (async () => {
      try {
        const r = await this.retain(0);
        if (r.stillOver)
          this.logger.debug('rotation: limits still exceeded with only protected or in-progress segments left');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          this.logger.warn(`rotation failed: ${(err as Error).message}`);
      }
    })().finally(() => {
      this.retentionRunning = undefined;
    });
    return this.retentionRunning;
  }

  /** One pass of the retention rule (rotation and a full disk alike); `keep` is a segment just cut, also never deleted. */
  private async retain(freeBytes: number, keep?: string, reserveFiles = 0): Promise<RetentionResult> {
    const inProgress = new Set<string>();
    if (this.st.currentSegment) inProgress.add(this.st.currentSegment);
    if (keep) inProgress.add(keep);
    let maxProtectedBytes: number | undefined;
    if (this.retention.isProtected) {
      // Only measured when something can be protected.
      const cap = this.maxProtected;
      maxProtectedBytes =
        'bytes' in cap
          ? cap.bytes
          : (cap.percent / 100) * (await (this.diskSpace ?? statfsDiskSpace)(this.dir)).diskBytes;
    }
    const r = await enforceRetention(this.dir, this.limits, {
      ...this.retention,
      maxProtectedBytes,
      diskSpace: this.diskSpace,
      inProgress,
      logger: this.logger,
      newest: this.lastNumber,
      freeBytes,
      reserveFiles,
    });
    this.st.rotatedSegments += r.deleted.length;
    this.st.rotatedNotUploaded += r.deletedNotUploaded.length;
    if (r.deleted.length > 0) this.events.onSegmentsDeleted?.(r.deleted);
    return r;
  }

  /** Sweeps what an earlier run left, finds where numbering continues, repairs what a crash left, applies rotation. */
  private async prepareFolder(): Promise<void> {
    await makeDirectory(this.dir);
    await sweepTempFiles(this.dir, this.logger);
    const files = await listSegmentFiles(this.dir);
    this.lastNumber = await lastSegmentNumber(this.dir, files, this.span);
    if (this.lastNumber !== undefined) this.nextNumber = nextSegmentNumber(this.lastNumber, this.span);
    await recoverUnfinishedSegments(this.dir, files, this.lastNumber, {
      logger: this.logger,
      onRepaired: (name) => this.st.repairedSegments.push(name),
    });
    const orphans = await removeOrphanThumbnails(this.dir);
    if (orphans.length > 0) this.logger.info(`removed ${orphans.length} thumbnail(s) of deleted segments`);
    await this.runRetention();
  }
}

/** ENOSPC: the disk (or the folder's quota) is full. */
function isDiskFull(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC';
}
