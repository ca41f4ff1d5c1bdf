/**
 * Slice header, H.264 (08/2021) clause 7.3.3 / 7.4.3, read only as far as
 * access-unit boundaries (7.4.1.2.4) and picture order count (8.2.1) need:
 * up to and including dec_ref_pic_marking() (7.3.3.3), to learn whether the
 * picture carries memory_management_control_operation 5. The slice data is
 * never touched: only the first bytes of the NAL are unescaped.
 */
import { H264Error } from '../errors.js';
import { BitReader } from './bit-reader.js';
import type { NalUnit } from './nal-unit.js';
import type { PictureParameterSet } from './pps.js';
import { nalToRbsp } from './rbsp.js';
import type { SequenceParameterSet } from './sps.js';

/** Bytes of a slice NAL unescaped for the first attempt: enough for every field up to redundant_pic_cnt. */
export const SLICE_HEADER_PREFIX_BYTES = 64;

/** The leading fields of a slice header, readable without any parameter set. */
export interface SliceHeaderStart {
  firstMbInSlice: number;
  /** slice_type as coded (0..9); values 5..9 say all slices of the picture share the type. */
  sliceType: number;
  /** pic_parameter_set_id. */
  ppsId: number;
}

/** A slice header as far as this module reads it (see the file comment). */
export interface SliceHeader extends SliceHeaderStart {
  /** nal_unit_type of the slice (1, 2 or 5) and its nal_ref_idc. */
  nalUnitType: number;
  nalRefIdc: number;
  /** IdrPicFlag: nal_unit_type 5. */
  idrPicFlag: boolean;
  /** slice_type % 5 (see SliceType in access-unit.ts). */
  sliceKind: number;
  /** colour_plane_id (0..2) when separate_colour_plane_flag, else 0. */
  colourPlaneId: number;
  frameNum: number;
  fieldPicFlag: boolean;
  bottomFieldFlag: boolean;
  /** idr_pic_id (IDR pictures), else 0. */
  idrPicId: number;
  /** pic_order_cnt_lsb and delta_pic_order_cnt_bottom (POC type 0), else 0. */
  picOrderCntLsb: number;
  deltaPicOrderCntBottom: number;
  /** delta_pic_order_cnt[0..1] (POC type 1), else 0. */
  deltaPicOrderCnt: [number, number];
  /** redundant_pic_cnt: 0 for a primary picture, > 0 for a redundant one. */
  redundantPicCnt: number;
  /** True when dec_ref_pic_marking() was read (false: the header was cut short or malformed there). */
  decRefPicMarkingParsed: boolean;
  /** memory_management_control_operation 5 is present (false when not parsed). */
  hasMmco5: boolean;
  /** no_output_of_prior_pics_flag / long_term_reference_flag (IDR only). */
  noOutputOfPriorPicsFlag: boolean;
  longTermReferenceFlag: boolean;
  /** Why the part after redundant_pic_cnt could not be read, when it could not. */
  tailError?: H264Error;
}

/**
 * A BitReader over the RBSP of `bytes[start + 1, min(end, start + 1 + maxBytes))`
 * (`start` is the NAL header byte): the bytes themselves when they hold no
 * emulation-prevention byte (the usual case, no allocation but the reader),
 * else an unescaped copy of that prefix.
 */
