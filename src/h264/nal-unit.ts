/**
 * NAL unit header and types. H.264 (08/2021) clause 7.3.1 (nal_unit syntax)
 * and Table 7-1 (nal_unit_type codes).
 */

/** nal_unit_type values, Table 7-1. */
export const NalUnitType = {
  UNSPECIFIED: 0,
  SLICE_NON_IDR: 1,
  SLICE_PARTITION_A: 2,
  SLICE_PARTITION_B: 3,
  SLICE_PARTITION_C: 4,
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
  END_OF_SEQUENCE: 10,
  END_OF_STREAM: 11,
  FILLER: 12,
  SPS_EXTENSION: 13,
  PREFIX: 14,
  SUBSET_SPS: 15,
  DPS: 16,
  AUXILIARY_SLICE: 19,
  SLICE_EXTENSION: 20,
  SLICE_EXTENSION_DEPTH: 21,
} as const;

/** A nal_unit_type number (0..31). */
export type NalUnitTypeValue = number;

/**
 * Names as printed by the tutorial's debug tool, so `rearview nalu` output
 * matches what a reader of the tutorial expects. Types the tool did not name
 * are named from Table 7-1.
 */
const NAL_TYPE_NAMES: Record<number, string> = {
  1: 'Coded slice of a non-IDR picture',
  2: 'Coded slice data partition A',
  3: 'Coded slice data partition B',
  4: 'Coded slice data partition C',
  5: 'Coded slice of an IDR picture',
  6: 'Supplemental enhancement information (SEI)',
  7: 'Sequence parameter set',
  8: 'Picture parameter set',
  9: 'Access unit delimiter',
  10: 'End of sequence',
  11: 'End of stream',
  12: 'Filler data',
  13: 'Sequence parameter set extension',
  14: 'Prefix NAL unit',
  15: 'Subset sequence parameter set',
  16: 'Depth parameter set',
  19: 'Coded slice of an auxiliary coded picture without partitioning',
  20: 'Coded slice extension',
  21: 'Coded slice extension for a depth view component',
};

/**
 * The tutorial tool's name for a NAL type. It only named types 1, 5, 6, 7,
 * 8 and 9 and printed `Unknown (n)` for the rest; `seedCompatible` keeps
 * exactly that behaviour, otherwise Table 7-1 names are used where known.
 */
export function nalTypeName(type: number, seedCompatible = false): string {
  if (seedCompatible && ![1, 5, 6, 7, 8, 9].includes(type)) return `Unknown (${type})`;
  return NAL_TYPE_NAMES[type] ?? `Unknown (${type})`;
}

/** True for the VCL NAL types of a primary or redundant coded picture (1..5). */
export function isVclNalType(type: number): boolean {
  return type >= 1 && type <= 5;
}

/**
 * True for the NAL units that only mark boundaries or pad (access unit
 * delimiter, end of sequence, end of stream, filler data). Live framing (the
 * StreamHub and the client's AnnexBFramer) drops them: the hub writes its own
 * trailing delimiter, and the others only confuse live receivers.
 */
export function isDelimiterNalType(type: number): boolean {
  return (
    type === NalUnitType.AUD ||
    type === NalUnitType.END_OF_SEQUENCE ||
    type === NalUnitType.END_OF_STREAM ||
    type === NalUnitType.FILLER
  );
}

/** The 4-byte Annex-B start code every writer here uses (00 00 00 01). */
export const START_CODE: Uint8Array = Uint8Array.of(0, 0, 0, 1);

/** One NAL unit as found in an Annex-B byte stream. */
export interface NalUnit {
  /**
   * The NAL unit bytes without start code or trailing zero bytes, header byte
   * first, emulation-prevention bytes still in place. A view into the pushed
   * chunk where possible: the caller must not reuse pushed buffers.
   */
  readonly data: Uint8Array;
  /** nal_unit_type (bits 0..4 of the header byte). */
  readonly type: number;
  /** nal_ref_idc (bits 5..6 of the header byte). */
  readonly refIdc: number;
  /** Byte offset of the start code (first of its 3 or 4 bytes) in the stream. */
  readonly offset: number;
  /** Length of the start code that preceded it: 3 (00 00 01) or 4 (00 00 00 01). */
  readonly startCodeLength: 3 | 4;
}

/** Wraps NAL bytes (header first) into a NalUnit with offset 0 and a 4-byte start code. */
export function nalUnitFromBytes(data: Uint8Array, offset = 0, startCodeLength: 3 | 4 = 4): NalUnit {
  const header = data[0] ?? 0;
  return { data, type: header & 0x1f, refIdc: (header >> 5) & 3, offset, startCodeLength };
}

/**
 * An access unit delimiter with a 4-byte start code (nal_unit_type 9,
 * primary_pic_type 7: any slice type). Sent right after each frame on raw
 * TCP so Annex-B receivers (FFmpeg, OpenCV) close the frame at once instead
 * of when the next frame starts; see docs/protocol.md.
 */
export const TRAILING_AUD: Uint8Array = Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0);
