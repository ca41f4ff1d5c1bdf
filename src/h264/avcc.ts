/**
 * AVCDecoderConfigurationRecord ("avcC", ISO/IEC 14496-15 clause 5.3.3.1),
 * including the High-profile extension (chroma_format, bit depths,
 * SPS extensions) for profile_idc 100, 110, 122 and 144, plus conversions
 * between Annex-B and length-prefixed NAL unit framing (what MP4/MKV store).
 */
import { H264Error } from '../errors.js';
import { START_CODE } from './nal-unit.js';
import { parseSps } from './sps.js';

/** A parsed AVCDecoderConfigurationRecord. NAL units are views into the parsed bytes. */
export interface AvcDecoderConfigurationRecord {
  /** configurationVersion (always 1). */
  configurationVersion: number;
  /** AVCProfileIndication: profile_idc of the SPS. */
  profileIdc: number;
  /** profile_compatibility: the SPS's constraint-flags byte. */
  profileCompatibility: number;
  /** AVCLevelIndication: level_idc of the SPS. */
  levelIdc: number;
  /** Bytes in each NAL length prefix of the samples (lengthSizeMinusOne + 1): 1, 2 or 4. */
  lengthSize: number;
  /** SPS NAL units (header byte first, emulation prevention in place). */
  sps: Uint8Array[];
  /** PPS NAL units. */
  pps: Uint8Array[];
  /** High-profile extension: chroma_format_idc, or null when the record has no extension. */
  chromaFormatIdc: number | null;
  /** High-profile extension: luma bit depth (8..14), or null. */
  bitDepthLuma: number | null;
  /** High-profile extension: chroma bit depth (8..14), or null. */
  bitDepthChroma: number | null;
  /** High-profile extension: SPS extension NAL units (type 13), or null. */
  spsExt: Uint8Array[] | null;
}

/** profile_idc values whose avcC carries the High-profile extension (14496-15 5.3.3.1.2). */
const PROFILES_WITH_EXTENSION = new Set([100, 110, 122, 144]);
/** Profiles whose SPS has no chroma/bit-depth fields: an avcC for them never has the extension. */
const PROFILES_WITHOUT_EXTENSION = new Set([66, 77, 88]);

/**
 * Builds an AVCDecoderConfigurationRecord from SPS and PPS NAL units (header
 * byte first, no start codes), with 4-byte NAL lengths (lengthSizeMinusOne =
 * 3). Profile, compatibility and level come from the first SPS; for profiles
 * 100, 110, 122 and 144 the extension is written with chroma format and bit
 * depths read from the first SPS and the given SPS extensions (default none).
 * Throws RangeError for misuse (no SPS, too many parameter sets, a NAL over
 * 65535 bytes) and H264Error when the first SPS cannot be read.
 */
