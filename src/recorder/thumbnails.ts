/**
 * JPEG thumbnails of segments, made off the live path: the keyframe's
 * Annex-B bytes (SPS + PPS + IDR) are piped into an ffmpeg child process
 * (`-f h264 -i pipe:0`), never the MKV being written. One child at a time
 * and a queue of one: a newer request replaces a waiting one, so a slow
 * machine makes fewer thumbnails, never a backlog.
 *
 * Decoder: findFfmpeg() (REARVIEW_FFMPEG, else ffmpeg on PATH), looked up
 * once, when the maker is made. Without one, thumbnails are off: one warning
 * is logged, requests are counted as `unavailable`, and `unavailableReason`
 * says why (the status API shows it); recording itself is unaffected.
 */
import { spawn } from 'node:child_process';
import { lstat, unlink } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { FFMPEG_MISSING, findFfmpeg } from '../util/ffmpeg-path.js';
import { writeFileReplacing } from './recording-file.js';

/** A JPEG of one frame is tens of KB; more than this is not a thumbnail. */
const MAX_THUMBNAIL_BYTES = 16 * 1024 * 1024;

/** One thumbnail to make. */
export interface ThumbnailJob {
  /** Annex-B bytes of one keyframe access unit: SPS, PPS, (SEI,) IDR slices. */
  annexB: Uint8Array;
  /** Where the JPEG goes (written to an unpredictable temporary name, then renamed). */
  path: string;
  /**
   * The segment it belongs to: when that is gone (deleted, wiped or rotated
   * while ffmpeg ran) the thumbnail is not kept, so none is left orphaned.
   */
  segmentPath?: string;
}

/** Options of {@link ThumbnailMaker}. */
export interface ThumbnailMakerOptions {
  /** ffmpeg binary. Default: findFfmpeg() at construction; none turns thumbnails off (see the file comment). */
  ffmpegPath?: string;
  /** A child taking longer is killed. Default 15000 ms. */
  timeoutMs?: number;
  /** JPEG quality for ffmpeg's -q:v (2 best .. 31 worst). Default 4. */
  quality?: number;
  logger?: Logger;
}

/** Counters of a ThumbnailMaker. */
export interface ThumbnailStats {
  made: number;
  failed: number;
  /** Requests replaced by a newer one before they started. */
  skipped: number;
  /** Requests dropped because there is no ffmpeg. */
  unavailable: number;
  /** Thumbnails not kept (or not made) because their segment was deleted meanwhile. */
  discarded: number;
}

/** Makes thumbnails in a child process, one at a time; see the file comment. */
export class ThumbnailMaker {
  private readonly timeoutMs: number;
  private readonly quality: number;
  private readonly logger: Logger;
  private readonly ffmpegPath: string | undefined;
  private pending: ThumbnailJob | undefined;
  private running: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private current: ThumbnailJob | undefined;
  private settleWaiters: { segmentPath: string; resolve: () => void }[] = [];
  private closed = false;
  private child: ReturnType<typeof spawn> | undefined;
  /** Counters since creation. */
  readonly stats: ThumbnailStats = { made: 0, failed: 0, skipped: 0, unavailable: 0, discarded: 0 };
  /** Why no thumbnails are made (no ffmpeg), or null when they are. */
  readonly unavailableReason: string | null;

  constructor(options: ThumbnailMakerOptions = {}) {
    this.ffmpegPath = options.ffmpegPath ?? findFfmpeg();
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.quality = options.quality ?? 4;
    this.logger = options.logger ?? silentLogger;
    this.unavailableReason = this.ffmpegPath ? null : `thumbnails are off: ${FFMPEG_MISSING}`;
    if (this.unavailableReason) this.logger.warn(this.unavailableReason);
  }

  /** Queues a job (replacing a waiting one). Never throws; failures are logged and counted. */
  request(job: ThumbnailJob): void {
    if (this.closed) return;
    if (!this.ffmpegPath) {
      this.stats.unavailable++; // said once, at construction
      return;
    }
    if (this.pending) this.stats.skipped++;
    this.pending = job;
    this.wakeSettled();
    if (!this.running) this.running = this.drain();
  }

