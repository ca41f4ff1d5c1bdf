/**
 * Picture parameter set, H.264 (08/2021) clause 7.3.2.2 (syntax) and
 * 7.4.2.2 (semantics), including slice groups (FMO, map types 0..6) and the
 * High-profile tail (transform_8x8_mode_flag, pic_scaling_matrix,
 * second_chroma_qp_index_offset).
 *
 * Syntax elements keep the spec's names in camelCase; flags are booleans.
 */
import { H264Error } from '../errors.js';
import { BitReader } from './bit-reader.js';
import { nalToRbsp } from './rbsp.js';
import { readScalingList, type ScalingList, type SequenceParameterSet } from './sps.js';

/** A parsed picture parameter set. */
export interface PictureParameterSet {
  /** pic_parameter_set_id (0..255). */
  ppsId: number;
  /** seq_parameter_set_id of the SPS it refers to (0..31). */
  spsId: number;
  /** entropy_coding_mode_flag: true = CABAC, false = CAVLC. */
  entropyCodingModeFlag: boolean;
  /** bottom_field_pic_order_in_frame_present_flag (formerly pic_order_present_flag). */
  bottomFieldPicOrderInFramePresentFlag: boolean;
  numSliceGroupsMinus1: number;
  /** slice_group_map_type (0..6), 0 when there is one slice group. */
  sliceGroupMapType: number;
  /** run_length_minus1[iGroup] (map type 0). */
  runLengthMinus1: number[];
  /** top_left[iGroup] / bottom_right[iGroup] (map type 2). */
  topLeft: number[];
  bottomRight: number[];
  /** slice_group_change_direction_flag and slice_group_change_rate_minus1 (map types 3..5). */
  sliceGroupChangeDirectionFlag: boolean;
  sliceGroupChangeRateMinus1: number;
  /** pic_size_in_map_units_minus1 and slice_group_id[i] (map type 6). */
  picSizeInMapUnitsMinus1: number;
  sliceGroupId: number[];
  numRefIdxL0DefaultActiveMinus1: number;
  numRefIdxL1DefaultActiveMinus1: number;
  weightedPredFlag: boolean;
  /** weighted_bipred_idc (0..2). */
  weightedBipredIdc: number;
  picInitQpMinus26: number;
  picInitQsMinus26: number;
  chromaQpIndexOffset: number;
  deblockingFilterControlPresentFlag: boolean;
  constrainedIntraPredFlag: boolean;
  redundantPicCntPresentFlag: boolean;
  /** True when the High-profile tail (transform_8x8_mode_flag onwards) was present. */
  hasHighProfileTail: boolean;
  transform8x8ModeFlag: boolean;
  picScalingMatrixPresentFlag: boolean;
  /** pic_scaling_list_present_flag[i]; empty when no matrix is coded. */
  picScalingListPresentFlag: boolean[];
  /** The coded lists, null where pic_scaling_list_present_flag[i] is 0. */
  picScalingLists: (ScalingList | null)[];
  /** second_chroma_qp_index_offset; equals chromaQpIndexOffset when the tail is absent. */
  secondChromaQpIndexOffset: number;
}

/**
 * Parses a PPS NAL unit (header byte first, nal_unit_type 8). `getSps` looks
 * up the referenced SPS: its chroma_format_idc decides how many scaling
 * lists the High-profile tail carries (when it is not available yet, 4:2:0
 * is assumed, which only matters for a 4:4:4 PPS with 8x8 scaling lists).
 * Throws H264Error (`ERR_H264_TRUNCATED`, `ERR_H264_INVALID`).
 */
