/**
 * Sequence parameter set, H.264 (08/2021) clause 7.3.2.1.1 (syntax) and
 * 7.4.2.1.1 (semantics); scaling lists 7.3.2.1.1.1; VUI and HRD in Annex
 * E.1.1 / E.1.2; profile and level names from Annex A.
 *
 * Syntax elements keep the spec's names in camelCase (`log2MaxFrameNumMinus4`
 * for log2_max_frame_num_minus4); derived values (display size, frame rate)
 * are added beside them. Flags are booleans.
 */
import { H264Error } from '../errors.js';
import { BitReader } from './bit-reader.js';
import { nalToRbsp } from './rbsp.js';

/** One scaling list as coded (clause 7.3.2.1.1.1). */
export interface ScalingList {
  /** delta_scale values in coding order, as many as were coded (coding stops when nextScale becomes 0). */
  deltaScale: number[];
  /** UseDefaultScalingMatrixFlag: the list selects the default matrix (Table 7-3/7-4). */
  useDefaultScalingMatrix: boolean;
  /** The 16 or 64 resulting scaling factors in zig-zag order (before default/fall-back substitution). */
  list: number[];
}

/** hrd_parameters(), Annex E.1.2. */
export interface HrdParameters {
  cpbCntMinus1: number;
  bitRateScale: number;
  cpbSizeScale: number;
  /** bit_rate_value_minus1[SchedSelIdx], one per CPB. */
  bitRateValueMinus1: number[];
  /** cpb_size_value_minus1[SchedSelIdx]. */
  cpbSizeValueMinus1: number[];
  /** cbr_flag[SchedSelIdx]. */
  cbrFlag: boolean[];
  initialCpbRemovalDelayLengthMinus1: number;
  cpbRemovalDelayLengthMinus1: number;
  dpbOutputDelayLengthMinus1: number;
  timeOffsetLength: number;
}

/** vui_parameters(), Annex E.1.1. Fields of absent groups hold the spec's inferred defaults. */
export interface VuiParameters {
  aspectRatioInfoPresentFlag: boolean;
  /** aspect_ratio_idc (Table E-1); 255 = Extended_SAR with sarWidth/sarHeight. 0 when absent. */
  aspectRatioIdc: number;
  /** sar_width / sar_height as coded for Extended_SAR (0 otherwise). */
  sarWidth: number;
  sarHeight: number;
  overscanInfoPresentFlag: boolean;
  overscanAppropriateFlag: boolean;
  videoSignalTypePresentFlag: boolean;
  /** video_format (Table E-2), default 5 (unspecified). */
  videoFormat: number;
  videoFullRangeFlag: boolean;
  colourDescriptionPresentFlag: boolean;
  /** colour_primaries / transfer_characteristics / matrix_coefficients (Tables E-3..E-5), default 2 (unspecified). */
  colourPrimaries: number;
  transferCharacteristics: number;
  matrixCoefficients: number;
  chromaLocInfoPresentFlag: boolean;
  chromaSampleLocTypeTopField: number;
  chromaSampleLocTypeBottomField: number;
  /** Bit position of timing_info_present_flag in the RBSP after the NAL header byte (spsWithTiming rewrites from there). */
  timingInfoBit: number;
  timingInfoPresentFlag: boolean;
  /** Ticks: the frame rate is timeScale / (2 * numUnitsInTick) for progressive content. 0 when absent. */
  numUnitsInTick: number;
  timeScale: number;
  fixedFrameRateFlag: boolean;
  nalHrdParametersPresentFlag: boolean;
  nalHrd: HrdParameters | null;
  vclHrdParametersPresentFlag: boolean;
  vclHrd: HrdParameters | null;
  /** low_delay_hrd_flag, present only with NAL or VCL HRD parameters. */
  lowDelayHrdFlag: boolean;
  picStructPresentFlag: boolean;
  bitstreamRestrictionFlag: boolean;
  motionVectorsOverPicBoundariesFlag: boolean;
  maxBytesPerPicDenom: number;
  maxBitsPerMbDenom: number;
  log2MaxMvLengthHorizontal: number;
  log2MaxMvLengthVertical: number;
  /** max_num_reorder_frames: frames that may precede any frame in decode order and follow it in output order (null when not coded). */
  maxNumReorderFrames: number | null;
  /** max_dec_frame_buffering in frames (null when not coded). */
  maxDecFrameBuffering: number | null;
}

