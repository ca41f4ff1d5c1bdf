/**
 * The StreamHub: the one place every access unit passes through on its way
 * from the capture source to the readers (TCP clients, WebSocket viewers, the
 * recorder). It is the only writer and never waits for a reader.
 *
 * Per access unit, once:
 * - strips AUDs (and end-of-sequence/stream, filler), remembers SPS/PPS and
 *   puts the current ones in front of every IDR (parameter-set ownership;
 *   the client's AnnexBFramer uses the same src/h264 parts);
 * - starts a new StreamParams generation on a parameter-set change or a
 *   source restart, publishing nothing until the next IDR;
 * - optionally inserts the capture-time SEI;
 * - assigns pts90k/dts90k from the capture time (B-frame streams: pts from
 *   the picture order count, dts monotonic);
 * - builds the Annex-B bytes for raw TCP once: 4-byte start codes plus a
 *   trailing access unit delimiter, so receivers close the frame at once;
 * - caches the current GOP (bounded) for `join: latest-keyframe`;
 * - hands the frame to every reader's bounded queue, synchronously.
 */
import { EventEmitter } from 'node:events';
import type { AccessUnit } from '../h264/access-unit.js';
import { codecString } from '../h264/codec-string.js';
import {
  NalUnitType,
  START_CODE,
  TRAILING_AUD,
  isDelimiterNalType,
  isVclNalType,
  nalUnitFromBytes,
  type NalUnit,
} from '../h264/nal-unit.js';
import type { SourceSink } from '../sources/capture-source.js';
import { RateLimitedCounter, silentLogger, type Logger } from '../log/logger.js';
import { GopCache } from './gop-cache.js';
import { HubReader, type HubReaderOptions, type ReaderJoin } from './hub-reader.js';
import { ParameterSetStore, parameterSetIds } from '../h264/parameter-set-store.js';
import { parseSps, type SequenceParameterSet } from '../h264/sps.js';
import { parsePps, type PictureParameterSet } from '../h264/pps.js';
import { CAPTURE_TIME_SEI_MAX_LENGTH, buildCaptureTimeSei, writeCaptureTimeSei } from '../h264/capture-time-sei.js';
import type { StreamFrame, StreamParams } from './stream-frame.js';

export { TRAILING_AUD };

/** Options of {@link StreamHub}. Defaults match defaultConfig(). */
export interface StreamHubOptions {
  logger?: Logger;
  /** Monotonic clock in ms. Default performance.now(). Inject a fake one in tests. */
  clock?: () => number;
  /**
   * Builds the capture-time SEI NAL unit (header byte first, no start code)
   * for a capture time in ms since the epoch. When set, every frame carries it.
   */
  captureTimeSei?: ((capturedAtMs: number) => Uint8Array) | undefined;
  /** Append an AUD after every frame on raw TCP. Default true (turn off only to measure its effect). */
  trailingAud?: boolean;
  /** GOP cache bounds. Defaults 8 MB and 300 frames. */
  gopCacheMaxBytes?: number;
  gopCacheMaxFrames?: number;
  /** Defaults for readers that do not set their own. */
  readerDefaults?: Partial<Omit<HubReaderOptions, 'name'>>;
  /** Frame rate used when the SPS has no VUI timing (fps field only). Default 30 fps. */
  fallbackVideo?: { fps: number };
  /** Window over which stats() measures fps and bitrate, ms. Default 2000. */
  statsWindowMs?: number;
}

/** Hub-wide figures for status pages and logs. */
export interface StreamHubStats {
  /** Frames and bytes (Annex-B as served) published since start. */
  frames: number;
  bytes: number;
  /** Measured over the last statsWindowMs. */
  fps: number;
  bitrateBps: number;
  readers: number;
  /** Access units dropped because no parameter sets or keyframe were seen yet. */
  framesWaitingForKey: number;
  discontinuities: number;
  /** Current StreamParams generation (0 before the first). */
  generation: number;
  gopCacheFrames: number;
  gopCacheBytes: number;
  /** ms since the last frame was published; undefined before the first. */
  lastFrameAgeMs: number | undefined;
}

/** Typed status events (emitted after the frame is delivered, never on the media path). */
export interface StreamHubEvents {
  /** A new parameter-set generation took effect (first keyframe, resolution change, source restart). */
  params: [StreamParams];
  /** The source reported a new run. */
  discontinuity: [string];
  'reader-added': [string];
  'reader-removed': [string];
}

