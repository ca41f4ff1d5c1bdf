/**
 * Streaming Annex-B byte-stream scanner, H.264 Annex B.2.
 *
 * Finds 3- and 4-byte start codes (mixed freely), drops leading_zero_8bits
 * and trailing_zero_8bits, and emits each NAL unit exactly once with the same
 * result for any chunking of the input. NAL data is handed out as a view
 * into the pushed chunk; only a NAL that spans chunks is copied (once).
 *
 * Speed: start code prefixes (`00 00 01`) are located with findStartCode
 * (Node's native byte-sequence search: one call per start code, payload
 * bytes never visited in JavaScript), then the zeros before them counted.
 */
import { H264Error } from '../errors.js';
import { findStartCode } from './find-start-code.js';
import type { NalUnit } from './nal-unit.js';

/** Options of {@link AnnexBScanner}. */
export interface AnnexBScannerOptions {
  /**
   * Largest NAL unit kept in memory, in bytes (default 16 MiB). A NAL that
   * grows past it is dropped with an `ERR_H264_NAL_TOO_LARGE` error and the
   * scanner resynchronises at the next start code.
   */
  maxNalBytes?: number;
  /** Called for each complete NAL unit, synchronously from push()/flush(). */
  onNal: (nal: NalUnit) => void;
  /** Called for recoverable stream errors (NAL over the cap). Default: ignore. */
  onError?: (error: H264Error) => void;
  /**
   * Called as soon as the header byte after a start code is seen, before the
   * NAL is complete. Lets an access-unit assembler close a picture the moment
   * the next AUD/SPS/PPS/SEI begins instead of waiting for that NAL to end.
   * The header byte is `bytes[index]`; the bytes after it, up to
   * `bytes.length`, are the NAL's first bytes that have arrived (emulation
   * prevention in place; when the NAL is short they run on into the next
   * ones): usually enough to read a slice header and tell whether a new
   * picture begins. `bytes` is the pushed chunk, valid only during the call.
   */
  onNalStart?: (type: number, offset: number, bytes: Uint8Array, index: number) => void;
  /**
   * The caller overwrites a chunk once push() returns (one read buffer filled
   * again and again): the unfinished NAL unit's bytes are then kept in two
   * scratch buffers of the scanner's own, reused too, instead of as views
   * into the chunk, and a NAL unit that spans chunks is handed out as a view
   * into one of them ({@link AnnexBScanner.scratchBuffers}). NAL units are
   * then valid only during the onNal call. Default false.
   */
  reusesChunks?: boolean;
}

/** Default cap on a pending NAL unit: 16 MiB. */
export const DEFAULT_MAX_NAL_BYTES = 16 * 1024 * 1024;

/** Streaming Annex-B scanner; see the file comment. */
export class AnnexBScanner {
  private readonly maxNalBytes: number;
  private readonly onNal: (nal: NalUnit) => void;
  private readonly onError: (error: H264Error) => void;
  private readonly onNalStart: ((type: number, offset: number, bytes: Uint8Array, index: number) => void) | undefined;
  private readonly reusesChunks: boolean;
  /** A start code was seen at the very end of the last chunk; its header byte is still to come. */
  private headerPending = false;

  /** Bytes pushed before the current chunk. */
  private streamOffset = 0;
  /** True once a start code was seen (bytes before it are discarded). */
  private inNal = false;
  /** True while discarding the rest of a NAL that went over the cap. */
  private skipping = false;
  /** Stream offset of the current NAL's start code and its length. */
  private nalStartCodeOffset = 0;
  private nalStartCodeLength: 3 | 4 = 4;
  /** Parts of the current NAL from earlier chunks (views). */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /**
   * With reusesChunks: the pending bytes live in scratch[current]. A new NAL
   * takes the other one, so the NAL completed last (perhaps still held by
   * the caller until it copies it) is never overwritten by the next one.
   */
  private readonly scratch: Uint8Array[] = [EMPTY, EMPTY];
  private current = 0;
  /**
   * Zero bytes at the end of everything pushed so far, counted only within
   * the current NAL's data (or the pre-start-code garbage), for start codes
   * that straddle a chunk boundary.
   */
  private tailZeros = 0;
  /** Total NAL units emitted. */
  nalCount = 0;