/** A parsed sequence parameter set. Sizes in pixels, after cropping unless named coded*. */
export interface SequenceParameterSet {
  /** seq_parameter_set_id (0..31). */
  spsId: number;
  profileIdc: number;
  /** constraint_set0..5 flags and reserved bits: the byte after profile_idc (constraint_set0_flag is bit 7). */
  constraintFlags: number;
  levelIdc: number;
  /** chroma_format_idc: 0 monochrome, 1 4:2:0 (inferred when absent), 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc: number;
  /** Bit depths in bits (bit_depth_*_minus8 + 8). */
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** Display size after frame cropping. */
  width: number;
  height: number;
  /** Size of the decoded picture before cropping (macroblock multiple). */
  codedWidth: number;
  codedHeight: number;
  /** frame_mbs_only_flag: false when the sequence may contain fields or MBAFF frames. */
  frameMbsOnly: boolean;
  /** Sample aspect ratio from VUI, null when absent/unspecified. */
  sar: [number, number] | null;
  /** Frame rate from VUI timing (time_scale / (2 * num_units_in_tick)), null without timing info. */
  fps: number | null;

  // ---- syntax elements, in spec order ----
  separateColourPlaneFlag: boolean;
  bitDepthLumaMinus8: number;
  bitDepthChromaMinus8: number;
  qpprimeYZeroTransformBypassFlag: boolean;
  seqScalingMatrixPresentFlag: boolean;
  /** seq_scaling_list_present_flag[i] for i = 0..7 (or 0..11 for 4:4:4); empty when no matrix is coded. */
  seqScalingListPresentFlag: boolean[];
  /** The coded lists, null where seq_scaling_list_present_flag[i] is 0 (fall-back rule A applies). */
  seqScalingLists: (ScalingList | null)[];
  log2MaxFrameNumMinus4: number;
  picOrderCntType: number;
  log2MaxPicOrderCntLsbMinus4: number;
  deltaPicOrderAlwaysZeroFlag: boolean;
  offsetForNonRefPic: number;
  offsetForTopToBottomField: number;
  numRefFramesInPicOrderCntCycle: number;
  /** offset_for_ref_frame[i], numRefFramesInPicOrderCntCycle entries. */
  offsetForRefFrame: number[];
  maxNumRefFrames: number;
  gapsInFrameNumAllowedFlag: boolean;
  picWidthInMbsMinus1: number;
  picHeightInMapUnitsMinus1: number;
  mbAdaptiveFrameFieldFlag: boolean;
  direct8x8InferenceFlag: boolean;
  frameCroppingFlag: boolean;
  /** frame_crop_*_offset in crop units (CropUnitX / CropUnitY samples each). */
  frameCropLeftOffset: number;
  frameCropRightOffset: number;
  frameCropTopOffset: number;
  frameCropBottomOffset: number;
  /** Bit position of vui_parameters_present_flag in the RBSP after the NAL header byte (spsWithTiming writes there). */
  vuiBit: number;
  vuiParametersPresentFlag: boolean;
  /** VUI, null when vui_parameters_present_flag is 0. */
  vui: VuiParameters | null;

