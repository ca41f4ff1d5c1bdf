/**
 * Turns a live Annex-B byte stream (an encoder's stdout, standard input, a
 * TCP relay) into access units, as early as the bytes prove a frame ended,
 * and never earlier.
 *
 * A byte-stream receiver learns that an access unit ended only when the next
 * one begins. The H.264 parser recognises that from the first bytes of the
 * next access unit: its AUD, SPS, PPS or SEI header byte, or the first bytes
 * of a slice whose header shows a new picture (first_mb_in_slice 0, a new
 * frame_num, ...). Our own server sends an AUD right after every frame, so
 * relaying our stream costs nothing; the encoders we start put an AUD (or
 * SPS/PPS) in front of every frame where they can.
 *
 * A pause in the bytes is never a frame boundary by itself: a writer can stop
 * in the middle of a frame for any length of time (a frame larger than the
 * pipe buffer, a loaded machine), and a frame cut there decodes with damage
 * until the next IDR. The framer still notes pauses of `idleCloseMs` after a
 * drained read ("idle points"), and counts those the next bytes proved to be
 * mid-frame (`stats.midFramePauses`): where a cut on idle alone would have
 * damaged a frame. docs/sources.md has the rule and its latency cost.
 *
 * A unit without a picture (only SPS/PPS/SEI/AUD, as left by a sender's
 * trailing AUD) is not delivered: its NAL units go in front of the next
 * picture, where they belong.
 *
 * Why this is not the client library's AnnexBFramer (src/client): this one
 * hands raw access units to the StreamHub, which alone drops delimiters,
 * owns the parameter sets and writes the start codes (with the same src/h264
 * parts the client uses: isDelimiterNalType, ParameterSetStore, START_CODE).
 * The client's framer makes each frame self-contained itself, because it has
 * no hub behind it.
 */
import type { AccessUnit } from '../h264/access-unit.js';
import { H264StreamParser } from '../h264/h264-stream-parser.js';
import { isVclNalType, type NalUnit } from '../h264/nal-unit.js';
import type { H264Error } from '../errors.js';
import { RateLimitedCounter, type Logger } from '../log/logger.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** Default pause after a drained read that counts as an idle point: 2 ms. */
export const DEFAULT_IDLE_CLOSE_MS = 2;
/** Bytes Node reads from a pipe or socket at most per chunk (libuv's 64 KiB read buffer). */
export const DEFAULT_READ_BUFFER_BYTES = 65_536;
/** Recent reads remembered to date an access unit's last byte. */
const ARRIVALS_KEPT = 32;

/** Most NAL units kept from picture-less units for the next picture (a bound against garbage). */
const MAX_CARRIED_NALS = 64;

/** Options of {@link ByteStreamFramer}. */
export interface ByteStreamFramerOptions {
  /**
   * Each complete access unit with its capture time: the wall-clock time
   * (ms since the Unix epoch) of the read that brought its last byte.
   */
  onAccessUnit: (au: AccessUnit, capturedAtMs: number) => void;
  logger: Logger;
  /** A pause this long (ms) after a drained read is an idle point (statistics only, see the file comment); 0: none. Default 2. */
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
  /** Idle points: pauses of the grace after a drained read with bytes pending. */
  idlePauses: number;
  /** Idle points followed by bytes without a start code: mid-frame pauses, where a cut on idle alone would have damaged the frame. */
  midFramePauses: number;
  /** Recoverable bitstream errors reported by the parser. */
  errors: number;
}

/** Live byte stream to access units; see the file comment. */
export class ByteStreamFramer {
  /** Counters since creation. */
  readonly stats: ByteStreamFramerStats = { bytes: 0, accessUnits: 0, idlePauses: 0, midFramePauses: 0, errors: 0 };
  private readonly parser: H264StreamParser;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly readBufferBytes: number;
  private readonly onAccessUnit: (au: AccessUnit, capturedAtMs: number) => void;
  private readonly idleCloseMs: number;
  private idleTimer: TimerHandle | undefined;
  /** Stream byte count after each recent read, and its wall time: when each access unit's last byte arrived. */
  private readonly arrivalEnds: number[] = [];
  private readonly arrivalTimes: number[] = [];
  /** Bytes since the last idle point, when not all zeros: whether they begin with a start code is still open. */
  private checkingAfterIdle = false;
  private zerosAfterIdle = 0;
  /** Set while the parser holds bytes not yet delivered in an access unit. */
  private pendingBytes = false;
  private closed = false;
  /** NAL units of a picture-less unit, waiting to be put in front of the next picture. */
  private carry: NalUnit[] = [];
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
    this.errorCounter = new RateLimitedCounter(
      (n, total) =>
        this.logger.warn(`${n} bitstream error(s) (${total} in all), last: ${this.lastError?.message ?? '?'}`),
      1000,
      now,
    );
  }

  /** The pause in ms after a drained read that counts as an idle point (0: none). */
  get idleCloseGraceMs(): number {
    return this.idleCloseMs;
  }

  /** Feeds one chunk as read from the pipe or socket. Do not reuse `chunk` afterwards. */
  push(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return;
    this.stats.bytes += chunk.length;
    this.arrivalEnds.push(this.stats.bytes);
    this.arrivalTimes.push(this.clock.wallNow());
    if (this.arrivalEnds.length > ARRIVALS_KEPT) {
      this.arrivalEnds.shift();
      this.arrivalTimes.shift();
    }
    if (this.idleTimer !== undefined) {
      this.clock.clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.checkingAfterIdle) this.checkStartAfterIdle(chunk);
    this.pendingBytes = true;
    this.parser.push(chunk);
    if (this.idleCloseMs > 0 && chunk.length < this.readBufferBytes) {
      this.idleTimer = this.clock.setTimeout(() => this.idlePoint(), this.idleCloseMs);
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

  /** The writer paused after a drained read. Not a boundary by itself: the next bytes tell. */
  private idlePoint(): void {
    this.idleTimer = undefined;
    if (this.closed || !this.pendingBytes) return;
    this.stats.idlePauses++;
    this.checkingAfterIdle = true;
    this.zerosAfterIdle = 0;
  }

  /** After an idle point, bytes that do not begin with a start code prove the pause was mid-frame. */
  private checkStartAfterIdle(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (byte === 0) {
        this.zerosAfterIdle++;
        continue;
      }
      this.checkingAfterIdle = false;
      if (byte !== 1 || this.zerosAfterIdle < 2) this.stats.midFramePauses++;
      return;
    }
  }

  /** Wall time of the read that brought stream byte `end - 1`. */
  private arrivalOf(end: number): number {
    for (let i = 0; i < this.arrivalEnds.length; i++) {
      if ((this.arrivalEnds[i] as number) >= end) return this.arrivalTimes[i] as number;
    }
    return this.arrivalTimes[this.arrivalTimes.length - 1] ?? this.clock.wallNow();
  }

  private deliver(au: AccessUnit): void {
    if (this.closed) return;
    if (!au.nals.some((nal) => isVclNalType(nal.type))) {
      // No picture: the end of the stream cut after SPS/PPS/SEI, or a
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
      au = {
        ...au,
        nals,
        offset: first.offset,
        byteLength: last.offset + last.startCodeLength + last.data.length - first.offset,
      };
    }
    this.stats.accessUnits++;
    this.pendingBytes = this.stats.bytes > au.offset + au.byteLength;
    this.onAccessUnit(au, this.arrivalOf(au.offset + au.byteLength));
  }
}
