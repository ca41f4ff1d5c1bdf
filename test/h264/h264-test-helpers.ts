/**
 * Helpers shared by the H.264 tests: feeding a buffer through the parser in
 * chunks, a flat comparable view of access units, FFmpeg-style raw views of
 * parsed parameter sets, a seeded PRNG and a bit writer for synthetic streams.
 */
import { createHash } from 'node:crypto';
import type { H264Error } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { H264StreamParser, type H264StreamParserOptions } from '../../src/h264/h264-stream-parser.js';
import type { NalUnit } from '../../src/h264/nal-unit.js';
import type { PictureParameterSet } from '../../src/h264/pps.js';
import type { HrdParameters, SequenceParameterSet } from '../../src/h264/sps.js';
import { rbspToNal } from '../../src/h264/rbsp.js';

/** Everything a parse produced. */
export interface ParseResult {
  nals: NalUnit[];
  accessUnits: AccessUnit[];
  errors: H264Error[];
}

/**
 * Parses `bytes` pushed as the chunks between `splits` (ascending offsets).
 * NAL data are views into `bytes` (or the scanner's copy for a NAL spanning
 * chunks), so `bytes` must stay unmodified while the result is used.
 */
export function parseInChunks(
  bytes: Uint8Array,
  splits: number[] = [],
  options: Omit<H264StreamParserOptions, 'onAccessUnit' | 'onNal' | 'onError'> = {},
): ParseResult {
  const nals: NalUnit[] = [];
  const accessUnits: AccessUnit[] = [];
  const errors: H264Error[] = [];
  const parser = new H264StreamParser({
    ...options,
    onNal: (n) => nals.push(n),
    onAccessUnit: (au) => accessUnits.push(au),
    onError: (e) => errors.push(e),
  });
  let at = 0;
  for (const s of splits) {
    parser.push(bytes.subarray(at, s));
    at = s;
  }
  parser.push(bytes.subarray(at));
  parser.flush();
  return { nals, accessUnits, errors };
}

/** A comparable, JSON-friendly view of one access unit (NAL data as a hash). */
export function flatAccessUnit(au: AccessUnit): Record<string, unknown> {
  const hash = createHash('sha1');
  for (const n of au.nals) hash.update(n.data);
  return {
    offset: au.offset,
    byteLength: au.byteLength,
    isKey: au.isKey,
    poc: au.poc,
    structure: au.structure,
    sliceTypes: au.sliceTypes.join(','),
    nals: au.nals.map((n) => `${n.type}@${n.offset}/${n.startCodeLength}+${n.data.length}`).join(' '),
    spsId: au.sps?.spsId ?? null,
    ppsId: au.pps?.ppsId ?? null,
    frameNum: au.frameNum ?? null,
    data: hash.digest('hex'),
  };
}

/**
 * Presentation order of access units from their POC: decode-order index
 * sorted by (POC epoch, POC), where an IDR or MMCO5 picture starts an epoch.
 */
export function presentationOrder(aus: AccessUnit[]): number[] {
  let epoch = -1;
  const keyed = aus.map((au, index) => {
    if (au.pocReset || epoch < 0) epoch++;
    return { index, epoch, poc: au.poc ?? 0 };
  });
  keyed.sort((a, b) => a.epoch - b.epoch || a.poc - b.poc || a.index - b.index);
  return keyed.map((k) => k.index);
}

/** A decoded frame for presentation-order checks: a frame access unit, or a field pair. */
export interface OrderedFrame {
  /** Offsets of its access units (one, or one per field). */
  offsets: number[];
  /** PicOrderCnt of the frame: Min(top, bottom) for a field pair. */
  poc: number;
  pocReset: boolean;
}

/**
 * Groups access units into frames as a decoder outputs them: a field
 * followed by the opposite-parity field with the same frame_num (and no POC
 * reset) forms one frame; everything else stands alone.
 */
export function framesOf(aus: AccessUnit[]): OrderedFrame[] {
  const frames: OrderedFrame[] = [];
  let open: { frame: OrderedFrame; au: AccessUnit } | null = null;
  for (const au of aus) {
    if (
      au.structure !== 'frame' &&
      open &&
      open.au.structure !== au.structure &&
      open.au.frameNum === au.frameNum &&
      !au.pocReset
    ) {
      open.frame.offsets.push(au.offset);
      open.frame.poc = Math.min(open.frame.poc, au.poc ?? 0);
      open = null;
      continue;
    }
    const frame = { offsets: [au.offset], poc: au.poc ?? 0, pocReset: au.pocReset ?? false };
    frames.push(frame);
    open = au.structure === 'frame' ? null : { frame, au };
  }
  return frames;
}