export function buildAvcDecoderConfigurationRecord(
  sps: Uint8Array[],
  pps: Uint8Array[],
  spsExt: Uint8Array[] = [],
): Uint8Array {
  const first = sps[0];
  if (first === undefined) throw new RangeError('buildAvcDecoderConfigurationRecord: at least one SPS is required');
  if (sps.length > 31) throw new RangeError(`buildAvcDecoderConfigurationRecord: at most 31 SPS, got ${sps.length}`);
  if (pps.length > 255) throw new RangeError(`buildAvcDecoderConfigurationRecord: at most 255 PPS, got ${pps.length}`);
  if (spsExt.length > 255)
    throw new RangeError(`buildAvcDecoderConfigurationRecord: at most 255 SPS extensions, got ${spsExt.length}`);
  for (const nal of [...sps, ...pps, ...spsExt]) {
    if (nal.length === 0 || nal.length > 0xffff)
      throw new RangeError(
        `buildAvcDecoderConfigurationRecord: parameter set of ${nal.length} bytes (1..65535 allowed)`,
      );
  }
  const format = parseSps(first);
  const extension = PROFILES_WITH_EXTENSION.has(format.profileIdc);
  let size = 6 + 1;
  for (const nal of sps) size += 2 + nal.length;
  for (const nal of pps) size += 2 + nal.length;
  if (extension) {
    size += 4;
    for (const nal of spsExt) size += 2 + nal.length;
  }
  const out = new Uint8Array(size);
  out[0] = 1;
  out[1] = format.profileIdc;
  out[2] = format.constraintFlags;
  out[3] = format.levelIdc;
  out[4] = 0xfc | 3; // reserved '111111' + lengthSizeMinusOne 3
  out[5] = 0xe0 | sps.length; // reserved '111' + numOfSequenceParameterSets
  let at = 6;
  const put = (nal: Uint8Array): void => {
    out[at] = nal.length >> 8;
    out[at + 1] = nal.length & 0xff;
    out.set(nal, at + 2);
    at += 2 + nal.length;
  };
  for (const nal of sps) put(nal);
  out[at++] = pps.length;
  for (const nal of pps) put(nal);
  if (extension) {
    out[at++] = 0xfc | (format.chromaFormatIdc & 3);
    out[at++] = 0xf8 | ((format.bitDepthLuma - 8) & 7);
    out[at++] = 0xf8 | ((format.bitDepthChroma - 8) & 7);
    out[at++] = spsExt.length;
    for (const nal of spsExt) put(nal);
  }
  return out;
}

/**
 * Parses an AVCDecoderConfigurationRecord (the payload of an avcC box, or a
 * Matroska CodecPrivate / WebCodecs `description`). The High-profile
 * extension is read when present for any profile other than 66/77/88 (many
 * writers omit it: the fields are then null).
 * Throws H264Error ERR_H264_TRUNCATED / ERR_H264_INVALID on malformed input.
 */
export function parseAvcDecoderConfigurationRecord(bytes: Uint8Array): AvcDecoderConfigurationRecord {
  if (bytes.length < 7) throw new H264Error('ERR_H264_TRUNCATED', `avcC: ${bytes.length} bytes, at least 7 needed`);
  const configurationVersion = bytes[0]!;
  if (configurationVersion !== 1)
    throw new H264Error('ERR_H264_INVALID', `avcC: configurationVersion ${configurationVersion}, expected 1`);
  const lengthSize = (bytes[4]! & 3) + 1;
  if (lengthSize === 3) throw new H264Error('ERR_H264_INVALID', 'avcC: lengthSizeMinusOne 2 is not allowed');
  let at = 5;
  const readList = (count: number, what: string): Uint8Array[] => {
    const list: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (at + 2 > bytes.length) throw new H264Error('ERR_H264_TRUNCATED', `avcC: ${what} ${i} length past the end`);
      const length = (bytes[at]! << 8) | bytes[at + 1]!;
      at += 2;
      if (at + length > bytes.length)
        throw new H264Error('ERR_H264_TRUNCATED', `avcC: ${what} ${i} (${length} bytes) past the end`);
      list.push(bytes.subarray(at, at + length));
      at += length;
    }
    return list;
  };
  const sps = readList(bytes[at++]! & 0x1f, 'SPS');
  if (at >= bytes.length) throw new H264Error('ERR_H264_TRUNCATED', 'avcC: numOfPictureParameterSets past the end');
  const pps = readList(bytes[at++]!, 'PPS');
  const profileIdc = bytes[1]!;
  let chromaFormatIdc: number | null = null;
  let bitDepthLuma: number | null = null;
  let bitDepthChroma: number | null = null;
  let spsExt: Uint8Array[] | null = null;
  // The extension is optional in practice (older writers stop after the PPS
  // list), and FFmpeg also writes it for other high profiles (e.g. 244): read
  // it whenever it is there and the profile is not Baseline/Main/Extended.
  if (!PROFILES_WITHOUT_EXTENSION.has(profileIdc) && at + 4 <= bytes.length) {
    chromaFormatIdc = bytes[at]! & 3;
    bitDepthLuma = (bytes[at + 1]! & 7) + 8;
    bitDepthChroma = (bytes[at + 2]! & 7) + 8;
    const count = bytes[at + 3]!;
    at += 4;
    spsExt = readList(count, 'SPS extension');
  }
  return {
    configurationVersion,
    profileIdc,
    profileCompatibility: bytes[2]!,
    levelIdc: bytes[3]!,
    lengthSize,
    sps,
    pps,
    chromaFormatIdc,
    bitDepthLuma,
    bitDepthChroma,
    spsExt,
  };
}

