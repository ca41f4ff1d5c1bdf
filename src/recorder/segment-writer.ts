/**
 * Writes one recording segment: hub frames in, one append-only Matroska file
 * out (mediabunny muxes; we only feed it and seal the result).
 *
 * Crash safety: the file is opened without a write buffer (every packet is
 * handed to the OS as soon as mediabunny has it) and written append-only
 * (sizes left "unknown"), so whatever reached the disk before a power cut
 * plays. What append-only cannot write in place (Duration) is patched into
 * the Info element when the segment is closed (`patchMatroskaInfo`); after a
 * crash `repairMatroska` does the same for the file that was open.
 *
 * Timestamps: from capture time, rebased to zero at the segment's first
 * keyframe. Frames arrive in decode order; a frame's presentation time adds
 * its (pts90k - dts90k) reorder delay, so B-frame streams come out in picture
 * order count order.
 */
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { EncodedPacket, EncodedVideoPacketSource, MkvOutputFormat, Output } from 'mediabunny';
import { annexBToLengthPrefixed, buildAvcDecoderConfigurationRecord } from '../h264/avcc.js';
import { NalUnitType } from '../h264/nal-unit.js';
import type { StreamFrame, StreamParams } from '../hub/stream-frame.js';
import { fileTarget, type FileTarget } from './file-target.js';
import { patchMatroskaInfo } from './matroska-file.js';

/** Options of {@link SegmentWriter}. */
export interface SegmentWriterOptions {
  /** File to create. */
  path: string;
  /**
   * Replace the file if it exists (a CLI recording the user named). Default false: start() rejects
   * with EEXIST, so the recorder can never write a segment over an earlier one.
   */
  overwrite?: boolean;
  /** Parameter sets of the stream; a segment holds one generation only. */
  params: StreamParams;
  /**
   * Minimum Matroska cluster length in seconds (default 1, mediabunny's):
   * a cluster's index entry is what a player seeks to.
   */
  clusterSeconds?: number;
  /**
   * Media time between fdatasync calls, ms (default 1000). Bounds what a
   * power cut can lose to about this much plus one sync; a killed process
   * loses nothing that was written. 0 turns syncing off.
   */
  syncIntervalMs?: number;
  /** Opens the file (default fs.promises.open); tests pass one that delays writes, like a slow card. */
  openFile?: (path: string, flags: number) => Promise<FileHandle>;
}

/** What a closed segment holds. */
export interface SegmentSummary {
  path: string;
  frames: number;
  keyFrames: number;
  /** Presentation span: last frame's time + one frame, ms. */
  durationMs: number;
  /** Wall-clock capture time of the first keyframe, ms since the epoch. */
  startedAtMs: number;
  /** Bytes written to the file. */
  bytes: number;
}

/** Longest believable gap between two frames' capture times; beyond it (clock jump) the stream's own timing is used. */
const MAX_CAPTURE_GAP_MS = 5000;

/**
 * The grid is abandoned for the segment only when the stream proves faster than its nominal rate:
 * the grid's lead over the capture clock grows by more than this share of a window's frames in
 * {@link FAST_WINDOWS} windows of {@link LEAD_WINDOW_MS} in a row. A burst after a stall adds its
 * frames to the lead once (the stall's gap absorbs the previous lead), so it never trips this.
 */
const MAX_LEAD_GROWTH = 0.25;
const LEAD_WINDOW_MS = 1000;
const FAST_WINDOWS = 2;

