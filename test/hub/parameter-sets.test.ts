/**
 * parameterSetIds: the cheap id read the hub does for every SPS/PPS NAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parameterSetIds } from '../../src/h264/parameter-set-store.js';

test('reads SPS and PPS ids; a truncated NAL reads as 0', () => {
  // SPS: profile 66, constraints 0xc0, level 30, then ue(v) 1 = "010".
  assert.deepEqual(parameterSetIds(Uint8Array.of(0x67, 0x42, 0xc0, 0x1e, 0x40)), { id: 1, spsId: 1 });
  // PPS: pic_parameter_set_id ue 2 = "011", seq_parameter_set_id ue 0 = "1".
  assert.deepEqual(parameterSetIds(Uint8Array.of(0x68, 0x70)), { id: 2, spsId: 0 });
  assert.deepEqual(parameterSetIds(Uint8Array.of(0x67, 0x42)), { id: 0, spsId: 0 });
});

test('emulation prevention before the SPS id is removed', () => {
  // What broke: the hand-rolled reader read the 0x03 emulation-prevention byte
  // as data. RBSP 67 42 00 00 28: level 0, then 0x28 = "00101" = ue 4.
  assert.deepEqual(parameterSetIds(Uint8Array.of(0x67, 0x42, 0x00, 0x00, 0x03, 0x28)), { id: 4, spsId: 4 });
});