  // ---- derived ----
  /** MaxFrameNum = 2^(log2_max_frame_num_minus4 + 4). */
  maxFrameNum: number;
  /** MaxPicOrderCntLsb = 2^(log2_max_pic_order_cnt_lsb_minus4 + 4) (POC type 0). */
  maxPicOrderCntLsb: number;
  /** ChromaArrayType: 0 when separate_colour_plane_flag, else chroma_format_idc. */
  chromaArrayType: number;
  /** Cropping in luma samples (CropUnitX/Y applied); all 0 when the coded cropping would leave no picture. */
  crop: { left: number; right: number; top: number; bottom: number };
}

/** True for the profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (7.3.2.1.1). */
export function hasHighProfileFields(profileIdc: number): boolean {
  return [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc);
}

/** Table E-1: sample aspect ratios for aspect_ratio_idc 1..16. */
const SAR_TABLE: ReadonlyArray<readonly [number, number]> = [
  [0, 0],
  [1, 1],
  [12, 11],
  [10, 11],
  [16, 11],
  [40, 33],
  [24, 11],
  [20, 11],
  [32, 11],
  [80, 33],
  [18, 11],
  [15, 11],
  [64, 33],
  [160, 99],
  [4, 3],
  [3, 2],
  [2, 1],
];

const EXTENDED_SAR = 255;

/**
 * Parses an SPS NAL unit (header byte first, emulation prevention in place;
 * nal_unit_type 7, or 15 for the seq_parameter_set_data() at the start of a
 * subset SPS). Throws H264Error (`ERR_H264_TRUNCATED`, `ERR_H264_INVALID`).
 */
