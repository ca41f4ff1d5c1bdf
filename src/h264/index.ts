/**
 * The public API of the H.264 bitstream library (`rearview/h264`): pure
 * code with no `node:` imports, usable unchanged in Node and the browser.
 *
 * An explicit list, so adding a module or a helper does not widen the
 * package's promise. Left out on purpose: per-frame internals of the daemon
 * and the client (writeCaptureTimeSei, captureTimeOf, parseSliceHeaderAt,
 * ParameterSetStore, joinAnnexB, START_CODE, isDelimiterNalType, ...) and
 * parser building blocks (readScalingList, isFirstSliceOfNewPicture, ...);
 * code in this repository imports those from their modules.
 */
export {
  AccessUnitAssembler,
  DEFAULT_MAX_ACCESS_UNIT_BYTES,
  DEFAULT_MAX_NALS_PER_ACCESS_UNIT,
} from './access-unit-assembler.js';
export type { AccessUnitAssemblerOptions } from './access-unit-assembler.js';
export { SliceType } from './access-unit.js';
export type { AccessUnit } from './access-unit.js';
export { AnnexBScanner, DEFAULT_MAX_NAL_BYTES, splitAnnexB } from './annexb-scanner.js';
export type { AnnexBScannerOptions } from './annexb-scanner.js';
export {
  annexBToLengthPrefixed,
  buildAvcDecoderConfigurationRecord,
  lengthPrefixedToNals,
  nalsToAnnexB,
  parseAvcDecoderConfigurationRecord,
} from './avcc.js';
export type { AvcDecoderConfigurationRecord } from './avcc.js';
export { BitReader } from './bit-reader.js';
export {
  buildCaptureTimeSei,
  CAPTURE_TIME_SEI_UUID,
  CAPTURE_TIME_SEI_UUID_TEXT,
  isCaptureTimeSei,
  readCaptureTimeSei,
} from './capture-time-sei.js';
export { codecString, codecStringFromFields } from './codec-string.js';
export { H264StreamParser, parseAnnexB } from './h264-stream-parser.js';
export type { H264StreamParserOptions, ParsedAnnexB } from './h264-stream-parser.js';
export { isVclNalType, NalUnitType, nalTypeName, nalUnitFromBytes, TRAILING_AUD } from './nal-unit.js';
export type { NalUnit, NalUnitTypeValue } from './nal-unit.js';
export { PictureOrderCounter } from './picture-order-count.js';
export type { PictureOrder } from './picture-order-count.js';
export { parsePps } from './pps.js';
export type { PictureParameterSet } from './pps.js';
export { nalToRbsp, rbspToNal } from './rbsp.js';
export {
  buildUserDataUnregisteredSei,
  iterateSeiMessages,
  readUserDataUnregistered,
  SeiPayloadType,
  uuidToText,
} from './sei.js';
export type { SeiMessage, UserDataUnregistered } from './sei.js';
export { parseSliceHeader } from './slice-header.js';
export type { SliceHeader, SliceHeaderOptions, SliceHeaderStart } from './slice-header.js';
export { levelName, parseSps, profileName } from './sps.js';
export type { HrdParameters, ScalingList, SequenceParameterSet, VuiParameters } from './sps.js';
/** The typed error every parser here raises (`code` is ERR_H264_*). */
export { H264Error, RearviewError, hasCode } from '../errors.js';