/** The live stream hub; see the file comment. Implements SourceSink. */
export class StreamHub extends EventEmitter<StreamHubEvents> implements SourceSink {
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly captureTimeSei: ((capturedAtMs: number) => Uint8Array) | undefined;
  private readonly trailingAud: boolean;
  private readonly gop: GopCache;
  private readonly readerDefaults: Partial<Omit<HubReaderOptions, 'name'>>;
  private readonly fallbackVideo: { fps: number };
  private readonly statsWindowMs: number;
  private readonly paramSets = new ParameterSetStore();
  private readers: HubReader[] = [];
  private currentParams: StreamParams | undefined;
  private generation = 0;
  /** Publish nothing until the next IDR (start, discontinuity, parameter change). */
  private waitingForKey = true;
  /** Start a new generation at the next IDR even if the parameter sets are byte-identical. */
  private newRun = true;
  /** Sequence number of the next frame, so also the number of frames published. */
  private seq = 0;
  private bytes = 0;
  private framesWaitingForKey = 0;
  private discontinuities = 0;
  private lastPublishMs: number | undefined;
  // Timestamps.
  private baseCapturedAtMs: number | undefined;
  private lastDts90k = -1;
  private keyDts90k = 0;
  private keyPoc = 0;
  /** POC step per picture: gcd of the POC distances seen (2 until shown otherwise). */
  private pocStep = 2;
  /** Pictures by which pts trails dts so reordered pictures never precede their decode time. */
  private reorderDepth = 0;
  /** Measured interval between access units (90 kHz, moving average); 0 before two frames. */
  private interval90k = 0;
  /** StreamParams generation and SPS the timing state above belongs to (kept while the SPS is unchanged). */
  private timingGeneration = -1;
  private timingSps: Uint8Array | undefined;
  // Sliding window for fps/bitrate: parallel arrays used as a queue.
  private windowTimes: number[] = [];
  private windowBytes: number[] = [];
  private windowHead = 0;
  private windowByteSum = 0;
  private readonly waitLog: RateLimitedCounter;
  private readonly badSpsLog: RateLimitedCounter;
  private lastSpsError = '';
  private closed = false;
  /** The standard capture-time SEI is written straight into each frame's buffer (no per-frame NAL allocation). */
  private readonly directSei: boolean;
  private readonly seiScratch = new Uint8Array(CAPTURE_TIME_SEI_MAX_LENGTH);
  /** Reused per access unit: the NAL units kept (accessUnit() is never re-entered). */
  private readonly body: NalUnit[] = [];
  /** Output of timestamps(): fields, not a per-frame object. */
  private outPts90k = 0;
  private outDts90k = 0;