export function parseSps(nal: Uint8Array): SequenceParameterSet {
  const type = (nal[0] ?? 0) & 0x1f;
  if (type !== 7 && type !== 15) {
    throw new H264Error(
      'ERR_H264_INVALID',
      `not a sequence parameter set (nal_unit_type ${type}, ${nal.length} bytes)`,
    );
  }
  const r = new BitReader(nalToRbsp(nal.subarray(1)));
  const profileIdc = r.readBits(8);
  const constraintFlags = r.readBits(8);
  const levelIdc = r.readBits(8);
  const spsId = r.readUE();
  if (spsId > 31) throw new H264Error('ERR_H264_INVALID', `seq_parameter_set_id ${spsId} > 31`);

  let chromaFormatIdc = 1;
  let separateColourPlaneFlag = false;
  let bitDepthLumaMinus8 = 0;
  let bitDepthChromaMinus8 = 0;
  let qpprimeYZeroTransformBypassFlag = false;
  let seqScalingMatrixPresentFlag = false;
  const seqScalingListPresentFlag: boolean[] = [];
  const seqScalingLists: (ScalingList | null)[] = [];
  if (hasHighProfileFields(profileIdc)) {
    chromaFormatIdc = r.readUE();
    if (chromaFormatIdc > 3) throw new H264Error('ERR_H264_INVALID', `chroma_format_idc ${chromaFormatIdc} > 3`);
    if (chromaFormatIdc === 3) separateColourPlaneFlag = r.readFlag();
    bitDepthLumaMinus8 = r.readUE();
    bitDepthChromaMinus8 = r.readUE();
    if (bitDepthLumaMinus8 > 6 || bitDepthChromaMinus8 > 6) {
      throw new H264Error(
        'ERR_H264_INVALID',
        `bit depth out of range (luma ${bitDepthLumaMinus8 + 8}, chroma ${bitDepthChromaMinus8 + 8})`,
      );
    }
    qpprimeYZeroTransformBypassFlag = r.readFlag();
    seqScalingMatrixPresentFlag = r.readFlag();
    if (seqScalingMatrixPresentFlag) {
      const count = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < count; i++) {
        const present = r.readFlag();
        seqScalingListPresentFlag.push(present);
        seqScalingLists.push(present ? readScalingList(r, i < 6 ? 16 : 64) : null);
      }
    }
  }

  const log2MaxFrameNumMinus4 = r.readUE();
  if (log2MaxFrameNumMinus4 > 12)
    throw new H264Error('ERR_H264_INVALID', `log2_max_frame_num_minus4 ${log2MaxFrameNumMinus4} > 12`);
  const picOrderCntType = r.readUE();
  if (picOrderCntType > 2) throw new H264Error('ERR_H264_INVALID', `pic_order_cnt_type ${picOrderCntType} > 2`);
  let log2MaxPicOrderCntLsbMinus4 = 0;
  let deltaPicOrderAlwaysZeroFlag = false;
  let offsetForNonRefPic = 0;
  let offsetForTopToBottomField = 0;
  let numRefFramesInPicOrderCntCycle = 0;
  const offsetForRefFrame: number[] = [];
  if (picOrderCntType === 0) {
    log2MaxPicOrderCntLsbMinus4 = r.readUE();
    if (log2MaxPicOrderCntLsbMinus4 > 12) {
      throw new H264Error('ERR_H264_INVALID', `log2_max_pic_order_cnt_lsb_minus4 ${log2MaxPicOrderCntLsbMinus4} > 12`);
    }
  } else if (picOrderCntType === 1) {
    deltaPicOrderAlwaysZeroFlag = r.readFlag();
    offsetForNonRefPic = r.readSE();
    offsetForTopToBottomField = r.readSE();
    numRefFramesInPicOrderCntCycle = r.readUE();
    if (numRefFramesInPicOrderCntCycle > 255) {
      throw new H264Error(
        'ERR_H264_INVALID',
        `num_ref_frames_in_pic_order_cnt_cycle ${numRefFramesInPicOrderCntCycle} > 255`,
      );
    }
    for (let i = 0; i < numRefFramesInPicOrderCntCycle; i++) offsetForRefFrame.push(r.readSE());
  }
  const maxNumRefFrames = r.readUE();
  const gapsInFrameNumAllowedFlag = r.readFlag();
  const picWidthInMbsMinus1 = r.readUE();
  const picHeightInMapUnitsMinus1 = r.readUE();
  // Level 6.2 allows 139264 macroblocks (at most ~1055 across); 4096 (65536 pixels) is surely corrupt.
  if (picWidthInMbsMinus1 > 4095 || picHeightInMapUnitsMinus1 > 4095) {
    throw new H264Error(
      'ERR_H264_INVALID',
      `picture size ${picWidthInMbsMinus1 + 1}x${picHeightInMapUnitsMinus1 + 1} macroblocks is out of range`,
    );
  }
  const frameMbsOnly = r.readFlag();
  const mbAdaptiveFrameFieldFlag = frameMbsOnly ? false : r.readFlag();
  const direct8x8InferenceFlag = r.readFlag();
  const frameCroppingFlag = r.readFlag();
  let frameCropLeftOffset = 0;
  let frameCropRightOffset = 0;
  let frameCropTopOffset = 0;
  let frameCropBottomOffset = 0;
  if (frameCroppingFlag) {
    frameCropLeftOffset = r.readUE();
    frameCropRightOffset = r.readUE();
    frameCropTopOffset = r.readUE();
    frameCropBottomOffset = r.readUE();
  }
  const vuiBit = r.bitPosition;
  const vuiParametersPresentFlag = r.readFlag();
  const vui = vuiParametersPresentFlag ? readVui(r) : null;

  // Derived values, 7.4.2.1.1.
  const chromaArrayType = separateColourPlaneFlag ? 0 : chromaFormatIdc;
  const subWidthC = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
  const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
  const frameHeightFactor = frameMbsOnly ? 1 : 2;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * frameHeightFactor;
  const codedWidth = (picWidthInMbsMinus1 + 1) * 16;
  const codedHeight = (picHeightInMapUnitsMinus1 + 1) * 16 * frameHeightFactor;
  let crop = {
    left: frameCropLeftOffset * cropUnitX,
    right: frameCropRightOffset * cropUnitX,
    top: frameCropTopOffset * cropUnitY,
    bottom: frameCropBottomOffset * cropUnitY,
  };
  // Cropping that leaves no picture is ignored (as FFmpeg does) rather than making the SPS unusable.
  if (crop.left + crop.right >= codedWidth || crop.top + crop.bottom >= codedHeight)
    crop = { left: 0, right: 0, top: 0, bottom: 0 };

  let sar: [number, number] | null = null;
  let fps: number | null = null;
  if (vui) {
    if (vui.aspectRatioInfoPresentFlag) {
      if (vui.aspectRatioIdc === EXTENDED_SAR) {
        if (vui.sarWidth > 0 && vui.sarHeight > 0) sar = [vui.sarWidth, vui.sarHeight];
      } else {
        const entry = SAR_TABLE[vui.aspectRatioIdc];
        if (entry && entry[0] > 0) sar = [entry[0], entry[1]];
      }
    }
    if (vui.timingInfoPresentFlag && vui.numUnitsInTick > 0 && vui.timeScale > 0) {
      fps = vui.timeScale / (2 * vui.numUnitsInTick);
    }
  }

  return {
    spsId,
    profileIdc,
    constraintFlags,
    levelIdc,
    chromaFormatIdc,
    bitDepthLuma: bitDepthLumaMinus8 + 8,
    bitDepthChroma: bitDepthChromaMinus8 + 8,
    width: codedWidth - crop.left - crop.right,
    height: codedHeight - crop.top - crop.bottom,
    codedWidth,
    codedHeight,
    frameMbsOnly,
    sar,
    fps,
    separateColourPlaneFlag,
    bitDepthLumaMinus8,
    bitDepthChromaMinus8,
    qpprimeYZeroTransformBypassFlag,
    seqScalingMatrixPresentFlag,
    seqScalingListPresentFlag,
    seqScalingLists,
    log2MaxFrameNumMinus4,
    picOrderCntType,
    log2MaxPicOrderCntLsbMinus4,
    deltaPicOrderAlwaysZeroFlag,
    offsetForNonRefPic,
    offsetForTopToBottomField,
    numRefFramesInPicOrderCntCycle,
    offsetForRefFrame,
    maxNumRefFrames,
    gapsInFrameNumAllowedFlag,
    picWidthInMbsMinus1,
    picHeightInMapUnitsMinus1,
    mbAdaptiveFrameFieldFlag,
    direct8x8InferenceFlag,
    frameCroppingFlag,
    frameCropLeftOffset,
    frameCropRightOffset,
    frameCropTopOffset,
    frameCropBottomOffset,
    vuiBit,
    vuiParametersPresentFlag,
    vui,
    maxFrameNum: 2 ** (log2MaxFrameNumMinus4 + 4),
    maxPicOrderCntLsb: 2 ** (log2MaxPicOrderCntLsbMinus4 + 4),
    chromaArrayType,
    crop,
  };
}

