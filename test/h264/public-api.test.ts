/**
 * `rearview/h264` exports an explicit list: the parsers and builders an
 * application uses, not the per-frame internals of the daemon and the client
 * (which import those from their modules). Adding a name here is a decision.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as h264 from '../../src/h264/index.js';

test('rearview/h264 exports exactly its public list', () => {
  assert.deepEqual(
    Object.keys(h264).sort(),
    [
      'AccessUnitAssembler',
      'AnnexBScanner',
      'BitReader',
      'CAPTURE_TIME_SEI_UUID',
      'CAPTURE_TIME_SEI_UUID_TEXT',
      'DEFAULT_MAX_ACCESS_UNIT_BYTES',
      'DEFAULT_MAX_NALS_PER_ACCESS_UNIT',
      'DEFAULT_MAX_NAL_BYTES',
      'H264Error',
      'H264StreamParser',
      'NalUnitType',
      'PictureOrderCounter',
      'RearviewError',
      'SeiPayloadType',
      'SliceType',
      'TRAILING_AUD',
      'annexBToLengthPrefixed',
      'buildAvcDecoderConfigurationRecord',
      'buildCaptureTimeSei',
      'buildUserDataUnregisteredSei',
      'codecString',
      'codecStringFromFields',
      'hasCode',
      'isCaptureTimeSei',
      'isVclNalType',
      'iterateSeiMessages',
      'lengthPrefixedToNals',
      'levelName',
      'nalToRbsp',
      'nalTypeName',
      'nalUnitFromBytes',
      'nalsToAnnexB',
      'parseAnnexB',
      'parseAvcDecoderConfigurationRecord',
      'parsePps',
      'parseSliceHeader',
      'parseSps',
      'profileName',
      'rbspToNal',
      'readCaptureTimeSei',
      'readUserDataUnregistered',
      'splitAnnexB',
      'uuidToText',
    ].sort(),
  );
  for (const internal of [
    'writeCaptureTimeSei',
    'captureTimeOf',
    'parseSliceHeaderAt',
    'ParameterSetStore',
    'joinAnnexB',
    'START_CODE',
    'isDelimiterNalType',
    'readScalingList',
  ]) {
    assert.ok(!(internal in h264), `${internal} stays internal`);
  }
});
