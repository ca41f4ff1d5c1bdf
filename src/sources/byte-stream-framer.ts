/**
 * Turns a live Annex-B byte stream (an encoder's stdout, standard input, a
 * TCP relay) into access units as early as possible.
 *
 * A byte-stream receiver normally learns that an access unit ended only when
 * the next one starts, one whole frame interval later. Two things close it
 * sooner:
 * - the H.264 parser closes an access unit as soon as the header byte of the
 *   next AUD/SPS/PPS/SEI arrives (our own server sends an AUD right after
 *   every frame, so relaying our stream costs nothing);
 * - idle close, for encoder pipes that write each frame in one go
 *   (`rpicam-vid --flush`): when a read did not fill the read buffer (the pipe
 *   was drained) and nothing more arrives within a short grace (default 2 ms),
 *   the pending NAL unit and access unit are treated as complete. If bytes
 *   then arrive that do not begin with a start code, the close was premature
 *   (the writer paused mid-frame): it is counted and logged, and the grace
 *   doubles (up to 32 ms) so it does not happen again. docs/sources.md has
 *   the trade-off.
 *
 * A unit without a picture (only SPS/PPS/SEI/AUD, as left by an idle close
 * that fell between a header write and the picture, or by a sender's
 * trailing AUD) is not delivered: its NAL units go in front of the next
 * picture, where they belong.
 *
 * Why this is not the client library's AnnexBFramer (src/client): this one
 * closes frames by time (encoder pipes give no trailing AUD) and hands raw
 * access units to the StreamHub, which alone drops delimiters, owns the
 * parameter sets and writes the start codes (with the same src/h264 parts
 * the client uses: isDelimiterNalType, ParameterSetStore, START_CODE). The
 * client's framer has no timer and makes each frame self-contained itself,
 * because it has no hub behind it.
 */
import type { AccessUnit } from '../h264/access-unit.js';
import { H264StreamParser } from '../h264/h264-stream-parser.js';
import { isVclNalType, type NalUnit } from '../h264/nal-unit.js';
import type { H264Error } from '../errors.js';
import { RateLimitedCounter, type Logger } from '../log/logger.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** Default idle-close grace: 2 ms. */
export const DEFAULT_IDLE_CLOSE_MS = 2;
/** Bytes Node reads from a pipe or socket at most per chunk (libuv's 64 KiB read buffer). */
export const DEFAULT_READ_BUFFER_BYTES = 65_536;
/** Largest grace the automatic back-off after premature closes reaches, in ms. */
export const MAX_IDLE_CLOSE_MS = 32;

/** Most NAL units kept from picture-less units for the next picture (a bound against garbage). */
const MAX_CARRIED_NALS = 64;

/** Options of {@link ByteStreamFramer}. */
export interface ByteStreamFramerOptions {
  /**
   * Each complete access unit with its capture time: the wall-clock time
   * (ms since the Unix epoch) of the read that brought its last bytes.
   */
  onAccessUnit: (au: AccessUnit, capturedAtMs: number) => void;
  logger: Logger;
  /** Idle-close grace in ms; 0 disables idle close. Default 2 (DEFAULT_IDLE_CLOSE_MS). */
  idleCloseMs?: number;
  /** A chunk shorter than this means the pipe was drained. Default 65536 (DEFAULT_READ_BUFFER_BYTES). */
  readBufferBytes?: number;
  /** Cap on one pending NAL unit, in bytes. Default: the parser's (16 MiB). */
  maxNalBytes?: number;
  clock?: Clock;
}

/** Counters for status pages and tests. */
export interface ByteStreamFramerStats {
  /** Bytes pushed. */
  bytes: number;
  /** Access units delivered. */
  accessUnits: number;
  /** Times the idle timer closed a pending access unit. */
  idleCloses: number;
  /** Idle closes followed by bytes without a start code (the frame was cut). */
  prematureIdleCloses: number;
  /** Recoverable bitstream errors reported by the parser. */
  errors: number;
}

/** Live byte stream to access units; see the file comment. */
export class ByteStreamFramer {
  /** Counters since creation. */
  readonly stats: ByteStreamFramerStats = { bytes: 0, accessUnits: 0, idleCloses: 0, prematureIdleCloses: 0, errors: 0 };
  private readonly parser: H264StreamParser;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly readBufferBytes: number;
  private readonly onAccessUnit: (au: AccessUnit, capturedAtMs: number) => void;
  private idleCloseMs: number;
  private idleTimer: TimerHandle | undefined;
  /** Wall time of the latest push: the arrival time of the bytes that complete an access unit. */
  private lastPushWallMs = 0;
  /** Bytes since the last idle close, when not all zeros: whether they begin with a start code is still open. */
  private checkingAfterIdle = false;
  private zerosAfterIdle = 0;
  /** Set while the parser holds bytes that an idle close could complete. */
  private pendingBytes = false;
  private closed = false;
  /** NAL units of a picture-less unit, waiting to be put in front of the next picture. */
  private carry: NalUnit[] = [];
  private readonly prematureCounter: RateLimitedCounter;
  private readonly errorCounter: RateLimitedCounter;
  private lastError: H264Error | undefined;