/** Frames sorted into presentation order by (POC epoch, POC); see presentationOrder. */
export function framesInPresentationOrder(frames: OrderedFrame[]): OrderedFrame[] {
  let epoch = -1;
  const keyed = frames.map((frame, index) => {
    if (frame.pocReset || epoch < 0) epoch++;
    return { frame, index, epoch };
  });
  keyed.sort((a, b) => a.epoch - b.epoch || a.frame.poc - b.frame.poc || a.index - b.index);
  return keyed.map((k) => k.frame);
}

const b = (flag: boolean): number => (flag ? 1 : 0);

function hrdToRaw(out: Record<string, number>, h: HrdParameters): void {
  out.cpb_cnt_minus1 = h.cpbCntMinus1;
  out.bit_rate_scale = h.bitRateScale;
  out.cpb_size_scale = h.cpbSizeScale;
  for (const [i, v] of h.bitRateValueMinus1.entries()) out[`bit_rate_value_minus1[${i}]`] = v;
  for (const [i, v] of h.cpbSizeValueMinus1.entries()) out[`cpb_size_value_minus1[${i}]`] = v;
  for (const [i, v] of h.cbrFlag.entries()) out[`cbr_flag[${i}]`] = b(v);
  out.initial_cpb_removal_delay_length_minus1 = h.initialCpbRemovalDelayLengthMinus1;
  out.cpb_removal_delay_length_minus1 = h.cpbRemovalDelayLengthMinus1;
  out.dpb_output_delay_length_minus1 = h.dpbOutputDelayLengthMinus1;
  out.time_offset_length = h.timeOffsetLength;
}

/**
 * A parsed SPS in FFmpeg trace_headers naming (`seq_scaling_list[0].delta_scale[3]`,
 * `cbr_flag[0]`, flags as 0/1), so it can be compared key by key with
 * GROUND_TRUTH.json's sps_raw. Fields that were not coded are included with
 * their inferred values; the comparison only looks at keys FFmpeg printed.
 */