  /**
   * Resolves once no job for `segmentPath` waits or runs: its thumbnail is
   * made, failed, or was replaced by a newer request. The uploader waits for
   * this before it uploads a segment's thumbnail, so no thumbnail is made
   * after its segment went up.
   */
  settled(segmentPath: string): Promise<void> {
    if (!this.holds(segmentPath)) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push({ segmentPath, resolve }));
  }

  private holds(segmentPath: string): boolean {
    return this.pending?.segmentPath === segmentPath || this.current?.segmentPath === segmentPath;
  }

  private wakeSettled(): void {
    if (this.settleWaiters.length === 0) return;
    const still: typeof this.settleWaiters = [];
    for (const w of this.settleWaiters) {
      if (this.holds(w.segmentPath)) still.push(w);
      else w.resolve();
    }
    this.settleWaiters = still;
  }

  /** Resolves when no job is running or waiting. */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops a waiting job, kills a running child, resolves when it has exited. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.pending = undefined;
    this.child?.kill('SIGKILL');
    await this.whenIdle();
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.closed) {
      const job = this.pending;
      this.pending = undefined;
      this.current = job;
      try {
        if (await this.make(job)) this.stats.made++;
        else this.stats.discarded++;
      } catch (err) {
        this.stats.failed++;
        if (!this.closed) this.logger.warn(`thumbnail ${job.path} failed: ${(err as Error).message}`);
      }
      this.current = undefined;
      this.wakeSettled();
    }
    this.running = undefined;
    this.current = undefined;
    this.pending = undefined;
    this.wakeSettled();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Makes one thumbnail; false when its segment was deleted meanwhile (then nothing is left behind). */
  private async make(job: ThumbnailJob): Promise<boolean> {
    if (!(await segmentExists(job))) return false;
    // ffmpeg writes the JPEG to its stdout, never to a path: it would follow a link planted at a
    // predictable temp name. We write it under an unpredictable name, created exclusively, then rename.
    const args = [
      '-v',
      'error',
      '-f',
      'h264',
      '-i',
      'pipe:0',
      '-frames:v',
      '1',
      '-q:v',
      String(this.quality),
      '-f',
      'image2pipe',
      '-c:v',
      'mjpeg',
      'pipe:1',
    ];
    const jpeg = await this.run(args, job);
    if (jpeg.length === 0) throw new Error('ffmpeg produced no image');
    await writeFileReplacing(job.path, jpeg, '.part');
    // Checked after the rename: a deletion (wipe, DELETE, rotation) removes the segment first and
    // reads the folder for its thumbnails after that, so either it sees this file or we see the
    // segment gone here and take the thumbnail back.
    if (await segmentExists(job)) return true;
    await unlink(job.path).catch(() => undefined);
    return false;
  }

  /** Runs ffmpeg on the job's bytes; resolves with what it wrote to stdout (one JPEG, capped). */
  private run(args: string[], job: ThumbnailJob): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const child = spawn(this.ffmpegPath as string, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.child = child;
      let stderr = '';
      const out: Buffer[] = [];
      let outBytes = 0;
      child.stdout?.on('data', (d: Buffer) => {
        outBytes += d.length;
        if (outBytes > MAX_THUMBNAIL_BYTES) child.kill('SIGKILL');
        else out.push(d);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 2000) stderr += d.toString();
      });
      child.stdin?.on('error', () => undefined); // EPIPE when ffmpeg exits early: reported through the exit code
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.child = undefined;
        if (code === 0 && outBytes <= MAX_THUMBNAIL_BYTES) resolve(Buffer.concat(out));
        else
          reject(new Error(`ffmpeg exited with ${signal ?? code}: ${stderr.trim().split('\n').slice(-2).join(' / ')}`));
      });
      child.stdin?.end(Buffer.from(job.annexB.buffer, job.annexB.byteOffset, job.annexB.byteLength));
    });
  }
}

/** True unless the job names a segment that no longer exists. */
async function segmentExists(job: ThumbnailJob): Promise<boolean> {
  if (job.segmentPath === undefined) return true;
  try {
    await lstat(job.segmentPath);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