/**
 * Frames NAL units (header byte first, no start codes) with big-endian
 * length prefixes of `lengthSize` bytes (1, 2 or 4; default 4), as stored in
 * MP4/MKV samples. Throws RangeError for a bad lengthSize or a NAL too long
 * for it.
 */
export function annexBToLengthPrefixed(nals: Uint8Array[], lengthSize = 4): Uint8Array {
  checkLengthSize(lengthSize);
  const max = lengthSize === 4 ? 0xffff_ffff : (1 << (8 * lengthSize)) - 1;
  let size = 0;
  for (const nal of nals) {
    if (nal.length > max)
      throw new RangeError(
        `annexBToLengthPrefixed: NAL of ${nal.length} bytes does not fit a ${lengthSize}-byte length`,
      );
    size += lengthSize + nal.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const nal of nals) {
    const n = nal.length;
    for (let i = lengthSize - 1; i >= 0; i--) out[at + lengthSize - 1 - i] = Math.floor(n / 2 ** (8 * i)) & 0xff;
    at += lengthSize;
    out.set(nal, at);
    at += n;
  }
  return out;
}

/**
 * Splits length-prefixed NAL units (MP4/MKV sample data) into views of the
 * NAL units. `lengthSize` is 1, 2 or 4 (default 4). Throws H264Error
 * ERR_H264_TRUNCATED when a length runs past the end.
 */
export function lengthPrefixedToNals(bytes: Uint8Array, lengthSize = 4): Uint8Array[] {
  checkLengthSize(lengthSize);
  const nals: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + lengthSize > bytes.length)
      throw new H264Error(
        'ERR_H264_TRUNCATED',
        `length prefix at byte ${at} runs past the end (${bytes.length} bytes)`,
      );
    let n = 0;
    for (let i = 0; i < lengthSize; i++) n = n * 256 + bytes[at + i]!;
    at += lengthSize;
    if (at + n > bytes.length)
      throw new H264Error(
        'ERR_H264_TRUNCATED',
        `NAL unit of ${n} bytes at byte ${at - lengthSize} runs past the end (${bytes.length} bytes)`,
      );
    nals.push(bytes.subarray(at, at + n));
    at += n;
  }
  return nals;
}

/** Joins NAL units (header byte first) into an Annex-B byte stream with 4-byte start codes. */
export function nalsToAnnexB(nals: readonly Uint8Array[]): Uint8Array {
  return joinAnnexB(nals).data;
}

/**
 * Joins NAL units into one Annex-B buffer with 4-byte start codes (one copy)
 * and returns it with a view of each NAL unit inside it.
 */
export function joinAnnexB(nals: readonly Uint8Array[]): { data: Uint8Array; views: Uint8Array[] } {
  let total = 0;
  for (const n of nals) total += START_CODE.length + n.length;
  const data = new Uint8Array(total);
  const views: Uint8Array[] = [];
  let at = 0;
  for (const n of nals) {
    data.set(START_CODE, at);
    at += START_CODE.length;
    data.set(n, at);
    views.push(data.subarray(at, at + n.length));
    at += n.length;
  }
  return { data, views };
}

function checkLengthSize(lengthSize: number): void {
  if (lengthSize !== 1 && lengthSize !== 2 && lengthSize !== 4)
    throw new RangeError(`lengthSize must be 1, 2 or 4, got ${lengthSize}`);
}