export function spsToRaw(sps: SequenceParameterSet, nal: NalUnit): Record<string, number> {
  const o: Record<string, number> = {
    nal_ref_idc: nal.refIdc,
    nal_unit_type: nal.type,
    profile_idc: sps.profileIdc,
    level_idc: sps.levelIdc,
    reserved_zero_2bits: sps.constraintFlags & 3,
    seq_parameter_set_id: sps.spsId,
    chroma_format_idc: sps.chromaFormatIdc,
    separate_colour_plane_flag: b(sps.separateColourPlaneFlag),
    bit_depth_luma_minus8: sps.bitDepthLumaMinus8,
    bit_depth_chroma_minus8: sps.bitDepthChromaMinus8,
    qpprime_y_zero_transform_bypass_flag: b(sps.qpprimeYZeroTransformBypassFlag),
    seq_scaling_matrix_present_flag: b(sps.seqScalingMatrixPresentFlag),
    log2_max_frame_num_minus4: sps.log2MaxFrameNumMinus4,
    pic_order_cnt_type: sps.picOrderCntType,
    log2_max_pic_order_cnt_lsb_minus4: sps.log2MaxPicOrderCntLsbMinus4,
    delta_pic_order_always_zero_flag: b(sps.deltaPicOrderAlwaysZeroFlag),
    offset_for_non_ref_pic: sps.offsetForNonRefPic,
    offset_for_top_to_bottom_field: sps.offsetForTopToBottomField,
    num_ref_frames_in_pic_order_cnt_cycle: sps.numRefFramesInPicOrderCntCycle,
    max_num_ref_frames: sps.maxNumRefFrames,
    gaps_in_frame_num_allowed_flag: b(sps.gapsInFrameNumAllowedFlag),
    pic_width_in_mbs_minus1: sps.picWidthInMbsMinus1,
    pic_height_in_map_units_minus1: sps.picHeightInMapUnitsMinus1,
    frame_mbs_only_flag: b(sps.frameMbsOnly),
    mb_adaptive_frame_field_flag: b(sps.mbAdaptiveFrameFieldFlag),
    direct_8x8_inference_flag: b(sps.direct8x8InferenceFlag),
    frame_cropping_flag: b(sps.frameCroppingFlag),
    frame_crop_left_offset: sps.frameCropLeftOffset,
    frame_crop_right_offset: sps.frameCropRightOffset,
    frame_crop_top_offset: sps.frameCropTopOffset,
    frame_crop_bottom_offset: sps.frameCropBottomOffset,
    vui_parameters_present_flag: b(sps.vuiParametersPresentFlag),
  };
  for (let k = 0; k < 6; k++) o[`constraint_set${k}_flag`] = (sps.constraintFlags >> (7 - k)) & 1;
  for (const [i, p] of sps.seqScalingListPresentFlag.entries()) o[`seq_scaling_list_present_flag[${i}]`] = b(p);
  for (const [i, list] of sps.seqScalingLists.entries()) {
    for (const [j, d] of (list?.deltaScale ?? []).entries()) o[`seq_scaling_list[${i}].delta_scale[${j}]`] = d;
  }
  for (const [i, v] of sps.offsetForRefFrame.entries()) o[`offset_for_ref_frame[${i}]`] = v;
  const v = sps.vui;
  if (v) {
    Object.assign(o, {
      aspect_ratio_info_present_flag: b(v.aspectRatioInfoPresentFlag),
      aspect_ratio_idc: v.aspectRatioIdc,
      sar_width: v.sarWidth,
      sar_height: v.sarHeight,
      overscan_info_present_flag: b(v.overscanInfoPresentFlag),
      overscan_appropriate_flag: b(v.overscanAppropriateFlag),
      video_signal_type_present_flag: b(v.videoSignalTypePresentFlag),
      video_format: v.videoFormat,
      video_full_range_flag: b(v.videoFullRangeFlag),
      colour_description_present_flag: b(v.colourDescriptionPresentFlag),
      colour_primaries: v.colourPrimaries,
      transfer_characteristics: v.transferCharacteristics,
      matrix_coefficients: v.matrixCoefficients,
      chroma_loc_info_present_flag: b(v.chromaLocInfoPresentFlag),
      chroma_sample_loc_type_top_field: v.chromaSampleLocTypeTopField,
      chroma_sample_loc_type_bottom_field: v.chromaSampleLocTypeBottomField,
      timing_info_present_flag: b(v.timingInfoPresentFlag),
      num_units_in_tick: v.numUnitsInTick,
      time_scale: v.timeScale,
      fixed_frame_rate_flag: b(v.fixedFrameRateFlag),
      nal_hrd_parameters_present_flag: b(v.nalHrdParametersPresentFlag),
      vcl_hrd_parameters_present_flag: b(v.vclHrdParametersPresentFlag),
      low_delay_hrd_flag: b(v.lowDelayHrdFlag),
      pic_struct_present_flag: b(v.picStructPresentFlag),
      bitstream_restriction_flag: b(v.bitstreamRestrictionFlag),
      motion_vectors_over_pic_boundaries_flag: b(v.motionVectorsOverPicBoundariesFlag),
      max_bytes_per_pic_denom: v.maxBytesPerPicDenom,
      max_bits_per_mb_denom: v.maxBitsPerMbDenom,
      log2_max_mv_length_horizontal: v.log2MaxMvLengthHorizontal,
      log2_max_mv_length_vertical: v.log2MaxMvLengthVertical,
    });
    if (v.maxNumReorderFrames !== null) o.max_num_reorder_frames = v.maxNumReorderFrames;
    if (v.maxDecFrameBuffering !== null) o.max_dec_frame_buffering = v.maxDecFrameBuffering;
    // FFmpeg's trace prints NAL and VCL HRD under the same names; no corpus file has both, the NAL values win here.
    if (v.vclHrd) hrdToRaw(o, v.vclHrd);
    if (v.nalHrd) hrdToRaw(o, v.nalHrd);
  }
  return o;
}