/** scaling_list() of clause 7.3.2.1.1.1, `size` 16 or 64. Shared with the PPS parser. */
export function readScalingList(r: BitReader, size: number): ScalingList {
  const deltaScale: number[] = [];
  const list: number[] = new Array<number>(size);
  let lastScale = 8;
  let nextScale = 8;
  let useDefaultScalingMatrix = false;
  for (let j = 0; j < size; j++) {
    if (nextScale !== 0) {
      const delta = r.readSE();
      if (delta < -128 || delta > 127) throw new H264Error('ERR_H264_INVALID', `delta_scale ${delta} out of range`);
      deltaScale.push(delta);
      nextScale = (lastScale + delta + 256) % 256;
      useDefaultScalingMatrix = j === 0 && nextScale === 0;
    }
    list[j] = nextScale === 0 ? lastScale : nextScale;
    lastScale = list[j] as number;
  }
  return { deltaScale, useDefaultScalingMatrix, list };
}

function readHrd(r: BitReader): HrdParameters {
  const cpbCntMinus1 = r.readUE();
  if (cpbCntMinus1 > 31) throw new H264Error('ERR_H264_INVALID', `cpb_cnt_minus1 ${cpbCntMinus1} > 31`);
  const bitRateScale = r.readBits(4);
  const cpbSizeScale = r.readBits(4);
  const bitRateValueMinus1: number[] = [];
  const cpbSizeValueMinus1: number[] = [];
  const cbrFlag: boolean[] = [];
  for (let i = 0; i <= cpbCntMinus1; i++) {
    bitRateValueMinus1.push(r.readUE());
    cpbSizeValueMinus1.push(r.readUE());
    cbrFlag.push(r.readFlag());
  }
  return {
    cpbCntMinus1,
    bitRateScale,
    cpbSizeScale,
    bitRateValueMinus1,
    cpbSizeValueMinus1,
    cbrFlag,
    initialCpbRemovalDelayLengthMinus1: r.readBits(5),
    cpbRemovalDelayLengthMinus1: r.readBits(5),
    dpbOutputDelayLengthMinus1: r.readBits(5),
    timeOffsetLength: r.readBits(5),
  };
}

