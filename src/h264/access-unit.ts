/**
 * An access unit: the NAL units of one primary coded picture (a frame, or
 * one field of a field pair) plus the non-VCL NAL units that precede it.
 * H.264 clause 7.4.1.2.3.
 */
import type { NalUnit } from './nal-unit.js';
import type { PictureParameterSet } from './pps.js';
import type { SequenceParameterSet } from './sps.js';

/** slice_type % 5, Table 7-6. */
export const SliceType = { P: 0, B: 1, I: 2, SP: 3, SI: 4 } as const;

/** One access unit as produced by the AccessUnitAssembler. */
export interface AccessUnit {
  /** NAL units in decode order, without start codes, exactly as received (AUD, SPS, PPS, SEI included). */
  nals: NalUnit[];
  /** True when the primary picture is an IDR picture (nal_unit_type 5): decoding can start here. */
  isKey: boolean;
  /** slice_type % 5 of each slice of the primary picture, in order (see SliceType). */
  sliceTypes: number[];
  /** Picture order count of the primary picture (clause 8.2.1), null when its SPS/PPS were not available. */
  poc: number | null;
  /** 'frame', or the field for a field picture. */
  structure: 'frame' | 'top' | 'bottom';
  /** SPS and PPS active for this access unit, when known. */
  sps: SequenceParameterSet | undefined;
  pps: PictureParameterSet | undefined;
  /** Stream byte offset of the first NAL unit's start code. */
  offset: number;
  /** Bytes the access unit occupied in the input stream (start codes and NAL data, trailing zeros excluded). */
  byteLength: number;
  /** nal_ref_idc of the primary picture is non-zero (other pictures may reference it). Set by AccessUnitAssembler. */
  isReference?: boolean;
  /** frame_num of the primary picture, null when its slice header could not be read. Set by AccessUnitAssembler. */
  frameNum?: number | null;
  /**
   * The picture starts a new picture-order-count epoch (IDR, or memory_management_control_operation 5):
   * `poc` values before and after it are not comparable. Set by AccessUnitAssembler.
   */
  pocReset?: boolean;
}
