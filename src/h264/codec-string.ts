/**
 * RFC 6381 codec string for H.264 ("avc1.PPCCLL"), ISO/IEC 14496-15 Annex E:
 * PP = profile_idc, CC = the constraint-flags byte, LL = level_idc, each as
 * two lowercase hex digits, taken from the SPS NAL unit.
 */
import { H264Error } from '../errors.js';

/**
 * The RFC 6381 codec string of an SPS NAL unit (header byte first, no start
 * code), e.g. "avc1.64001f" for High profile level 3.1. Throws H264Error
 * (ERR_H264_INVALID) when `spsNal` is not an SPS, ERR_H264_TRUNCATED when it
 * is shorter than 4 bytes.
 */
export function codecString(spsNal: Uint8Array): string {
  const header = spsNal[0];
  if (header === undefined || (header & 0x1f) !== 7) {
    throw new H264Error(
      'ERR_H264_INVALID',
      `codecString: expected an SPS NAL unit (type 7), got type ${header === undefined ? 'none' : header & 0x1f}`,
    );
  }
  // The 3 bytes after the header cannot hold an emulation-prevention byte in a
  // valid SPS (profile_idc is never 0), but be exact anyway.
  const bytes: number[] = [];
  let zeros = 0;
  for (let i = 1; i < spsNal.length && bytes.length < 3; i++) {
    const b = spsNal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    bytes.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (bytes.length < 3)
    throw new H264Error('ERR_H264_TRUNCATED', `codecString: SPS NAL unit too short (${spsNal.length} bytes)`);
  return codecStringFromFields(bytes[0]!, bytes[1]!, bytes[2]!);
}

/** The RFC 6381 codec string from profile_idc, the constraint-flags byte and level_idc. */
export function codecStringFromFields(profileIdc: number, constraintFlags: number, levelIdc: number): string {
  return `avc1.${hex2(profileIdc)}${hex2(constraintFlags)}${hex2(levelIdc)}`;
}

function hex2(value: number): string {
  return (value & 0xff).toString(16).padStart(2, '0');
}