/** A parsed PPS in the naming of GROUND_TRUTH.json's pps_summary. */
export function ppsToRaw(pps: PictureParameterSet): Record<string, number> {
  const tail: Record<string, number> = pps.hasHighProfileTail
    ? {
        transform_8x8_mode_flag: b(pps.transform8x8ModeFlag),
        pic_scaling_matrix_present_flag: b(pps.picScalingMatrixPresentFlag),
      }
    : {};
  return {
    pic_parameter_set_id: pps.ppsId,
    seq_parameter_set_id: pps.spsId,
    entropy_coding_mode_flag: b(pps.entropyCodingModeFlag),
    bottom_field_pic_order_in_frame_present_flag: b(pps.bottomFieldPicOrderInFramePresentFlag),
    num_slice_groups_minus1: pps.numSliceGroupsMinus1,
    num_ref_idx_l0_default_active_minus1: pps.numRefIdxL0DefaultActiveMinus1,
    num_ref_idx_l1_default_active_minus1: pps.numRefIdxL1DefaultActiveMinus1,
    weighted_pred_flag: b(pps.weightedPredFlag),
    weighted_bipred_idc: pps.weightedBipredIdc,
    constrained_intra_pred_flag: b(pps.constrainedIntraPredFlag),
    redundant_pic_cnt_present_flag: b(pps.redundantPicCntPresentFlag),
    ...tail,
  };
}

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes bits MSB first, with Exp-Golomb codes, for building synthetic NAL units. */
export class BitWriter {
  private readonly bits: number[] = [];

  /** Appends `value` as `n` bits. */
  u(n: number, value: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }

  /** Appends a flag. */
  flag(v: boolean | number): this {
    return this.u(1, v ? 1 : 0);
  }

  /** Appends ue(v). */
  ue(value: number): this {
    const v = value + 1;
    const len = Math.floor(Math.log2(v));
    this.u(len, 0);
    return this.u(len + 1, v);
  }

  /** Appends se(v). */
  se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }

  /** Appends rbsp_trailing_bits() and returns the bytes. */
  trailing(): Uint8Array {
    this.bits.push(1);
    while (this.bits.length % 8) this.bits.push(0);
    return this.bytes();
  }

  /** The bits written so far, zero-padded to a byte boundary. */
  bytes(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((bit, i) => {
      if (bit) out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7));
    });
    return out;
  }
}

/** Options of {@link buildSps}: a small 4:2:0 8-bit Baseline/Main SPS. */
export interface SyntheticSps {
  spsId?: number;
  profileIdc?: number;
  log2MaxFrameNumMinus4?: number;
  picOrderCntType?: number;
  log2MaxPicOrderCntLsbMinus4?: number;
  deltaPicOrderAlwaysZeroFlag?: boolean;
  offsetForNonRefPic?: number;
  offsetForTopToBottomField?: number;
  offsetForRefFrame?: number[];
  frameMbsOnly?: boolean;
  widthMbs?: number;
  heightMapUnits?: number;
}

/** Builds an SPS NAL unit (header byte first, emulation prevention applied). */
export function buildSps(o: SyntheticSps = {}): Uint8Array {
  const w = new BitWriter()
    .u(8, o.profileIdc ?? 77)
    .u(8, 0)
    .u(8, 30)
    .ue(o.spsId ?? 0);
  w.ue(o.log2MaxFrameNumMinus4 ?? 0);
  const pocType = o.picOrderCntType ?? 0;
  w.ue(pocType);
  if (pocType === 0) w.ue(o.log2MaxPicOrderCntLsbMinus4 ?? 0);
  if (pocType === 1) {
    w.flag(o.deltaPicOrderAlwaysZeroFlag ?? false)
      .se(o.offsetForNonRefPic ?? 0)
      .se(o.offsetForTopToBottomField ?? 0);
    const offsets = o.offsetForRefFrame ?? [];
    w.ue(offsets.length);
    for (const off of offsets) w.se(off);
  }
  w.ue(1)
    .flag(false)
    .ue((o.widthMbs ?? 2) - 1)
    .ue((o.heightMapUnits ?? 2) - 1);
  const frameMbsOnly = o.frameMbsOnly ?? true;
  w.flag(frameMbsOnly);
  if (!frameMbsOnly) w.flag(false);
  w.flag(true).flag(false).flag(false); // direct_8x8_inference, no cropping, no VUI
  return nalBytes(0x67, w.trailing());
}

/** Options of {@link buildPps}. */
export interface SyntheticPps {
  ppsId?: number;
  spsId?: number;
  bottomFieldPicOrderInFramePresentFlag?: boolean;
  redundantPicCntPresentFlag?: boolean;
}