function headerReader(bytes: Uint8Array, start: number, end: number, maxBytes: number): BitReader {
  const from = start + 1;
  const to = Math.min(end, from + maxBytes);
  let zeros = 0;
  for (let i = from; i < to; i++) {
    const b = bytes[i] as number;
    if (b === 3 && zeros >= 2) return new BitReader(nalToRbsp(bytes.subarray(from, end), maxBytes));
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return new BitReader(bytes, from, to);
}

/**
 * Reads first_mb_in_slice, slice_type and pic_parameter_set_id of a slice NAL
 * (header byte first). Throws H264Error when they cannot be read.
 */
export function parseSliceHeaderStart(nal: Uint8Array): SliceHeaderStart {
  return readStart(headerReader(nal, 0, nal.length, 16));
}

function readStart(r: BitReader): SliceHeaderStart {
  const firstMbInSlice = r.readUE();
  const sliceType = r.readUE();
  if (sliceType > 9) throw new H264Error('ERR_H264_INVALID', `slice_type ${sliceType} > 9`);
  const ppsId = r.readUE();
  if (ppsId > 255) throw new H264Error('ERR_H264_INVALID', `pic_parameter_set_id ${ppsId} > 255`);
  return { firstMbInSlice, sliceType, ppsId };
}

/**
 * Parses the slice header of a coded slice NAL unit (types 1, 2 and 5;
 * type 2 partitions A share the header). Throws H264Error:
 * `ERR_H264_MISSING_PARAMETER_SET` when the PPS or SPS it refers to is not
 * known, `ERR_H264_TRUNCATED` / `ERR_H264_INVALID` for a malformed header.
 * A problem after redundant_pic_cnt does not throw: it is returned as
 * `tailError` with `decRefPicMarkingParsed` false.
 */
export function parseSliceHeader(
  nal: NalUnit,
  getPps: (id: number) => PictureParameterSet | undefined,
  getSps: (id: number) => SequenceParameterSet | undefined,
  options: SliceHeaderOptions = {},
): SliceHeader {
  return parseSliceHeaderAt(
    nal.data,
    0,
    nal.data.length,
    nal.type,
    nal.refIdc,
    getPps,
    getSps,
    options.boundaryOnly === true,
  );
}

/**
 * parseSliceHeader for a slice NAL unit whose header byte is `bytes[start]`
 * and which ends at `end` (or of which only `bytes[start, end)` has arrived):
 * reads in place, without making a view. `nalType`/`nalRefIdc` come from the
 * header byte.
 */
export function parseSliceHeaderAt(
  bytes: Uint8Array,
  start: number,
  end: number,
  nalType: number,
  nalRefIdc: number,
  getPps: (id: number) => PictureParameterSet | undefined,
  getSps: (id: number) => SequenceParameterSet | undefined,
  boundaryOnly = false,
): SliceHeader {
  let prefix = SLICE_HEADER_PREFIX_BYTES;
  for (;;) {
    const wholeNal = start + 1 + prefix >= end;
    const h = readHeader(
      headerReader(bytes, start, end, prefix),
      nalType,
      nalRefIdc,
      getPps,
      getSps,
      wholeNal,
      boundaryOnly,
    );
    if (h) return h;
    // Cut short by our own prefix, not by the NAL: read further (weighted prediction tables can be long).
    prefix *= 8;
  }
}

/** Options of {@link parseSliceHeader}. */
export interface SliceHeaderOptions {
  /**
   * Stop after redundant_pic_cnt: enough for access-unit boundaries, not for
   * MMCO5 (`decRefPicMarkingParsed` stays false). Default false.
   */
  boundaryOnly?: boolean;
}

function isTruncation(err: unknown): boolean {
  return err instanceof H264Error && err.code === 'ERR_H264_TRUNCATED';
}

/** The header, or null when the prefix read was too short (and more of the NAL exists). */
function readHeader(
  r: BitReader,
  nalType: number,
  nalRefIdc: number,
  getPps: (id: number) => PictureParameterSet | undefined,
  getSps: (id: number) => SequenceParameterSet | undefined,
  wholeNal: boolean,
  boundaryOnly: boolean,
): SliceHeader | null {
  let start: SliceHeaderStart;
  try {
    start = readStart(r);
  } catch (err) {
    if (!wholeNal && isTruncation(err)) return null;
    throw err;
  }
  const pps = getPps(start.ppsId);
  if (!pps) throw new H264Error('ERR_H264_MISSING_PARAMETER_SET', `slice refers to unknown PPS ${start.ppsId}`);
  const sps = getSps(pps.spsId);
  if (!sps)
    throw new H264Error('ERR_H264_MISSING_PARAMETER_SET', `PPS ${pps.ppsId} refers to unknown SPS ${pps.spsId}`);
  const idrPicFlag = nalType === 5;
  // A literal with every field (no spread): a spread object goes to dictionary mode and costs ~15 us per slice.
  const h: SliceHeader = {
    firstMbInSlice: start.firstMbInSlice,
    sliceType: start.sliceType,
    ppsId: start.ppsId,
    nalUnitType: nalType,
    nalRefIdc,
    idrPicFlag,
    sliceKind: start.sliceType % 5,
    colourPlaneId: 0,
    frameNum: 0,
    fieldPicFlag: false,
    bottomFieldFlag: false,
    idrPicId: 0,
    picOrderCntLsb: 0,
    deltaPicOrderCntBottom: 0,
    deltaPicOrderCnt: [0, 0],
    redundantPicCnt: 0,
    decRefPicMarkingParsed: false,
    hasMmco5: false,
    noOutputOfPriorPicsFlag: false,
    longTermReferenceFlag: false,
  };
  try {
    if (sps.separateColourPlaneFlag) h.colourPlaneId = r.readBits(2);
    h.frameNum = r.readBits(sps.log2MaxFrameNumMinus4 + 4);
    if (!sps.frameMbsOnly) {
      h.fieldPicFlag = r.readFlag();
      if (h.fieldPicFlag) h.bottomFieldFlag = r.readFlag();
    }
    if (idrPicFlag) h.idrPicId = r.readUE();
    if (sps.picOrderCntType === 0) {
      h.picOrderCntLsb = r.readBits(sps.log2MaxPicOrderCntLsbMinus4 + 4);
      if (pps.bottomFieldPicOrderInFramePresentFlag && !h.fieldPicFlag) h.deltaPicOrderCntBottom = r.readSE();
    }
    if (sps.picOrderCntType === 1 && !sps.deltaPicOrderAlwaysZeroFlag) {
      h.deltaPicOrderCnt[0] = r.readSE();
      if (pps.bottomFieldPicOrderInFramePresentFlag && !h.fieldPicFlag) h.deltaPicOrderCnt[1] = r.readSE();
    }
    if (pps.redundantPicCntPresentFlag) h.redundantPicCnt = r.readUE();
  } catch (err) {
    if (!wholeNal && isTruncation(err)) return null;
    throw err;
  }
  if (boundaryOnly) return h;
  try {
    readTail(r, h, sps, pps);
    h.decRefPicMarkingParsed = true;
  } catch (err) {
    if (!wholeNal && isTruncation(err)) return null;
    h.hasMmco5 = false;
    h.tailError =
      err instanceof H264Error
        ? err
        : new H264Error('ERR_H264_INVALID', `slice header: ${String(err)}`, { cause: err });
  }
  return h;
}

/** From direct_spatial_mv_pred_flag to the end of dec_ref_pic_marking(). */
function readTail(r: BitReader, h: SliceHeader, sps: SequenceParameterSet, pps: PictureParameterSet): void {
  const kind = h.sliceKind;
  const isB = kind === 1;
  const isP = kind === 0 || kind === 3; // P or SP
  if (isB) r.skipBits(1); // direct_spatial_mv_pred_flag
  let numRefIdxL0ActiveMinus1 = pps.numRefIdxL0DefaultActiveMinus1;
  let numRefIdxL1ActiveMinus1 = pps.numRefIdxL1DefaultActiveMinus1;
  if (isP || isB) {
    if (r.readFlag()) {
      // num_ref_idx_active_override_flag
      numRefIdxL0ActiveMinus1 = r.readUE();
      if (isB) numRefIdxL1ActiveMinus1 = r.readUE();
    }
    if (numRefIdxL0ActiveMinus1 > 31 || numRefIdxL1ActiveMinus1 > 31) {
      throw new H264Error('ERR_H264_INVALID', 'num_ref_idx_active_minus1 > 31');
    }
  }
  // ref_pic_list_modification() (7.3.3.1); types 20/21 use the MVC variant and are not parsed here.
  if (kind !== 2 && kind !== 4) {
    readRefPicListModification(r);
    if (isB) readRefPicListModification(r);
  }
  if ((pps.weightedPredFlag && isP) || (pps.weightedBipredIdc === 1 && isB)) {
    // pred_weight_table() (7.3.3.2)
    r.readUE(); // luma_log2_weight_denom
    if (sps.chromaArrayType !== 0) r.readUE(); // chroma_log2_weight_denom
    skipWeights(r, numRefIdxL0ActiveMinus1, sps.chromaArrayType !== 0);
    if (isB) skipWeights(r, numRefIdxL1ActiveMinus1, sps.chromaArrayType !== 0);
  }
  if (h.nalRefIdc !== 0) {
    // dec_ref_pic_marking() (7.3.3.3)
    if (h.idrPicFlag) {
      h.noOutputOfPriorPicsFlag = r.readFlag();
      h.longTermReferenceFlag = r.readFlag();
    } else if (r.readFlag()) {
      // adaptive_ref_pic_marking_mode_flag
      for (let n = 0; ; n++) {
        if (n > 66) throw new H264Error('ERR_H264_INVALID', 'too many memory_management_control_operations');
        const op = r.readUE();
        if (op === 0) break;
        if (op > 6) throw new H264Error('ERR_H264_INVALID', `memory_management_control_operation ${op} > 6`);
        if (op === 5) h.hasMmco5 = true;
        if (op === 1 || op === 3) r.readUE(); // difference_of_pic_nums_minus1
        if (op === 2) r.readUE(); // long_term_pic_num
        if (op === 3 || op === 6) r.readUE(); // long_term_frame_idx
        if (op === 4) r.readUE(); // max_long_term_frame_idx_plus1
      }
    }
  }
}

function readRefPicListModification(r: BitReader): void {
  if (!r.readFlag()) return; // ref_pic_list_modification_flag_lX
  for (let n = 0; ; n++) {
    if (n > 33) throw new H264Error('ERR_H264_INVALID', 'too many ref_pic_list_modification operations');
    const idc = r.readUE(); // modification_of_pic_nums_idc
    if (idc === 3) return;
    if (idc > 5) throw new H264Error('ERR_H264_INVALID', `modification_of_pic_nums_idc ${idc} > 5`);
    r.readUE(); // abs_diff_pic_num_minus1 / long_term_pic_num / abs_diff_view_idx_minus1
  }
}

function skipWeights(r: BitReader, numRefIdxActiveMinus1: number, chroma: boolean): void {
  for (let i = 0; i <= numRefIdxActiveMinus1; i++) {
    if (r.readFlag()) {
      r.readSE(); // luma_weight_lX
      r.readSE(); // luma_offset_lX
    }
    if (chroma && r.readFlag()) {
      r.readSE(); // chroma_weight_lX[i][0]
      r.readSE(); // chroma_offset_lX[i][0]
      r.readSE(); // chroma_weight_lX[i][1]
      r.readSE(); // chroma_offset_lX[i][1]
    }
  }
}