/** One segment file being written. Create, `start()`, `write()` frames starting with a keyframe, `close()`. */
export class SegmentWriter {
  readonly path: string;
  readonly params: StreamParams;
  private readonly clusterSeconds: number;
  private readonly overwrite: boolean;
  private fh: FileHandle | undefined;
  private output: Output | undefined;
  private source: EncodedVideoPacketSource | undefined;
  private frames = 0;
  private keyFrames = 0;
  private file: FileTarget | undefined;
  private firstCapturedAtMs = 0;
  private lastDecodeMs = 0;
  private anchorCapturedAtMs = 0;
  private anchorDecodeMs = 0;
  /** Snapping decode times to the nominal frame grid (until the stream proves faster than it). */
  private onGrid = true;
  private lastSlot = 0;
  /** Where the current lead-growth window began (capture clock, ms) and the grid's lead then (frames). */
  private leadWindowStartMs = 0;
  private leadAtWindowStart = 0;
  private fastWindows = 0;
  private gopKeyDecodeMs = 0;
  private gopKeyPts90k = 0;
  /** The hub gives this GOP presentation times apart from decode times (a stream that can reorder). */
  private gopReorders = false;
  private lastDts90k = 0;
  private maxEndMs = 0;
  private readonly frameMs: number;
  private closed = false;
  private dateWritten = false;
  /** End of the Segment header (Info, Tracks) in the file, once mediabunny has produced it. */
  private headerEnd: number | undefined;
  private waitingForHeader = false;
  private readonly openFile: (path: string, flags: number) => Promise<FileHandle>;
  private readonly syncIntervalMs: number;
  private lastSyncMs = 0;
  private syncing = false;

  constructor(options: SegmentWriterOptions) {
    this.path = options.path;
    this.params = options.params;
    this.clusterSeconds = options.clusterSeconds ?? 1;
    this.overwrite = options.overwrite ?? false;
    this.syncIntervalMs = options.syncIntervalMs ?? 1000;
    this.openFile = options.openFile ?? ((path, flags) => open(path, flags, 0o644));
    this.frameMs = 1000 / (options.params.fps > 0 ? options.params.fps : 30);
  }

  /** Bytes of the file written so far. */
  private get bytes(): number {
    return this.file?.bytes ?? 0;
  }

  /** Frames written so far. */
  get frameCount(): number {
    return this.frames;
  }

  /** Decode time of the last frame written, ms since the segment's first keyframe. */
  get elapsedMs(): number {
    return this.lastDecodeMs;
  }

  /**
   * Where `frame` would land on this segment's timeline (ms from its first keyframe) if written
   * next: the capture clock snapped to the frame grid, as write() does. Used to decide cuts, so
   * delivery jitter does not make a 1 s segment 2 s long.
   */
  projectedMs(frame: StreamFrame): number {
    if (this.frames === 0) return 0;
    const capturedMs = frame.capturedAtMs - this.anchorCapturedAtMs + this.anchorDecodeMs;
    if (Math.abs(capturedMs - this.lastDecodeMs) > MAX_CAPTURE_GAP_MS) return this.lastDecodeMs + this.frameMs;
    if (!this.onGrid) return Math.max(capturedMs, this.lastDecodeMs + 1);
    return Math.max(Math.round(capturedMs / this.frameMs), this.lastSlot + 1) * this.frameMs;
  }

  /** Capture time of the segment's first keyframe (ms since the epoch); 0 before the first write. */
  get startedAtMs(): number {
    return this.firstCapturedAtMs;
  }

  /**
   * The camera's clock was set while this segment was written: its start
   * (and the anchor of its timeline) move by `correctionMs`, so the next
   * frames, stamped with the set clock, continue the timeline, and close()
   * writes the true start into DateUTC.
   */
  shiftStart(correctionMs: number): void {
    if (this.frames === 0) return;
    this.firstCapturedAtMs += correctionMs;
    this.anchorCapturedAtMs += correctionMs;
  }

  /**
   * Creates the file. Rejects with the fs error (ENOENT, ENOSPC, EROFS, ...) when it cannot, and with
   * EEXIST when the file exists unless `overwrite` was given.
   */
  async start(): Promise<void> {
    // The recorder's segments (exclusive create) never go through a link: O_EXCL refuses one, and
    // O_NOFOLLOW says so at once. `overwrite` is the `record` command's file, named by its user:
    // a link there (to another disk, to /dev/full in a test) is the user's choice and is followed.
    this.fh = await this.openFile(
      this.path,
      constants.O_WRONLY |
        constants.O_CREAT |
        (this.overwrite ? constants.O_TRUNC : constants.O_EXCL | constants.O_NOFOLLOW),
    );
    try {
      this.file = fileTarget(this.fh);
      this.output = new Output({
        format: new MkvOutputFormat({
          appendOnly: true,
          minimumClusterDuration: this.clusterSeconds,
          onSegmentHeader: (data, position) => {
            this.headerEnd = position + data.byteLength;
          },
        }),
        target: this.file.target, // unchunked: a power cut loses only what the OS had not written
      });
      this.source = new EncodedVideoPacketSource('avc');
      this.output.addVideoTrack(this.source, { frameRate: this.params.fps > 0 ? this.params.fps : undefined });
      await this.output.start();
    } catch (err) {
      // Ours (created here): leave no header-less file behind.
      await this.abort();
      if (!this.overwrite) await unlink(this.path).catch(() => undefined); // start() failing already: its error is what is reported
      throw err;
    }
  }