  constructor(options: AnnexBScannerOptions) {
    const max = options.maxNalBytes ?? DEFAULT_MAX_NAL_BYTES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxNalBytes must be a positive integer, got ${max}`);
    this.maxNalBytes = max;
    this.onNal = options.onNal;
    // Without a handler, stream errors are recovered from silently (the documented default).
    this.onError = options.onError ?? (() => undefined);
    this.onNalStart = options.onNalStart;
    this.reusesChunks = options.reusesChunks === true;
  }

  /** Total bytes pushed so far. */
  get bytesSeen(): number {
    return this.streamOffset;
  }

  /** True once at least one start code has been found. */
  get foundStartCode(): boolean {
    return this.inNal;
  }

  /** Feeds the next chunk of the byte stream. Do not modify `chunk` afterwards. */
  push(chunk: Uint8Array): void {
    const length = chunk.length;
    if (this.headerPending && length > 0) {
      this.headerPending = false;
      this.onNalStart?.((chunk[0] as number) & 0x1f, this.nalStartCodeOffset, chunk, 0);
    }
    // Start of the current NAL's bytes inside this chunk.
    let segStart = 0;
    // A start code whose zeros end the previous chunk(s) has its 0x01 at index 0 or 1 here.
    if (this.tailZeros > 0 && length > 0) {
      if (chunk[0] === 1) {
        if (this.tailZeros >= 2) segStart = this.startCode(chunk, 0, 0, this.tailZeros);
      } else if (length > 1 && chunk[0] === 0 && chunk[1] === 1) {
        segStart = this.startCode(chunk, 0, 1, this.tailZeros + 1);
      }
    }
    for (;;) {
      const prefix = findStartCode(chunk, segStart);
      if (prefix < 0) break;
      // Count the zero bytes before the 0x01, never past the current NAL's first byte.
      let zeros = 2;
      let i = prefix - 1;
      while (i >= segStart && chunk[i] === 0) {
        zeros++;
        i--;
      }
      if (i < segStart && segStart === 0) zeros += this.tailZeros;
      segStart = this.startCode(chunk, segStart, prefix + 2, zeros);
    }
    // Keep the unfinished tail of this chunk.
    let trailing = 0;
    for (let i = length - 1; i >= segStart && chunk[i] === 0; i--) trailing++;
    this.tailZeros = trailing === length - segStart && segStart === 0 ? this.tailZeros + trailing : trailing;
    if (this.inNal && !this.skipping && segStart < length) {
      const tail = chunk.subarray(segStart);
      if (this.pendingBytes + tail.length > this.maxNalBytes) {
        this.overflow();
      } else {
        // new Uint8Array(view) copies; a Node Buffer's slice() would not.
        if (this.reusesChunks) this.keepInScratch(tail);
        else this.pending.push(tail);
        this.pendingBytes += tail.length;
      }
    }
    this.streamOffset += length;
  }

  /**
   * Handles a start code whose 0x01 is `chunk[one]`, preceded by `zeros` zero
   * bytes (some possibly at the end of earlier chunks): the NAL in progress,
   * which began at `segStart` in this chunk, ends before these zeros, and a
   * new one begins. Returns the index of the new NAL's first byte.
   */
  private startCode(chunk: Uint8Array, segStart: number, one: number, zeros: number): number {
    const zerosInChunk = Math.min(zeros, one - segStart);
    this.endNal(chunk, segStart, one - zerosInChunk, zeros - zerosInChunk);
    const startCodeLength: 3 | 4 = zeros >= 3 ? 4 : 3;
    this.inNal = true;
    this.skipping = false;
    this.nalStartCodeOffset = this.streamOffset + one - (startCodeLength - 1);
    this.nalStartCodeLength = startCodeLength;
    this.tailZeros = 0;
    const next = one + 1;
    if (this.onNalStart) {
      if (next < chunk.length) this.onNalStart((chunk[next] as number) & 0x1f, this.nalStartCodeOffset, chunk, next);
      else this.headerPending = true;
    }
    return next;
  }

  /** Ends the stream: emits the last NAL unit (without its trailing zero bytes). */
  flush(): void {
    if (this.inNal && !this.skipping) {
      const dropFromPending = Math.min(this.tailZeros, this.pendingBytes);
      this.endNal(EMPTY, 0, 0, dropFromPending);
    }
    this.inNal = false;
    this.skipping = false;
    this.headerPending = false;
    this.pending = [];
    this.pendingBytes = 0;
    this.tailZeros = 0;
  }

  /**
   * With reusesChunks: the buffers NAL units may be views into besides the
   * pushed chunk. A caller that keeps NAL units past a push() copies those.
   */
  get scratchBuffers(): readonly ArrayBufferLike[] {
    return [(this.scratch[0] as Uint8Array).buffer, (this.scratch[1] as Uint8Array).buffer];
  }

  /** Appends `bytes` to the pending NAL's bytes in scratch (a new NAL switches buffers). */
  private keepInScratch(bytes: Uint8Array): void {
    if (this.pendingBytes === 0) this.current ^= 1;
    this.scratchWithRoom(this.pendingBytes + bytes.length).set(bytes, this.pendingBytes);
  }

  /** The current scratch buffer, grown (keeping its pending bytes) to hold `size` bytes. */
  private scratchWithRoom(size: number): Uint8Array {
    const buffer = this.scratch[this.current] as Uint8Array;
    if (buffer.length >= size) return buffer;
    const grown = new Uint8Array(Math.min(this.maxNalBytes, Math.max(size, buffer.length * 2, 64 * 1024)));
    grown.set(buffer.subarray(0, this.pendingBytes));
    this.scratch[this.current] = grown;
    return grown;
  }

  private overflow(): void {
    this.onError(
      new H264Error(
        'ERR_H264_NAL_TOO_LARGE',
        `NAL unit at byte ${this.nalStartCodeOffset} exceeds ${this.maxNalBytes} bytes; skipped to the next start code`,
      ),
    );
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = true;
  }

  /**
   * Completes the current NAL: its bytes are `pending` (minus `dropFromPending`
   * trailing zero bytes) followed by `chunk[from, to)`.
   */
  private endNal(chunk: Uint8Array, from: number, to: number, dropFromPending: number): void {
    if (!this.inNal || this.skipping) {
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    let data: Uint8Array;
    if (this.pendingBytes === 0) {
      data = chunk.subarray(from, to);
    } else {
      const keepPending = this.pendingBytes - dropFromPending;
      const total = keepPending + (to - from);
      if (total > this.maxNalBytes) {
        this.overflow();
        this.skipping = false;
        return;
      }
      if (this.reusesChunks) {
        const buffer = this.scratchWithRoom(total);
        if (to > from) buffer.set(chunk.subarray(from, to), keepPending);
        data = buffer.subarray(0, total);
      } else {
        data = this.joinPending(keepPending, total, chunk.subarray(from, to));
      }
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (data.length === 0) return; // two start codes in a row: nothing between them
    if (data.length > this.maxNalBytes) {
      this.overflow();
      this.skipping = false;
      return;
    }
    const header = data[0] as number;
    this.nalCount++;
    this.onNal({
      data,
      type: header & 0x1f,
      refIdc: (header >> 5) & 3,
      offset: this.nalStartCodeOffset,
      startCodeLength: this.nalStartCodeLength,
    });
  }

  /** The first `keep` pending bytes followed by `rest`, in a new array. */
  private joinPending(keep: number, total: number, rest: Uint8Array): Uint8Array {
    const data = new Uint8Array(total);
    let at = 0;
    for (const part of this.pending) {
      const n = Math.min(part.length, keep - at);
      if (n <= 0) break;
      data.set(n === part.length ? part : part.subarray(0, n), at);
      at += n;
    }
    if (rest.length > 0) data.set(rest, at);
    return data;
  }
}

const EMPTY = new Uint8Array(0);

/** Splits a complete Annex-B buffer into NAL units (one-chunk convenience). */
export function splitAnnexB(bytes: Uint8Array, options: Omit<AnnexBScannerOptions, 'onNal'> = {}): NalUnit[] {
  const nals: NalUnit[] = [];
  const scanner = new AnnexBScanner({ ...options, onNal: (nal) => nals.push(nal) });
  scanner.push(bytes);
  scanner.flush();
  return nals;
}