  constructor(options: StreamHubOptions = {}) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? (() => performance.now());
    this.captureTimeSei = options.captureTimeSei;
    this.directSei = options.captureTimeSei === buildCaptureTimeSei;
    this.trailingAud = options.trailingAud ?? true;
    this.gop = new GopCache(options.gopCacheMaxBytes ?? 8_000_000, options.gopCacheMaxFrames ?? 300);
    this.readerDefaults = options.readerDefaults ?? {};
    this.fallbackVideo = options.fallbackVideo ?? { fps: 30 };
    this.statsWindowMs = options.statsWindowMs ?? 2000;
    this.waitLog = new RateLimitedCounter(
      (n, total) =>
        this.logger.debug(
          `dropped ${n} access unit(s) while waiting for parameter sets and a keyframe (${total} in all)`,
        ),
      1000,
      this.clock,
    );
    this.badSpsLog = new RateLimitedCounter(
      (n, total) =>
        this.logger.error(
          `cannot parse the stream's SPS/PPS (${this.lastSpsError}): dropped ${n} keyframe(s), ${total} in all`,
        ),
      1000,
      this.clock,
    );
  }

  /** Nothing to start (the hub is passive); present for the common lifecycle. */
  async start(): Promise<void> {
    // passive: sources push into it and readers pull from it
  }

  /** Closes every reader. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const reader of this.readers.slice()) reader.close();
    this.gop.clear();
  }

  /** Parameter sets in force, undefined before the first keyframe. */
  get params(): StreamParams | undefined {
    return this.currentParams;
  }

  /** Adds a reader with its own bounded queue (see HubReader). Close it to detach. */
  addReader(options: HubReaderOptions): HubReader {
    const reader = new HubReader(
      { ...this.readerDefaults, ...stripUndefined(options) } as HubReaderOptions,
      this.clock,
      this.logger,
      (r) => this.removeReader(r),
    );
    if (this.closed) {
      reader.close();
      return reader;
    }
    reader.seed(this.gop.snapshot());
    this.readers = [...this.readers, reader];
    queueMicrotask(() => this.emit('reader-added', reader.name));
    return reader;
  }

  /** Current readers (a copy). */
  get readerList(): readonly HubReader[] {
    return this.readers.slice();
  }

  private removeReader(reader: HubReader): void {
    const before = this.readers.length;
    this.readers = this.readers.filter((r) => r !== reader);
    if (this.readers.length !== before) queueMicrotask(() => this.emit('reader-removed', reader.name));
  }

  /** SourceSink: the source started a new run; wait for its next IDR and start a new generation. */
  discontinuity(reason: string): void {
    if (this.closed) return;
    this.discontinuities++;
    this.waitingForKey = true;
    this.newRun = true;
    this.gop.clear();
    this.logger.info(`source discontinuity: ${reason}; waiting for the next keyframe`);
    queueMicrotask(() => this.emit('discontinuity', reason));
  }

  /** SourceSink: one complete access unit with its wall-clock capture time (ms since epoch). */
  accessUnit(au: AccessUnit, capturedAtMs: number): void {
    if (this.closed) return;
    const now = this.clock();
    const body = this.body;
    body.length = 0;
    let hasVcl = false;
    for (const nal of au.nals) {
      if (isDelimiterNalType(nal.type)) continue; // the hub writes its own delimiter
      switch (nal.type) {
        case NalUnitType.SPS:
        case NalUnitType.PPS: {
          const kind = nal.type === NalUnitType.SPS ? 'sps' : 'pps';
          if (this.paramSets.store(kind, parameterSetIds(nal.data).id, nal.data) && this.currentParams) {
            this.logger.info(`${kind.toUpperCase()} changed: new parameters take effect at the next keyframe`);
          }
          break;
        }
        default:
          if (isVclNalType(nal.type)) hasVcl = true;
          body.push(nal);
      }
    }
    if (!hasVcl) return; // parameter sets only: stored above
    const isKey = au.isKey;
    if (!this.paramSets.complete || (this.waitingForKey && !isKey)) {
      this.framesWaitingForKey++;
      this.waitLog.add();
      return;
    }
    if (isKey && (this.paramSets.changed || this.newRun || !this.currentParams) && !this.newGeneration(au)) {
      this.framesWaitingForKey++;
      return;
    }
    // A changed SPS/PPS applies only from an IDR: before it, keep publishing the old generation.
    this.waitingForKey = false;
    const params = this.currentParams as StreamParams;

    this.timestamps(au, capturedAtMs, isKey, params);
    const pts90k = this.outPts90k;
    const dts90k = this.outDts90k;

    // Build the served bytes once; frame.nals are views into them.
    // Our SEI goes after the encoder's own SEI NAL units, right before the picture
    // (7.4.1.2.3: a buffering-period SEI, when present, must stay first).
    // The standard SEI is sized here and written straight into annexB below.
    let seiLength = 0;
    let seiBytes: Uint8Array | undefined;
    if (this.directSei) seiLength = writeCaptureTimeSei(capturedAtMs, this.seiScratch, 0);
    else if (this.captureTimeSei) {
      seiBytes = this.captureTimeSei(capturedAtMs);
      seiLength = seiBytes.length;
    }
    const paramNals = isKey ? this.paramSets.all() : undefined;
    let count = body.length + (seiLength > 0 ? 1 : 0);
    let total = (this.trailingAud ? TRAILING_AUD.length : 0) + (seiLength > 0 ? START_CODE.length + seiLength : 0);
    if (paramNals) {
      count += paramNals.length;
      for (const p of paramNals) total += START_CODE.length + p.length;
    }
    for (const nal of body) total += START_CODE.length + nal.data.length;
    // Every byte is written below: skip zero-filling; own backing store (not the shared pool), so readers may use .buffer.
    const annexB: Uint8Array = Buffer.allocUnsafeSlow(total);
    const nals: NalUnit[] = new Array<NalUnit>(count);
    let at = 0;
    let n = 0;
    if (paramNals) {
      for (const p of paramNals) {
        annexB.set(START_CODE, at);
        at += START_CODE.length;
        annexB.set(p, at);
        nals[n++] = nalUnitFromBytes(annexB.subarray(at, at + p.length), at - START_CODE.length, 4);
        at += p.length;
      }
    }
    let seiPending = seiLength > 0;
    for (const nal of body) {
      if (seiPending && isVclNalType(nal.type)) {
        seiPending = false;
        annexB.set(START_CODE, at);
        at += START_CODE.length;
        // Same time, same bytes: writing again costs less than copying from the scratch through a view.
        if (seiBytes) annexB.set(seiBytes, at);
        else writeCaptureTimeSei(capturedAtMs, annexB, at);
        nals[n++] = nalUnitFromBytes(annexB.subarray(at, at + seiLength), at - START_CODE.length, 4);
        at += seiLength;
      }
      const data = nal.data;
      annexB.set(START_CODE, at);
      at += START_CODE.length;
      annexB.set(data, at);
      nals[n++] = nalUnitFromBytes(annexB.subarray(at, at + data.length), at - START_CODE.length, 4);
      at += data.length;
    }
    if (this.trailingAud) annexB.set(TRAILING_AUD, at);
    body.length = 0; // drop references to the source's buffers

    const frame: StreamFrame = {
      seq: this.seq++,
      isKey,
      pts90k,
      dts90k,
      capturedAtMs,
      deliveredAtMono: now,
      nals,
      annexB,
      params,
    };
    this.bytes += annexB.length;
    this.lastPublishMs = now;
    this.countWindow(now, annexB.length);
    this.gop.add(frame);
    for (const reader of this.readers) reader.push(frame);
  }

  /** Builds the next StreamParams; false (and nothing published) when the SPS cannot be parsed. */
  private newGeneration(au: AccessUnit): boolean {
    const store = this.paramSets;
    const ppsId = au.pps?.ppsId ?? store.latestPpsId ?? 0;
    const ppsNal = store.pps(ppsId) ?? (store.pps(store.latestPpsId ?? 0) as Uint8Array);
    const ppsIds = parameterSetIds(ppsNal);
    const spsNal = store.sps(au.pps?.spsId ?? ppsIds.spsId) ?? (store.sps(store.latestSpsId ?? 0) as Uint8Array);
    let sps: SequenceParameterSet;
    let pps: PictureParameterSet;
    try {
      sps = au.sps ?? parseSps(spsNal);
      pps = au.pps ?? parsePps(ppsNal, (id) => (id === sps.spsId ? sps : undefined));
    } catch (err) {
      this.badSpsLog.add();
      this.lastSpsError = (err as Error).message;
      return false;
    }
    const fps = sps.fps && sps.fps > 0 && sps.fps <= 240 ? sps.fps : this.fallbackVideo.fps;
    const params: StreamParams = {
      generation: ++this.generation,
      sps,
      pps,
      spsNal,
      ppsNal,
      codec: codecString(spsNal),
      width: sps.width,
      height: sps.height,
      fps,
    };
    const old = this.currentParams;
    this.currentParams = params;
    store.changed = false;
    this.newRun = false;
    if (old && (old.width !== params.width || old.height !== params.height)) {
      this.logger.info(`resolution changed from ${old.width}x${old.height} to ${params.width}x${params.height}`);
    }
    queueMicrotask(() => this.emit('params', params));
    return true;
  }

  /**
   * Sets outDts90k and outPts90k. dts from the capture time (90 kHz, from the first frame, strictly
   * increasing). pts equals dts unless the stream can reorder pictures and
   * the POC is known: then pts follows display order within each POC epoch
   * (from an IDR or MMCO5, `au.pocReset`), delayed by the reorder depth so it
   * never precedes dts. Everything is learnt from the stream rather than
   * assumed: the POC step per picture (2 per frame for most encoders, 1 for
   * some and per field), the picture interval (measured from capture times,
   * so field pictures and odd rates work) and the reorder depth (VUI
   * max_num_reorder_frames, else 2, raised when a picture shows it is deeper).
   * Without VUI bitstream_restriction, pictures of the first epoch that
   * reveal a smaller POC step or deeper reordering can be misordered; later
   * epochs are exact.
   */
  private timestamps(au: AccessUnit, capturedAtMs: number, isKey: boolean, params: StreamParams): void {
    this.baseCapturedAtMs ??= capturedAtMs;
    let dts90k = Math.round((capturedAtMs - this.baseCapturedAtMs) * 90);
    if (dts90k <= this.lastDts90k) dts90k = this.lastDts90k + 1;
    const nominal90k = 90_000 / params.fps / (au.structure === 'frame' ? 1 : 2);
    if (this.lastDts90k >= 0) {
      const step = dts90k - this.lastDts90k;
      if (step < 10 * nominal90k)
        this.interval90k = this.interval90k === 0 ? step : this.interval90k * 0.9 + step * 0.1;
    }
    this.lastDts90k = dts90k;
    // What was learnt about reordering holds until the SPS itself changes.
    if (params.generation !== this.timingGeneration) {
      this.timingGeneration = params.generation;
      if (!this.timingSps || !equalBytes(this.timingSps, params.spsNal)) {
        this.timingSps = params.spsNal;
        this.pocStep = 2;
        const frames = params.sps.profileIdc === 66 ? 0 : (params.sps.vui?.maxNumReorderFrames ?? 2);
        this.reorderDepth = au.structure === 'frame' ? frames : 2 * frames;
      }
    }
    this.outDts90k = dts90k;
    this.outPts90k = this.reorderedPts90k(au, dts90k, isKey, nominal90k);
  }

  /** pts for a picture decoded at dts90k (equal to it without reordering). */
  private reorderedPts90k(au: AccessUnit, dts90k: number, isKey: boolean, nominal90k: number): number {
    if (this.reorderDepth === 0 || au.poc === null) return dts90k;
    const poc = au.poc;
    if (au.pocReset ?? isKey) {
      this.keyDts90k = dts90k;
      this.keyPoc = poc;
    }
    // The step is the greatest common divisor of POC distances from the epoch's first picture.
    if (poc !== this.keyPoc) this.pocStep = gcd(this.pocStep, Math.abs(poc - this.keyPoc));
    const interval90k = this.interval90k > 0 ? this.interval90k : nominal90k;
    const picturesFromKey = (poc - this.keyPoc) / this.pocStep;
    // Half a picture of margin absorbs capture-time jitter, so pts never has to be clamped to dts.
    const pts90k = Math.round(this.keyDts90k + (picturesFromKey + this.reorderDepth + 0.5) * interval90k);
    if (pts90k < dts90k) {
      // Reordered deeper than assumed: later pictures get the deeper delay; this one is clamped.
      this.reorderDepth = Math.ceil((dts90k - this.keyDts90k) / interval90k - picturesFromKey);
      this.logger.debug(`picture reordering deeper than assumed: delaying pts by ${this.reorderDepth} pictures`);
    }
    return Math.max(pts90k, dts90k);
  }

  private countWindow(now: number, bytes: number): void {
    this.windowTimes.push(now);
    this.windowBytes.push(bytes);
    this.windowByteSum += bytes;
    this.pruneWindow(now);
  }

  private pruneWindow(now: number): void {
    while (
      this.windowHead < this.windowTimes.length &&
      (this.windowTimes[this.windowHead] as number) <= now - this.statsWindowMs
    ) {
      this.windowByteSum -= this.windowBytes[this.windowHead] as number;
      this.windowHead++;
    }
    if (this.windowHead > 256) {
      this.windowTimes = this.windowTimes.slice(this.windowHead);
      this.windowBytes = this.windowBytes.slice(this.windowHead);
      this.windowHead = 0;
    }
  }

  /** Hub-wide counters and rates (see StreamHubStats). */
  stats(): StreamHubStats {
    const now = this.clock();
    this.pruneWindow(now);
    const n = this.windowTimes.length - this.windowHead;
    const seconds = this.statsWindowMs / 1000;
    return {
      frames: this.seq,
      bytes: this.bytes,
      fps: n / seconds,
      bitrateBps: (this.windowByteSum * 8) / seconds,
      readers: this.readers.length,
      framesWaitingForKey: this.framesWaitingForKey,
      discontinuities: this.discontinuities,
      generation: this.generation,
      gopCacheFrames: this.gop.frameCount,
      gopCacheBytes: this.gop.byteCount,
      lastFrameAgeMs: this.lastPublishMs === undefined ? undefined : now - this.lastPublishMs,
    };
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type { ReaderJoin };