/** Builds a PPS NAL unit (CAVLC, one slice group, no High-profile tail). */
export function buildPps(o: SyntheticPps = {}): Uint8Array {
  const w = new BitWriter()
    .ue(o.ppsId ?? 0)
    .ue(o.spsId ?? 0)
    .flag(false)
    .flag(o.bottomFieldPicOrderInFramePresentFlag ?? false);
  w.ue(0).ue(0).ue(0).flag(false).u(2, 0).se(0).se(0).se(0);
  w.flag(true)
    .flag(false)
    .flag(o.redundantPicCntPresentFlag ?? false);
  return nalBytes(0x68, w.trailing());
}

/** Options of {@link buildSlice}; the SPS/PPS options must match the ones the slice refers to. */
export interface SyntheticSlice {
  idr?: boolean;
  refIdc?: number;
  firstMb?: number;
  sliceType?: number;
  ppsId?: number;
  frameNum?: number;
  field?: 'top' | 'bottom';
  idrPicId?: number;
  pocLsb?: number;
  deltaPocBottom?: number;
  deltaPoc?: [number, number];
  redundantPicCnt?: number;
  mmco5?: boolean;
  sps?: SyntheticSps;
  pps?: SyntheticPps;
}

/** Builds a slice NAL unit: a real slice header followed by a few filler bytes of "slice data". */
export function buildSlice(o: SyntheticSlice = {}): Uint8Array {
  const sps = o.sps ?? {};
  const pps = o.pps ?? {};
  const idr = o.idr ?? false;
  const refIdc = o.refIdc ?? (idr ? 3 : 2);
  const sliceType = o.sliceType ?? (idr ? 7 : 5);
  const w = new BitWriter()
    .ue(o.firstMb ?? 0)
    .ue(sliceType)
    .ue(o.ppsId ?? pps.ppsId ?? 0);
  w.u((sps.log2MaxFrameNumMinus4 ?? 0) + 4, o.frameNum ?? 0);
  if (sps.frameMbsOnly === false) {
    w.flag(o.field !== undefined);
    if (o.field) w.flag(o.field === 'bottom');
  }
  if (idr) w.ue(o.idrPicId ?? 0);
  const pocType = sps.picOrderCntType ?? 0;
  if (pocType === 0) {
    w.u((sps.log2MaxPicOrderCntLsbMinus4 ?? 0) + 4, o.pocLsb ?? 0);
    if (pps.bottomFieldPicOrderInFramePresentFlag && !o.field) w.se(o.deltaPocBottom ?? 0);
  }
  if (pocType === 1 && !sps.deltaPicOrderAlwaysZeroFlag) {
    w.se(o.deltaPoc?.[0] ?? 0);
    if (pps.bottomFieldPicOrderInFramePresentFlag && !o.field) w.se(o.deltaPoc?.[1] ?? 0);
  }
  if (pps.redundantPicCntPresentFlag) w.ue(o.redundantPicCnt ?? 0);
  const kind = sliceType % 5;
  if (kind === 0 || kind === 3) w.flag(false); // num_ref_idx_active_override_flag
  if (kind === 1) w.flag(true).flag(false); // direct_spatial_mv_pred_flag, override
  if (kind !== 2 && kind !== 4) w.flag(false); // ref_pic_list_modification_flag_l0
  if (kind === 1) w.flag(false); // ..._l1
  if (refIdc !== 0) {
    if (idr) w.flag(false).flag(false);
    else if (o.mmco5) w.flag(true).ue(5).ue(0);
    else w.flag(false);
  }
  w.ue(0); // slice_qp_delta stand-in; the parser stops before it
  const header = w.trailing();
  const body = new Uint8Array(header.length + 4);
  body.set(header);
  body.set([0x5a, 0xa5, 0x5a, 0x80], header.length);
  return nalBytes((refIdc << 5) | (idr ? 5 : 1), body);
}

/** Builds an access unit delimiter NAL unit. */
export function buildAud(primaryPicType = 7): Uint8Array {
  return Uint8Array.of(0x09, (primaryPicType << 5) | 0x10);
}

function nalBytes(header: number, rbsp: Uint8Array): Uint8Array {
  const escaped = rbspToNal(rbsp);
  const out = new Uint8Array(escaped.length + 1);
  out[0] = header;
  out.set(escaped, 1);
  return out;
}

/** Joins NAL units into an Annex-B byte stream with 4-byte start codes. */
export function annexB(nals: Uint8Array[]): Uint8Array {
  const total = nals.reduce((n, x) => n + x.length + 4, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const n of nals) {
    out.set([0, 0, 0, 1], at);
    out.set(n, at + 4);
    at += n.length + 4;
  }
  return out;
}
