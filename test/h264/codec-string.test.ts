/**
 * RFC 6381 codec strings: for the first SPS of every corpus file, the string
 * must agree with the SPS fields FFmpeg decoded (GROUND_TRUTH.json sps_raw).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { codecString, codecStringFromFields } from '../../src/h264/codec-string.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { hasCode } from '../../src/errors.js';
import { corpusDir, corpusFile } from '../support/paths.js';

interface RawSps {
  profile_idc: number;
  level_idc: number;
  constraint_set0_flag: number;
  constraint_set1_flag: number;
  constraint_set2_flag: number;
  constraint_set3_flag: number;
  constraint_set4_flag: number;
  constraint_set5_flag: number;
  reserved_zero_2bits: number;
}

const groundTruth = JSON.parse(readFileSync(corpusFile('GROUND_TRUTH.json'), 'utf8')) as Record<
  string,
  { sps_raw?: RawSps[] }
>;

test('codecString of the first SPS matches the ground-truth SPS fields of every corpus file', () => {
  let checked = 0;
  for (const name of readdirSync(corpusDir)) {
    const raw = groundTruth[name]?.sps_raw?.[0];
    if (!raw) continue; // not a stream (README, scripts, JSON)
    const sps = splitAnnexB(readFileSync(corpusFile(name))).find((n) => n.type === 7);
    assert.ok(sps, `${name} has an SPS`);
    const flags =
      (raw.constraint_set0_flag << 7) |
      (raw.constraint_set1_flag << 6) |
      (raw.constraint_set2_flag << 5) |
      (raw.constraint_set3_flag << 4) |
      (raw.constraint_set4_flag << 3) |
      (raw.constraint_set5_flag << 2) |
      raw.reserved_zero_2bits;
    const expected = `avc1.${[raw.profile_idc, flags, raw.level_idc].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
    assert.equal(codecString(sps.data), expected, name);
    checked++;
  }
  assert.ok(checked >= 30, `checked ${checked} corpus files`);
});

test('known strings and errors', () => {
  assert.equal(codecStringFromFields(66, 0xc0, 30), 'avc1.42c01e');
  assert.equal(codecStringFromFields(100, 0, 40), 'avc1.640028');
  assert.equal(codecString(Uint8Array.from([0x67, 0x64, 0x00, 0x1f, 0xac])), 'avc1.64001f');
  // An emulation-prevention byte inside the first three bytes is skipped.
  assert.equal(codecString(Uint8Array.from([0x67, 0x00, 0x00, 0x03, 0x01, 0xac])), 'avc1.000001');
  assert.throws(
    () => codecString(Uint8Array.from([0x68, 0xce])),
    (e) => hasCode(e, 'ERR_H264_INVALID'),
  );
  assert.throws(
    () => codecString(new Uint8Array(0)),
    (e) => hasCode(e, 'ERR_H264_INVALID'),
  );
  assert.throws(
    () => codecString(Uint8Array.from([0x67, 0x64])),
    (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
  );
});