export function parsePps(
  nal: Uint8Array,
  getSps: (id: number) => SequenceParameterSet | undefined,
): PictureParameterSet {
  const type = (nal[0] ?? 0) & 0x1f;
  if (type !== 8) {
    throw new H264Error('ERR_H264_INVALID', `not a picture parameter set (nal_unit_type ${type}, ${nal.length} bytes)`);
  }
  const r = new BitReader(nalToRbsp(nal.subarray(1)));
  const ppsId = r.readUE();
  if (ppsId > 255) throw new H264Error('ERR_H264_INVALID', `pic_parameter_set_id ${ppsId} > 255`);
  const spsId = r.readUE();
  if (spsId > 31) throw new H264Error('ERR_H264_INVALID', `seq_parameter_set_id ${spsId} > 31`);
  const entropyCodingModeFlag = r.readFlag();
  const bottomFieldPicOrderInFramePresentFlag = r.readFlag();
  const numSliceGroupsMinus1 = r.readUE();
  if (numSliceGroupsMinus1 > 7)
    throw new H264Error('ERR_H264_INVALID', `num_slice_groups_minus1 ${numSliceGroupsMinus1} > 7`);
  let sliceGroupMapType = 0;
  const runLengthMinus1: number[] = [];
  const topLeft: number[] = [];
  const bottomRight: number[] = [];
  let sliceGroupChangeDirectionFlag = false;
  let sliceGroupChangeRateMinus1 = 0;
  let picSizeInMapUnitsMinus1 = 0;
  const sliceGroupId: number[] = [];
  if (numSliceGroupsMinus1 > 0) {
    sliceGroupMapType = r.readUE();
    if (sliceGroupMapType > 6) throw new H264Error('ERR_H264_INVALID', `slice_group_map_type ${sliceGroupMapType} > 6`);
    if (sliceGroupMapType === 0) {
      for (let i = 0; i <= numSliceGroupsMinus1; i++) runLengthMinus1.push(r.readUE());
    } else if (sliceGroupMapType === 2) {
      for (let i = 0; i < numSliceGroupsMinus1; i++) {
        topLeft.push(r.readUE());
        bottomRight.push(r.readUE());
      }
    } else if (sliceGroupMapType >= 3 && sliceGroupMapType <= 5) {
      sliceGroupChangeDirectionFlag = r.readFlag();
      sliceGroupChangeRateMinus1 = r.readUE();
    } else if (sliceGroupMapType === 6) {
      picSizeInMapUnitsMinus1 = r.readUE();
      // One id per map unit; bounded by the bits actually present.
      const bits = Math.ceil(Math.log2(numSliceGroupsMinus1 + 1));
      if ((picSizeInMapUnitsMinus1 + 1) * bits > r.bitsLeft) {
        throw new H264Error(
          'ERR_H264_TRUNCATED',
          `slice_group_id list of ${picSizeInMapUnitsMinus1 + 1} entries exceeds the PPS`,
        );
      }
      for (let i = 0; i <= picSizeInMapUnitsMinus1; i++) sliceGroupId.push(r.readBits(bits));
    }
  }
  const numRefIdxL0DefaultActiveMinus1 = r.readUE();
  const numRefIdxL1DefaultActiveMinus1 = r.readUE();
  if (numRefIdxL0DefaultActiveMinus1 > 31 || numRefIdxL1DefaultActiveMinus1 > 31) {
    throw new H264Error('ERR_H264_INVALID', 'num_ref_idx_lX_default_active_minus1 > 31');
  }
  const weightedPredFlag = r.readFlag();
  const weightedBipredIdc = r.readBits(2);
  if (weightedBipredIdc > 2) throw new H264Error('ERR_H264_INVALID', 'weighted_bipred_idc 3 is reserved');
  const picInitQpMinus26 = r.readSE();
  const picInitQsMinus26 = r.readSE();
  const chromaQpIndexOffset = r.readSE();
  const deblockingFilterControlPresentFlag = r.readFlag();
  const constrainedIntraPredFlag = r.readFlag();
  const redundantPicCntPresentFlag = r.readFlag();

  let hasHighProfileTail = false;
  let transform8x8ModeFlag = false;
  let picScalingMatrixPresentFlag = false;
  const picScalingListPresentFlag: boolean[] = [];
  const picScalingLists: (ScalingList | null)[] = [];
  let secondChromaQpIndexOffset = chromaQpIndexOffset;
  if (r.moreRbspData()) {
    hasHighProfileTail = true;
    transform8x8ModeFlag = r.readFlag();
    picScalingMatrixPresentFlag = r.readFlag();
    if (picScalingMatrixPresentFlag) {
      const chromaFormatIdc = getSps(spsId)?.chromaFormatIdc ?? 1;
      const count = 6 + (chromaFormatIdc !== 3 ? 2 : 6) * (transform8x8ModeFlag ? 1 : 0);
      for (let i = 0; i < count; i++) {
        const present = r.readFlag();
        picScalingListPresentFlag.push(present);
        picScalingLists.push(present ? readScalingList(r, i < 6 ? 16 : 64) : null);
      }
    }
    secondChromaQpIndexOffset = r.readSE();
  }

  return {
    ppsId,
    spsId,
    entropyCodingModeFlag,
    bottomFieldPicOrderInFramePresentFlag,
    numSliceGroupsMinus1,
    sliceGroupMapType,
    runLengthMinus1,
    topLeft,
    bottomRight,
    sliceGroupChangeDirectionFlag,
    sliceGroupChangeRateMinus1,
    picSizeInMapUnitsMinus1,
    sliceGroupId,
    numRefIdxL0DefaultActiveMinus1,
    numRefIdxL1DefaultActiveMinus1,
    weightedPredFlag,
    weightedBipredIdc,
    picInitQpMinus26,
    picInitQsMinus26,
    chromaQpIndexOffset,
    deblockingFilterControlPresentFlag,
    constrainedIntraPredFlag,
    redundantPicCntPresentFlag,
    hasHighProfileTail,
    transform8x8ModeFlag,
    picScalingMatrixPresentFlag,
    picScalingListPresentFlag,
    picScalingLists,
    secondChromaQpIndexOffset,
  };
}