function readVui(r: BitReader): VuiParameters {
  const v: VuiParameters = {
    aspectRatioInfoPresentFlag: false,
    aspectRatioIdc: 0,
    sarWidth: 0,
    sarHeight: 0,
    overscanInfoPresentFlag: false,
    overscanAppropriateFlag: false,
    videoSignalTypePresentFlag: false,
    videoFormat: 5,
    videoFullRangeFlag: false,
    colourDescriptionPresentFlag: false,
    colourPrimaries: 2,
    transferCharacteristics: 2,
    matrixCoefficients: 2,
    chromaLocInfoPresentFlag: false,
    chromaSampleLocTypeTopField: 0,
    chromaSampleLocTypeBottomField: 0,
    timingInfoBit: 0,
    timingInfoPresentFlag: false,
    numUnitsInTick: 0,
    timeScale: 0,
    fixedFrameRateFlag: false,
    nalHrdParametersPresentFlag: false,
    nalHrd: null,
    vclHrdParametersPresentFlag: false,
    vclHrd: null,
    lowDelayHrdFlag: false,
    picStructPresentFlag: false,
    bitstreamRestrictionFlag: false,
    motionVectorsOverPicBoundariesFlag: true,
    maxBytesPerPicDenom: 2,
    maxBitsPerMbDenom: 1,
    log2MaxMvLengthHorizontal: 15,
    log2MaxMvLengthVertical: 15,
    maxNumReorderFrames: null,
    maxDecFrameBuffering: null,
  };
  v.aspectRatioInfoPresentFlag = r.readFlag();
  if (v.aspectRatioInfoPresentFlag) {
    v.aspectRatioIdc = r.readBits(8);
    if (v.aspectRatioIdc === EXTENDED_SAR) {
      v.sarWidth = r.readBits(16);
      v.sarHeight = r.readBits(16);
    }
  }
  v.overscanInfoPresentFlag = r.readFlag();
  if (v.overscanInfoPresentFlag) v.overscanAppropriateFlag = r.readFlag();
  v.videoSignalTypePresentFlag = r.readFlag();
  if (v.videoSignalTypePresentFlag) {
    v.videoFormat = r.readBits(3);
    v.videoFullRangeFlag = r.readFlag();
    v.colourDescriptionPresentFlag = r.readFlag();
    if (v.colourDescriptionPresentFlag) {
      v.colourPrimaries = r.readBits(8);
      v.transferCharacteristics = r.readBits(8);
      v.matrixCoefficients = r.readBits(8);
    }
  }
  v.chromaLocInfoPresentFlag = r.readFlag();
  if (v.chromaLocInfoPresentFlag) {
    v.chromaSampleLocTypeTopField = r.readUE();
    v.chromaSampleLocTypeBottomField = r.readUE();
  }
  v.timingInfoBit = r.bitPosition;
  v.timingInfoPresentFlag = r.readFlag();
  if (v.timingInfoPresentFlag) {
    v.numUnitsInTick = r.readBits(32);
    v.timeScale = r.readBits(32);
    v.fixedFrameRateFlag = r.readFlag();
  }
  v.nalHrdParametersPresentFlag = r.readFlag();
  if (v.nalHrdParametersPresentFlag) v.nalHrd = readHrd(r);
  v.vclHrdParametersPresentFlag = r.readFlag();
  if (v.vclHrdParametersPresentFlag) v.vclHrd = readHrd(r);
  if (v.nalHrdParametersPresentFlag || v.vclHrdParametersPresentFlag) v.lowDelayHrdFlag = r.readFlag();
  v.picStructPresentFlag = r.readFlag();
  v.bitstreamRestrictionFlag = r.readFlag();
  if (v.bitstreamRestrictionFlag) {
    v.motionVectorsOverPicBoundariesFlag = r.readFlag();
    v.maxBytesPerPicDenom = r.readUE();
    v.maxBitsPerMbDenom = r.readUE();
    v.log2MaxMvLengthHorizontal = r.readUE();
    v.log2MaxMvLengthVertical = r.readUE();
    v.maxNumReorderFrames = r.readUE();
    v.maxDecFrameBuffering = r.readUE();
  }
  return v;
}

