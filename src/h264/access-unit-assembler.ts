/**
 * Access-unit assembly, H.264 (08/2021) clauses 7.4.1.2.3 (order of NAL
 * units and association to access units) and 7.4.1.2.4 (detection of the
 * first VCL NAL unit of a primary coded picture).
 *
 * A new access unit starts at the first of: an access unit delimiter, SPS,
 * PPS, SEI or NAL unit of type 14..18 after a primary picture, or the first
 * slice of a new primary picture, recognised by comparing its slice header
 * with the previous one (frame_num, pic_parameter_set_id, field_pic_flag,
 * bottom_field_flag, nal_ref_idc zero/non-zero, POC lsb/deltas, IdrPicFlag,
 * idr_pic_id) rather than by first_mb_in_slice == 0, so arbitrary slice
 * order works. Redundant slices (redundant_pic_cnt > 0) stay with their
 * primary picture; each field of a field pair is its own access unit, as in
 * FFmpeg. End of sequence (10) and end of stream (11) close the access unit
 * they end.
 *
 * Parameter sets are parsed as they arrive (a later PPS can change the
 * meaning of later slices). Only headers are read; payloads are never
 * copied or unescaped.
 */
import { H264Error } from '../errors.js';
import type { AccessUnit } from './access-unit.js';
import type { NalUnit } from './nal-unit.js';
import { PictureOrderCounter } from './picture-order-count.js';
import { parsePps, type PictureParameterSet } from './pps.js';
import {
  SLICE_HEADER_PREFIX_BYTES,
  parseSliceHeader,
  parseSliceHeaderAt,
  parseSliceHeaderStart,
  type SliceHeader,
} from './slice-header.js';
import { parseSps, type SequenceParameterSet } from './sps.js';

/** Default cap on NAL units per access unit (one slice per macroblock of a 2560x1600 picture fits). */
export const DEFAULT_MAX_NALS_PER_ACCESS_UNIT = 16384;
/** Default cap on the bytes of one access unit: 64 MiB. */
export const DEFAULT_MAX_ACCESS_UNIT_BYTES = 64 * 1024 * 1024;

/** Options of {@link AccessUnitAssembler}. */
export interface AccessUnitAssemblerOptions {
  /** Called with each complete access unit, synchronously from push()/nalStart()/flush(). */
  onAccessUnit(au: AccessUnit): void;
  /**
   * Called for malformed parameter sets or slice headers, a slice whose PPS/SPS
   * is unknown (`ERR_H264_MISSING_PARAMETER_SET`, once per id until it arrives),
   * and an access unit over a cap (`ERR_H264_AU_TOO_LARGE`). Default: ignore.
   */
  onError?(err: H264Error): void;
  /** Largest number of NAL units in one access unit (default 16384); more drops the access unit. */
  maxNalsPerAccessUnit?: number;
  /** Largest access unit in bytes, start codes included (default 64 MiB); more drops the access unit. */
  maxAccessUnitBytes?: number;
}

/** NAL types that begin a new access unit when they follow a primary picture (7.4.1.2.3). */
function startsAccessUnit(type: number): boolean {
  return type === 6 || type === 7 || type === 8 || type === 9 || (type >= 14 && type <= 18);
}

/** Groups NAL units (in decoding order) into access units; see the file comment. */
export class AccessUnitAssembler {
  private readonly onAccessUnit: (au: AccessUnit) => void;
  private readonly onError: (err: H264Error) => void;
  private readonly maxNals: number;
  private readonly maxBytes: number;
  private readonly spsById: (SequenceParameterSet | undefined)[] = new Array(32);
  private readonly ppsById: (PictureParameterSet | undefined)[] = new Array(256);
  /**
   * Copies of PPS NAL units whose meaning depends on their SPS (8x8 scaling
   * lists: 2 or 6 of them by chroma_format_idc), re-parsed when that SPS changes.
   */
  private readonly spsDependentPps = new Map<number, Uint8Array>();
  /**
   * Parameter sets parsed so far, by content (copies of their bytes), one per
   * id: a camera repeats the same SPS and PPS before every keyframe, and
   * comparing a few dozen bytes costs far less than parsing them again. Only
   * PPSs whose meaning does not depend on their SPS are kept, and only the
   * last {@link SEEN_PARAMETER_SETS} of each kind, of {@link SEEN_MAX_BYTES}
   * at most (bounded memory and lookups, whatever the stream).
   */
  private readonly seenSps: Seen<SequenceParameterSet>[] = [];
  private readonly seenPps: Seen<PictureParameterSet>[] = [];
  private readonly poc = new PictureOrderCounter();
  /** Missing-parameter-set messages already reported (cleared when a parameter set arrives). */
  private readonly reportedMissing = new Set<string>();
  private readonly getSpsFn = (id: number): SequenceParameterSet | undefined => this.spsById[id];
  private readonly getPpsFn = (id: number): PictureParameterSet | undefined => this.ppsById[id];

