/**
 * Bytes in, access units out: AnnexBScanner wired to AccessUnitAssembler,
 * including the scanner's early NAL-start signal, so an access unit is
 * emitted as soon as the first bytes of the next one arrive (its AUD, SPS,
 * PPS or SEI header byte, or enough of its first slice to read the slice
 * header), not when that NAL unit completes.
 */
import type { H264Error } from '../errors.js';
import type { AccessUnit } from './access-unit.js';
import { AccessUnitAssembler } from './access-unit-assembler.js';
import { AnnexBScanner } from './annexb-scanner.js';
import type { NalUnit } from './nal-unit.js';
import type { PictureParameterSet } from './pps.js';
import type { SequenceParameterSet } from './sps.js';

/** Options of {@link H264StreamParser}. */
export interface H264StreamParserOptions {
  /** Called with each complete access unit, synchronously from push()/flush(). */
  onAccessUnit(au: AccessUnit): void;
  /** Called with each NAL unit as it completes, before the assembler sees it. */
  onNal?(nal: NalUnit): void;
  /** Recoverable stream problems (scanner and assembler), always H264Error. Default: ignore. */
  onError?(err: H264Error): void;
  /** Largest pending NAL unit in bytes (default 16 MiB, see AnnexBScanner). */
  maxNalBytes?: number;
  /** Largest number of NAL units per access unit (default 16384, see AccessUnitAssembler). */
  maxNalsPerAccessUnit?: number;
  /** Largest access unit in bytes (default 64 MiB, see AccessUnitAssembler). */
  maxAccessUnitBytes?: number;
  /**
   * The caller overwrites a chunk once push() returns (one read buffer filled
   * again and again, which spares allocating and page-faulting fresh memory
   * for every read): the parser then keeps the unfinished NAL unit in
   * scratch buffers of its own (reused too) and copies the pending access
   * unit's NAL units before push() returns. NAL units and access units
   * handed to the callbacks are views, valid only during the call. Default false.
   */
  reusesChunks?: boolean;
}

/** Streaming H.264 Annex-B parser: push chunks, receive NAL units and access units. */
export class H264StreamParser {
  private readonly scanner: AnnexBScanner;
  private readonly assembler: AccessUnitAssembler;
  /** Set while reset() flushes the scanner: the partial NAL it hands out is dropped. */
  private discarding = false;
  private readonly reusesChunks: boolean;

  constructor(options: H264StreamParserOptions) {
    const onNal = options.onNal;
    this.reusesChunks = options.reusesChunks === true;
    // Without a handler, stream errors are recovered from silently (the documented default).
    const onError = options.onError ?? (() => undefined);
    this.assembler = new AccessUnitAssembler({
      onAccessUnit: options.onAccessUnit,
      onError,
      ...(options.maxNalsPerAccessUnit !== undefined ? { maxNalsPerAccessUnit: options.maxNalsPerAccessUnit } : {}),
      ...(options.maxAccessUnitBytes !== undefined ? { maxAccessUnitBytes: options.maxAccessUnitBytes } : {}),
    });
    const assembler = this.assembler;
    this.scanner = new AnnexBScanner({
      ...(options.maxNalBytes !== undefined ? { maxNalBytes: options.maxNalBytes } : {}),
      reusesChunks: this.reusesChunks,
      onNal: (nal) => {
        if (this.discarding) return;
        onNal?.(nal);
        assembler.push(nal);
      },
      onNalStart: (type, offset, bytes, index) => assembler.nalStart(type, bytes, index, offset),
      onError,
    });
  }

  /**
   * Feeds the next chunk of the byte stream. Do not modify `chunk` afterwards
   * (NAL units are views into it) unless the parser was made with `reusesChunks`.
   */
  push(chunk: Uint8Array): void {
    this.scanner.push(chunk);
    if (this.reusesChunks) this.assembler.copyViewsOf([chunk.buffer, ...this.scanner.scratchBuffers]);
  }

  /**
   * Ends the input: emits the last NAL unit and access unit. Parameter sets
   * and POC state are kept, so the same stream may continue (e.g. after an
   * idle close); use reset() for an unrelated stream.
   */
  flush(): void {
    this.scanner.flush();
    this.assembler.flush();
  }

  /**
   * Drops any partial NAL unit and access unit and forgets parameter sets and
   * POC state, for a new, unrelated stream (a source restart). Byte offsets
   * keep counting from the bytes pushed so far.
   */
  reset(): void {
    this.discarding = true;
    try {
      this.scanner.flush();
    } finally {
      this.discarding = false;
    }
    this.assembler.reset();
  }

  /** Total bytes pushed. */
  get bytesSeen(): number {
    return this.scanner.bytesSeen;
  }

  /** True once a start code was found. */
  get foundStartCode(): boolean {
    return this.scanner.foundStartCode;
  }

  /** NAL units emitted so far. */
  get nalCount(): number {
    return this.scanner.nalCount;
  }

  /** Access units emitted so far. */
  get accessUnitCount(): number {
    return this.assembler.accessUnitCount;
  }

  /** The SPS with this id, as last received. */
  getSps(id: number): SequenceParameterSet | undefined {
    return this.assembler.getSps(id);
  }

  /** The PPS with this id, as last received. */
  getPps(id: number): PictureParameterSet | undefined {
    return this.assembler.getPps(id);
  }
}

/** Result of {@link parseAnnexB}. */
export interface ParsedAnnexB {
  nals: NalUnit[];
  accessUnits: AccessUnit[];
  errors: H264Error[];
}

/** Parses a whole Annex-B buffer at once (NAL units are views into `bytes`). */
export function parseAnnexB(
  bytes: Uint8Array,
  options: Omit<H264StreamParserOptions, 'onAccessUnit' | 'onNal' | 'onError'> = {},
): ParsedAnnexB {
  const nals: NalUnit[] = [];
  const accessUnits: AccessUnit[] = [];
  const errors: H264Error[] = [];
  const parser = new H264StreamParser({
    ...options,
    onNal: (nal) => nals.push(nal),
    onAccessUnit: (au) => accessUnits.push(au),
    onError: (err) => errors.push(err),
  });
  parser.push(bytes);
  parser.flush();
  return { nals, accessUnits, errors };
}