  /** True while write() waits for the Segment header to reach the file before patching it (tests). */
  get awaitingHeaderWrite(): boolean {
    return this.waitingForHeader;
  }

  /** Watches the grid's lead over the capture clock (in frames); true once it keeps growing (see MAX_LEAD_GROWTH). */
  private leadGrowsTooFast(lead: number, capturedMs: number): boolean {
    const elapsed = capturedMs - this.leadWindowStartMs;
    if (elapsed < LEAD_WINDOW_MS) return false;
    const grew = lead - this.leadAtWindowStart > (MAX_LEAD_GROWTH * elapsed) / this.frameMs;
    this.fastWindows = grew ? this.fastWindows + 1 : 0;
    this.leadWindowStartMs = capturedMs;
    this.leadAtWindowStart = lead;
    return this.fastWindows >= FAST_WINDOWS;
  }

  /**
   * Appends one frame (decode order; the first must be a keyframe). Rejects
   * with the fs error when the write fails; the writer is then unusable
   * (call `abort()`).
   */
  async write(frame: StreamFrame): Promise<void> {
    if (!this.source || this.closed) throw new Error('SegmentWriter: write() before start() or after close()');
    if (this.frames === 0 && !frame.isKey)
      throw new RangeError('SegmentWriter: the first frame of a segment must be a keyframe');
    let decodeMs: number;
    if (this.frames === 0) {
      this.firstCapturedAtMs = frame.capturedAtMs;
      this.anchorCapturedAtMs = frame.capturedAtMs;
      this.anchorDecodeMs = 0;
      this.lastSlot = 0;
      this.leadWindowStartMs = 0;
      this.leadAtWindowStart = 0;
      this.fastWindows = 0;
      decodeMs = 0;
    } else {
      // The capture clock, measured from an anchor (not summed deltas), so a burst of frames after a stall
      // does not push the rest of the segment late.
      let capturedMs = frame.capturedAtMs - this.anchorCapturedAtMs + this.anchorDecodeMs;
      if (Math.abs(capturedMs - this.lastDecodeMs) > MAX_CAPTURE_GAP_MS) {
        // Capture clock jumped: continue on the stream's own clock, then the nominal rate, and re-anchor.
        const dtsStep = (frame.dts90k - this.lastDts90k) / 90;
        capturedMs = this.lastDecodeMs + (dtsStep > 0 && dtsStep <= MAX_CAPTURE_GAP_MS ? dtsStep : this.frameMs);
        this.anchorCapturedAtMs = frame.capturedAtMs;
        this.anchorDecodeMs = capturedMs;
      }
      decodeMs = capturedMs;
      if (this.onGrid) {
        // Snap to the nominal frame grid: jitter and bursts (several frames stamped in the same
        // millisecond) become one frame interval apart, gaps (dropped frames) stay gaps. Players and
        // ffmpeg see a clean constant rate.
        const slot = Math.max(Math.round(capturedMs / this.frameMs), this.lastSlot + 1);
        this.lastSlot = slot;
        decodeMs = slot * this.frameMs;
        if (this.leadGrowsTooFast(slot - capturedMs / this.frameMs, capturedMs)) {
          // The stream runs faster than its nominal rate: follow the capture clock from here on,
          // anchored at this frame's grid time, so the timeline never steps back (a step back would
          // squeeze the next frames 1 ms apart, which players and ffmpeg take for equal times).
          this.onGrid = false;
          this.anchorCapturedAtMs = frame.capturedAtMs;
          this.anchorDecodeMs = decodeMs;
        }
      }
      // At least one Matroska tick (1 ms) apart.
      decodeMs = Math.max(decodeMs, this.lastDecodeMs + 1);
    }
    if (frame.isKey) {
      this.gopKeyDecodeMs = decodeMs;
      this.gopKeyPts90k = frame.pts90k;
      this.gopReorders = frame.pts90k !== frame.dts90k;
    }
    // Presentation: the hub's pts90k follows picture order count on a frame grid from the GOP's keyframe
    // (equal to dts90k when the stream cannot reorder), so B-frames come out in display order.
    const ptsMs = this.gopReorders
      ? Math.max(0, this.gopKeyDecodeMs + (frame.pts90k - this.gopKeyPts90k) / 90)
      : decodeMs;
    const nals: Uint8Array[] = [];
    // SPS/PPS live in the track's avcC; AUDs have no place in a container.
    for (const nal of frame.nals)
      if (nal.type !== NalUnitType.SPS && nal.type !== NalUnitType.PPS && nal.type !== NalUnitType.AUD)
        nals.push(nal.data);
    const data = annexBToLengthPrefixed(nals);
    const packet = new EncodedPacket(data, frame.isKey ? 'key' : 'delta', ptsMs / 1000, this.frameMs / 1000);
    const meta =
      this.frames === 0
        ? {
            decoderConfig: {
              codec: this.params.codec,
              // The cropped size, as ffmpeg writes it: Matroska's PixelWidth/Height come from these, and
              // players and the MP4 conversion show that size (the SPS carries the cropping anyway).
              codedWidth: this.params.width,
              codedHeight: this.params.height,
              description: buildAvcDecoderConfigurationRecord([this.params.spsNal], [this.params.ppsNal]),
            },
          }
        : undefined;
    this.lastDecodeMs = decodeMs;
    this.lastDts90k = frame.dts90k;
    this.frames++;
    if (frame.isKey) this.keyFrames++;
    this.maxEndMs = Math.max(this.maxEndMs, ptsMs + this.frameMs);
    await this.source.add(packet, meta);
    if (!this.dateWritten && this.headerEnd !== undefined && this.file) {
      // Record the start time in the header now, so even a segment cut by a crash says when it
      // began. Only once the header is in the file: mediabunny's add() resolves when its bytes are
      // queued, not written (regression: "not a Matroska file (no Segment)" on a healthy disk).
      this.dateWritten = true;
      this.waitingForHeader = true;
      try {
        await this.file.whenWritten(this.headerEnd);
      } finally {
        this.waitingForHeader = false;
      }
      await patchMatroskaInfo(this.path, { startedAtMs: this.firstCapturedAtMs });
    }
    if (this.syncIntervalMs > 0 && decodeMs - this.lastSyncMs >= this.syncIntervalMs && !this.syncing && this.fh) {
      // Not awaited: the next frames need not wait for the card; at most one sync in flight.
      this.lastSyncMs = decodeMs;
      this.syncing = true;
      const fh = this.fh;
      // A failing card also fails the next write or the datasync in close(), which report it.
      fh.datasync()
        .catch(() => undefined)
        .finally(() => {
          this.syncing = false;
        });
    }
  }

  /** Finishes the file (Cues, then Duration patched into Info) and closes it. Idempotent. */
  async close(): Promise<SegmentSummary> {
    const summary = (): SegmentSummary => ({
      path: this.path,
      frames: this.frames,
      keyFrames: this.keyFrames,
      durationMs: Math.round(this.maxEndMs),
      startedAtMs: this.firstCapturedAtMs,
      bytes: this.bytes,
    });
    if (this.closed) return summary();
    this.closed = true;
    try {
      if (this.output && this.output.state === 'started') await this.output.finalize();
      if (this.frames > 0)
        await patchMatroskaInfo(this.path, {
          durationMs: Math.round(this.maxEndMs),
          startedAtMs: this.firstCapturedAtMs,
        });
      await this.fh?.datasync(); // the sealed segment is on the card before we call it done
    } finally {
      await this.fh?.close().catch(() => {
        // after the datasync above the data is on the card (or that failure was thrown)
      });
      this.fh = undefined;
    }
    return summary();
  }

  /** Abandons the file after a write error (leaves what was written). Never throws. Idempotent. */
  async abort(): Promise<void> {
    this.closed = true;
    // Never throws: the write error that led here is the one the caller reports.
    await this.output?.cancel().catch(() => undefined);
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }
}