  // The pending access unit.
  private nals: NalUnit[] = [];
  private bytes = 0;
  private dropping = false;
  private hasPrimary = false;
  private prevSlice: SliceHeader | null = null;
  private sliceTypes: number[] = [];
  private isKey = false;
  private isReference = false;
  private frameNum: number | null = null;
  private picPoc: number | null = null;
  private pocReset = false;
  private structure: 'frame' | 'top' | 'bottom' = 'frame';
  private sps: SequenceParameterSet | undefined;
  private pps: PictureParameterSet | undefined;
  /** An end-of-sequence NAL ended the pending access unit; anything but end-of-stream starts the next. */
  private endOfSequence = false;
  /**
   * The slice header nalStart() read for the NAL unit at `offset`, for push()
   * to use instead of reading it again. Kept only when it is sure to be what
   * push() would read: the whole header lay within the
   * SLICE_HEADER_PREFIX_BYTES bytes after the header byte (no tail error),
   * and push() checks that the NAL unit is longer than that (else those
   * bytes ran on into the next NAL unit).
   */
  private started: { offset: number; type: number; header: SliceHeader } | null = null;

  /** Access units emitted so far. */
  accessUnitCount = 0;

  constructor(options: AccessUnitAssemblerOptions) {
    const maxNals = options.maxNalsPerAccessUnit ?? DEFAULT_MAX_NALS_PER_ACCESS_UNIT;
    const maxBytes = options.maxAccessUnitBytes ?? DEFAULT_MAX_ACCESS_UNIT_BYTES;
    if (!Number.isInteger(maxNals) || maxNals < 1)
      throw new RangeError(`maxNalsPerAccessUnit must be a positive integer, got ${maxNals}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1)
      throw new RangeError(`maxAccessUnitBytes must be a positive integer, got ${maxBytes}`);
    this.maxNals = maxNals;
    this.maxBytes = maxBytes;
    this.onAccessUnit = options.onAccessUnit;
    // Without a handler, stream errors are recovered from silently (the documented default).
    this.onError = options.onError ?? (() => undefined);
  }

  /** The SPS with this seq_parameter_set_id, as last received. */
  getSps(id: number): SequenceParameterSet | undefined {
    return this.spsById[id];
  }

  /** The PPS with this pic_parameter_set_id, as last received. */
  getPps(id: number): PictureParameterSet | undefined {
    return this.ppsById[id];
  }

  /**
   * Announces that a NAL unit of `type` has begun (AnnexBScanner onNalStart),
   * so the pending access unit is emitted at once instead of when this NAL
   * completes: when the type always starts a new access unit after a primary
   * picture (AUD, SPS, PPS, SEI, 14..18, or anything after end of sequence),
   * or, given the NAL's first bytes (`bytes[index]` is its header byte, the
   * bytes up to `bytes.length` follow it), when it is a slice whose header
   * shows a new primary picture. Without the latter a stream with no AUD/SEI
   * between pictures (a Raspberry Pi encoder's) would get each access unit
   * only once the next picture's first slice was complete, up to two frame
   * intervals late. With the NAL's stream `offset` (its start code's, as in
   * NalUnit.offset), the slice header read here is reused by push().
   */
  nalStart(type: number, bytes?: Uint8Array, index = 0, offset?: number): void {
    if (this.endOfSequence) {
      if (type !== 11) this.close();
      return;
    }
    if (!this.hasPrimary) return;
    if (startsAccessUnit(type)) {
      this.close();
      return;
    }
    const prev = this.prevSlice;
    if (!bytes || !prev || (type !== 1 && type !== 5 && type !== 2) || index + 1 >= bytes.length) return;
    let header: SliceHeader;
    const end = Math.min(bytes.length, index + 1 + SLICE_HEADER_PREFIX_BYTES);
    // The whole header (not only the fields that tell pictures apart) when push() may reuse it.
    const reusable = offset !== undefined && end === index + 1 + SLICE_HEADER_PREFIX_BYTES;
    try {
      header = parseSliceHeaderAt(
        bytes,
        index,
        end,
        type,
        ((bytes[index] as number) >> 5) & 3,
        this.getPpsFn,
        this.getSpsFn,
        !reusable,
      );
    } catch {
      return; // not enough bytes yet, or malformed: push() decides and reports
    }
    if (reusable && !header.tailError) this.started = { offset, type, header };
    const sps = this.spsById[this.ppsById[header.ppsId]?.spsId ?? -1];
    if (header.redundantPicCnt === 0 && isFirstSliceOfNewPicture(prev, header, sps)) this.close();
  }

  /** Adds the next NAL unit in decoding order. Never throws for bad input: problems go to onError. */
  push(nal: NalUnit): void {
    const type = nal.type;
    if (this.endOfSequence && type !== 11) this.close();
    switch (type) {
      case 1:
      case 2:
      case 5:
        this.pushSlice(nal);
        return;
      case 7:
        if (this.hasPrimary) this.close();
        this.append(nal);
        this.parseParameterSet(nal);
        return;
      case 8:
        if (this.hasPrimary) this.close();
        this.append(nal);
        this.parseParameterSet(nal);
        return;
      case 10:
        this.append(nal);
        this.endOfSequence = true;
        return;
      case 11:
        this.append(nal);
        this.close();
        // After end of stream the next picture must be an IDR; POC state restarts there anyway.
        return;
      default:
        if (this.hasPrimary && startsAccessUnit(type)) this.close();
        this.append(nal);
    }
  }

  /**
   * Copies the data of the pending access unit's NAL units that are views
   * into one of `buffers`, so the caller may overwrite those (reused read
   * buffers). Everything else the assembler keeps is parsed fields or its
   * own copies.
   */
  copyViewsOf(buffers: readonly ArrayBufferLike[]): void {
    const nals = this.nals;
    for (let i = 0; i < nals.length; i++) {
      const nal = nals[i] as NalUnit;
      // new Uint8Array(view) copies; a Node Buffer's slice() would not.
      if (buffers.includes(nal.data.buffer)) nals[i] = { ...nal, data: new Uint8Array(nal.data) };
    }
  }

  /** Emits the pending access unit (end of input, or a boundary known from elsewhere). State is kept. */
  flush(): void {
    this.close();
  }

  /**
   * Forgets everything (for a new, unrelated stream, e.g. after a source
   * restart): the pending access unit is dropped, parameter sets and POC
   * state are cleared. flush() first to keep the pending access unit.
   */
  reset(): void {
    this.dropping = true; // makes close() discard the pending access unit
    this.close();
    this.spsById.fill(undefined);
    this.ppsById.fill(undefined);
    this.spsDependentPps.clear();
    this.seenSps.length = 0;
    this.seenPps.length = 0;
    this.started = null;
    this.reportedMissing.clear();
    this.poc.reset();
  }

  private parseParameterSet(nal: NalUnit): void {
    try {
      if (nal.type === 7) {
        const sps = seen(this.seenSps, nal.data)?.value ?? this.parseNewSps(nal.data);
        const previous = this.spsById[sps.spsId];
        this.spsById[sps.spsId] = sps;
        this.reportedMissing.clear();
        if (previous?.chromaFormatIdc !== sps.chromaFormatIdc) this.reparseDependentPps(sps.spsId);
      } else {
        const pps = seen(this.seenPps, nal.data)?.value ?? this.parseNewPps(nal.data);
        this.ppsById[pps.ppsId] = pps;
        this.reportedMissing.clear();
        if (pps.picScalingMatrixPresentFlag && pps.transform8x8ModeFlag)
          this.spsDependentPps.set(pps.ppsId, new Uint8Array(nal.data)); // a copy, even of a Node Buffer
        else this.spsDependentPps.delete(pps.ppsId);
      }
    } catch (err) {
      this.report(err, nal);
    }
  }

  private parseNewSps(data: Uint8Array): SequenceParameterSet {
    const sps = parseSps(data);
    remember(this.seenSps, data, sps, (e) => e.value.spsId === sps.spsId);
    return sps;
  }

  private parseNewPps(data: Uint8Array): PictureParameterSet {
    const pps = parsePps(data, this.getSpsFn);
    const sameId = (e: Seen<PictureParameterSet>): boolean => e.value.ppsId === pps.ppsId;
    if (pps.picScalingMatrixPresentFlag) forget(this.seenPps, sameId);
    else remember(this.seenPps, data, pps, sameId);
    return pps;
  }

  /** A PPS parsed before its SPS (or under an SPS with another chroma format) is read again. */
  private reparseDependentPps(spsId: number): void {
    for (const [ppsId, data] of this.spsDependentPps) {
      if (this.ppsById[ppsId]?.spsId !== spsId) continue;
      try {
        this.ppsById[ppsId] = parsePps(data, this.getSpsFn);
      } catch (err) {
        this.ppsById[ppsId] = undefined;
        this.spsDependentPps.delete(ppsId);
        this.report(err, { data, type: 8, refIdc: (data[0]! >> 5) & 3, offset: -1, startCodeLength: 4 });
      }
    }
  }

  private pushSlice(nal: NalUnit): void {
    let header: SliceHeader | null = null;
    const started = this.started;
    this.started = null;
    if (
      started !== null &&
      started.offset === nal.offset &&
      started.type === nal.type &&
      nal.data.length > SLICE_HEADER_PREFIX_BYTES
    ) {
      header = started.header;
    } else {
      header = this.readSliceHeader(nal);
    }
    if (header?.tailError) this.report(header.tailError, nal);

    if (header && header.redundantPicCnt > 0) {
      // A redundant picture belongs to the access unit of its primary picture.
      this.append(nal);
      return;
    }
    if (this.hasPrimary) {
      const prev = this.prevSlice;
      let newPicture: boolean;
      if (header && prev) {
        newPicture = isFirstSliceOfNewPicture(prev, header, this.spsById[this.ppsById[header.ppsId]?.spsId ?? -1]);
      } else {
        // Without parameter sets the header cannot be compared: fall back to first_mb_in_slice == 0.
        const start = header ?? safeStart(nal);
        newPicture = start ? start.firstMbInSlice === 0 : false;
      }
      if (newPicture) this.close();
    }
    if (!this.hasPrimary) this.beginPicture(nal, header);
    this.append(nal);
    if (header) {
      this.sliceTypes.push(header.sliceKind);
      this.prevSlice = header;
    } else {
      const start = safeStart(nal);
      if (start) this.sliceTypes.push(start.sliceType % 5);
      this.prevSlice = null;
    }
  }

  /** The slice header of `nal`, or null (reported) when it cannot be read. */
  private readSliceHeader(nal: NalUnit): SliceHeader | null {
    try {
      return parseSliceHeader(nal, this.getPpsFn, this.getSpsFn);
    } catch (err) {
      if (err instanceof H264Error && err.code === 'ERR_H264_MISSING_PARAMETER_SET') {
        const key = err.message; // names the missing id
        if (!this.reportedMissing.has(key)) {
          this.reportedMissing.add(key);
          this.report(err, nal);
        }
      } else {
        this.report(err, nal);
      }
      return null;
    }
  }

  /** Records the primary picture's properties from its first slice. */
  private beginPicture(nal: NalUnit, header: SliceHeader | null): void {
    this.hasPrimary = true;
    this.isKey = nal.type === 5;
    this.isReference = nal.refIdc !== 0;
    if (!header) return;
    const pps = this.ppsById[header.ppsId];
    const sps = pps ? this.spsById[pps.spsId] : undefined;
    this.pps = pps;
    this.sps = sps;
    this.frameNum = header.frameNum;
    this.structure = !header.fieldPicFlag ? 'frame' : header.bottomFieldFlag ? 'bottom' : 'top';
    if (sps) {
      const order = this.poc.next(header, sps);
      this.picPoc = order.picOrderCnt;
      this.pocReset = order.pocReset;
    }
  }

  private append(nal: NalUnit): void {
    if (this.dropping) return;
    const size = nal.data.length + nal.startCodeLength;
    if (this.nals.length >= this.maxNals || this.bytes + size > this.maxBytes) {
      this.onError(
        new H264Error(
          'ERR_H264_AU_TOO_LARGE',
          `access unit at byte ${this.nals[0]?.offset ?? nal.offset} exceeds ${this.maxNals} NAL units or ${this.maxBytes} bytes; dropped`,
        ),
      );
      this.dropping = true;
      this.nals = [];
      this.bytes = 0;
      return;
    }
    this.nals.push(nal);
    this.bytes += size;
  }

  private close(): void {
    const nals = this.nals;
    const dropped = this.dropping;
    const au: AccessUnit | null =
      !dropped && nals.length > 0
        ? {
            nals,
            isKey: this.isKey,
            sliceTypes: this.sliceTypes,
            poc: this.picPoc,
            structure: this.structure,
            sps: this.sps,
            pps: this.pps,
            offset: (nals[0] as NalUnit).offset,
            byteLength: endOf(nals[nals.length - 1] as NalUnit) - (nals[0] as NalUnit).offset,
            isReference: this.isReference,
            frameNum: this.frameNum,
            pocReset: this.pocReset,
          }
        : null;
    // Reset before calling out, so a throwing callback leaves a consistent assembler.
    this.nals = [];
    this.bytes = 0;
    this.dropping = false;
    this.hasPrimary = false;
    this.prevSlice = null;
    this.sliceTypes = [];
    this.isKey = false;
    this.isReference = false;
    this.frameNum = null;
    this.picPoc = null;
    this.pocReset = false;
    this.structure = 'frame';
    this.sps = undefined;
    this.pps = undefined;
    this.endOfSequence = false;
    if (au) {
      this.accessUnitCount++;
      this.onAccessUnit(au);
    }
  }

  /** Reports `err` with the NAL's position added to the message; the code is kept. */
  private report(err: unknown, nal: NalUnit): void {
    const code = err instanceof H264Error ? err.code : 'ERR_H264_INVALID';
    const message = err instanceof Error ? err.message : String(err);
    this.onError(new H264Error(code, `NAL unit type ${nal.type} at byte ${nal.offset}: ${message}`, { cause: err }));
  }
}

/** A parameter set's bytes (a copy) and what they parse to. */
interface Seen<T> {
  data: Uint8Array;
  value: T;
}

/** The entry whose bytes equal `data`, if any. */
function seen<T>(entries: readonly Seen<T>[], data: Uint8Array): Seen<T> | undefined {
  for (const entry of entries) if (sameBytes(entry.data, data)) return entry;
  return undefined;
}

/** Parameter sets of each kind remembered by content. */
const SEEN_PARAMETER_SETS = 8;
/** Largest parameter set remembered by content (real ones are a few dozen bytes). */
const SEEN_MAX_BYTES = 512;

/** Keeps `data` (copied) and `value` in place of the entry `sameId` matches, dropping the oldest beyond the cap. */
function remember<T>(entries: Seen<T>[], data: Uint8Array, value: T, sameId: (e: Seen<T>) => boolean): void {
  forget(entries, sameId);
  if (data.length > SEEN_MAX_BYTES) return;
  // new Uint8Array(view) copies; a Node Buffer's slice() would not.
  entries.push({ data: new Uint8Array(data), value });
  if (entries.length > SEEN_PARAMETER_SETS) entries.shift();
}

function forget<T>(entries: T[], sameId: (e: T) => boolean): void {
  const i = entries.findIndex(sameId);
  if (i >= 0) entries.splice(i, 1);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function endOf(nal: NalUnit): number {
  return nal.offset + nal.startCodeLength + nal.data.length;
}

function safeStart(nal: NalUnit): ReturnType<typeof parseSliceHeaderStart> | null {
  try {
    return parseSliceHeaderStart(nal.data);
  } catch {
    return null;
  }
}

/**
 * 7.4.1.2.4: true when `cur` (a primary slice) begins a different primary
 * picture than `prev`, the previous primary slice.
 */
export function isFirstSliceOfNewPicture(
  prev: SliceHeader,
  cur: SliceHeader,
  sps: SequenceParameterSet | undefined,
): boolean {
  if (cur.frameNum !== prev.frameNum) return true;
  if (cur.ppsId !== prev.ppsId) return true;
  if (cur.fieldPicFlag !== prev.fieldPicFlag) return true;
  if (cur.fieldPicFlag && cur.bottomFieldFlag !== prev.bottomFieldFlag) return true;
  if ((cur.nalRefIdc === 0) !== (prev.nalRefIdc === 0)) return true;
  const pocType = sps?.picOrderCntType;
  if (
    pocType === 0 &&
    (cur.picOrderCntLsb !== prev.picOrderCntLsb || cur.deltaPicOrderCntBottom !== prev.deltaPicOrderCntBottom)
  ) {
    return true;
  }
  if (
    pocType === 1 &&
    (cur.deltaPicOrderCnt[0] !== prev.deltaPicOrderCnt[0] || cur.deltaPicOrderCnt[1] !== prev.deltaPicOrderCnt[1])
  ) {
    return true;
  }
  if (cur.idrPicFlag !== prev.idrPicFlag) return true;
  if (cur.idrPicFlag && prev.idrPicFlag && cur.idrPicId !== prev.idrPicId) return true;
  return false;
}