  constructor(options: ByteStreamFramerOptions) {
    const idle = options.idleCloseMs ?? DEFAULT_IDLE_CLOSE_MS;
    if (!Number.isFinite(idle) || idle < 0) throw new RangeError(`idleCloseMs must be >= 0, got ${idle}`);
    this.idleCloseMs = idle;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.readBufferBytes = options.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES;
    this.onAccessUnit = options.onAccessUnit;
    this.parser = new H264StreamParser({
      ...(options.maxNalBytes !== undefined ? { maxNalBytes: options.maxNalBytes } : {}),
      onAccessUnit: (au) => this.deliver(au),
      onError: (err) => {
        this.stats.errors++;
        this.lastError = err;
        this.errorCounter.add();
      },
    });
    const now = () => this.clock.monoNow();
    this.prematureCounter = new RateLimitedCounter(
      (n, total) =>
        this.logger.warn(
          `idle close cut ${n} frame(s) short (${total} in all): the writer paused mid-frame; idle-close grace is now ${this.idleCloseMs} ms`,
        ),
      1000,
      now,
    );
    this.errorCounter = new RateLimitedCounter(
      (n, total) => this.logger.warn(`${n} bitstream error(s) (${total} in all), last: ${this.lastError?.message ?? '?'}`),
      1000,
      now,
    );
  }

  /** Current idle-close grace in ms (0: disabled). Grows after premature closes. */
  get idleCloseGraceMs(): number {
    return this.idleCloseMs;
  }

  /** Feeds one chunk as read from the pipe or socket. Do not reuse `chunk` afterwards. */
  push(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return;
    this.lastPushWallMs = this.clock.wallNow();
    this.stats.bytes += chunk.length;
    if (this.idleTimer !== undefined) {
      this.clock.clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.checkingAfterIdle) this.checkStartAfterIdle(chunk);
    this.pendingBytes = true;
    this.parser.push(chunk);
    if (this.idleCloseMs > 0 && chunk.length < this.readBufferBytes) {
      this.idleTimer = this.clock.setTimeout(() => this.idleClose(), this.idleCloseMs);
    }
  }

  /** End of stream: delivers whatever is complete. The framer accepts no more bytes. */
  end(): void {
    if (this.closed) return;
    this.cancelTimer();
    if (this.pendingBytes) this.parser.flush();
    this.pendingBytes = false;
    this.closed = true;
  }

  /** Drops pending bytes and timers without delivering anything more. Idempotent. */
  close(): void {
    this.cancelTimer();
    this.closed = true;
  }

  private cancelTimer(): void {
    if (this.idleTimer !== undefined) {
      this.clock.clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  private idleClose(): void {
    this.idleTimer = undefined;
    if (this.closed || !this.pendingBytes) return;
    this.pendingBytes = false;
    const before = this.stats.accessUnits;
    this.parser.flush();
    if (this.stats.accessUnits > before) this.stats.idleCloses++;
    this.checkingAfterIdle = true;
    this.zerosAfterIdle = 0;
  }

  /** After an idle close the next bytes must start with zero bytes and a 0x01 (a start code). */
  private checkStartAfterIdle(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (byte === 0) {
        this.zerosAfterIdle++;
        continue;
      }
      this.checkingAfterIdle = false;
      if (byte !== 1 || this.zerosAfterIdle < 2) this.premature();
      return;
    }
  }

  private premature(): void {
    this.stats.prematureIdleCloses++;
    this.idleCloseMs = Math.min(MAX_IDLE_CLOSE_MS, this.idleCloseMs * 2);
    this.prematureCounter.add();
  }

  private deliver(au: AccessUnit): void {
    if (this.closed) return;
    if (!au.nals.some((nal) => isVclNalType(nal.type))) {
      // No picture: an idle close (or the end) cut after SPS/PPS/SEI or after a
      // sender's trailing AUD. Those NAL units belong to the next picture.
      this.carry.push(...au.nals);
      if (this.carry.length > MAX_CARRIED_NALS) this.carry.splice(0, this.carry.length - MAX_CARRIED_NALS);
      return;
    }
    if (this.carry.length > 0) {
      const nals = [...this.carry, ...au.nals];
      this.carry = [];
      const first = nals[0] as NalUnit;
      const last = au.nals[au.nals.length - 1] as NalUnit;
      au = { ...au, nals, offset: first.offset, byteLength: last.offset + last.startCodeLength + last.data.length - first.offset };
    }
    this.stats.accessUnits++;
    this.onAccessUnit(au, this.lastPushWallMs);
  }
}