/** True when constraint_set`k`_flag (k = 0..5) is set in a constraintFlags byte. */
export function constraintSet(constraintFlags: number, k: number): boolean {
  return ((constraintFlags >> (7 - k)) & 1) === 1;
}

/**
 * Profile name as FFmpeg prints it (Annex A): "Constrained Baseline",
 * "Baseline", "Main", "Extended", "High", "High 10", "High 10 Intra",
 * "High 4:2:2", "High 4:2:2 Intra", "High 4:4:4 Predictive",
 * "High 4:4:4 Intra", "CAVLC 4:4:4", "Multiview High", "Stereo High", ...;
 * `Unknown (n)` otherwise.
 */
export function profileName(profileIdc: number, constraintFlags: number): string {
  const cs1 = constraintSet(constraintFlags, 1);
  const cs3 = constraintSet(constraintFlags, 3);
  switch (profileIdc) {
    case 66:
      return cs1 ? 'Constrained Baseline' : 'Baseline';
    case 77:
      return 'Main';
    case 88:
      return 'Extended';
    case 100:
      return 'High';
    case 110:
      return cs3 ? 'High 10 Intra' : 'High 10';
    case 122:
      return cs3 ? 'High 4:2:2 Intra' : 'High 4:2:2';
    case 244:
      return cs3 ? 'High 4:4:4 Intra' : 'High 4:4:4 Predictive';
    case 44:
      return 'CAVLC 4:4:4';
    case 83:
      return 'Scalable Baseline';
    case 86:
      return 'Scalable High';
    case 118:
      return 'Multiview High';
    case 128:
      return 'Stereo High';
    case 138:
      return 'Multiview Depth High';
    default:
      return `Unknown (${profileIdc})`;
  }
}

/**
 * Level name as "1b", "3.1", "4.0" (Table A-1). Level 1b is level_idc 9, or
 * level_idc 11 with constraint_set3_flag in Baseline, Main and Extended
 * profiles; pass `profileIdc` to rule it out for other profiles (without it,
 * level_idc 11 + constraint_set3_flag is taken as 1b).
 */
export function levelName(levelIdc: number, constraintFlags: number, profileIdc?: number): string {
  if (levelIdc === 9) return '1b';
  if (levelIdc === 11 && constraintSet(constraintFlags, 3)) {
    if (profileIdc === undefined || profileIdc === 66 || profileIdc === 77 || profileIdc === 88) return '1b';
  }
  return (levelIdc / 10).toFixed(1);
}
