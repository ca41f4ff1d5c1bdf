import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../src/errors.js';
import { BitReader } from '../../src/h264/bit-reader.js';
import { BitWriter, seededRandom } from './h264-test-helpers.js';

/** Bytes from a bit string ("0101 1"), zero-padded to whole bytes. */
function bits(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const w = new BitWriter();
  for (const c of clean) w.u(1, c === '1' ? 1 : 0);
  return w.bytes();
}

describe('BitReader', () => {
  it('reads fixed-width fields MSB first, up to 32 bits as a positive number', () => {
    const r = new BitReader(Uint8Array.of(0xa5, 0xff, 0xff, 0xff, 0xff));
    assert.equal(r.readBits(0), 0);
    assert.equal(r.readBit(), 1);
    assert.equal(r.readFlag(), false);
    assert.equal(r.readBits(6), 0x25);
    assert.equal(r.isByteAligned, true);
    assert.equal(r.readBits(32), 0xffffffff);
    assert.equal(r.bitsLeft, 0);
    assert.throws(() => r.readBits(33), RangeError);
  });

  it('decodes ue(v) codewords of Table 9-2', () => {
    const cases: Array<[string, number]> = [
      ['1', 0],
      ['010', 1],
      ['011', 2],
      ['00100', 3],
      ['00111', 6],
      ['0001000', 7],
      ['0000000 1 0000000', 127],
    ];
    for (const [code, value] of cases) assert.equal(new BitReader(bits(code)).readUE(), value, code);
  });

  it('round-trips ue(v)/se(v) values, including the largest with 31 leading zeros', () => {
    const ues = [0, 1, 2, 3, 254, 255, 256, 65535, 2 ** 20, 2 ** 31 - 2, 2 ** 31 - 1, 2 ** 32 - 2];
    const ses = [0, 1, -1, 2, -2, 127, -128, 2 ** 30, -(2 ** 30), 2 ** 31 - 1, -(2 ** 31 - 1)];
    const w = new BitWriter();
    for (const v of ues) w.ue(v);
    for (const v of ses) w.se(v);
    const r = new BitReader(w.trailing());
    for (const v of ues) assert.equal(r.readUE(), v);
    for (const v of ses) assert.equal(r.readSE(), v);
  });

  it('decodes random ue/se sequences at every bit alignment (fast 32-bit window and slow path agree)', () => {
    const rand = seededRandom(11);
    for (let round = 0; round < 200; round++) {
      const values: Array<['u' | 'ue' | 'se', number]> = [];
      const w = new BitWriter();
      const lead = Math.floor(rand() * 8);
      w.u(lead, 0);
      for (let k = 0; k < 40; k++) {
        const magnitude = 2 ** Math.floor(rand() * 32);
        const pick = rand();
        if (pick < 0.45) values.push(['ue', Math.min(2 ** 32 - 2, Math.floor(rand() * magnitude))]);
        else if (pick < 0.9) values.push(['se', Math.floor((rand() - 0.5) * Math.min(magnitude, 2 ** 31 - 1))]);
        else values.push(['u', Math.floor(rand() * 8)]);
        const [kind, v] = values[values.length - 1]!;
        if (kind === 'ue') w.ue(v);
        else if (kind === 'se') w.se(v);
        else w.u(3, v);
      }
      const r = new BitReader(w.trailing());
      r.skipBits(lead);
      for (const [kind, v] of values) {
        const got = kind === 'ue' ? r.readUE() : kind === 'se' ? r.readSE() : r.readBits(3);
        assert.equal(got, v + 0, `round ${round}: ${kind} ${v}`);
      }
    }
  });

  it('reads a byte range of a larger array without a view', () => {
    const bytes = Uint8Array.of(0xff, 0b0100_0000, 0x80, 0xff);
    const r = new BitReader(bytes, 1, 3);
    assert.equal(r.readUE(), 1);
    assert.equal(r.bitPosition, 3);
    assert.equal(r.moreRbspData(), true);
    r.readBits(5);
    assert.equal(r.moreRbspData(), false, 'stop bit at the first bit of byte 2; byte 3 is outside the range');
    assert.equal(r.bitsLeft, 8);
    assert.throws(
      () => r.readBits(9),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
    );
    assert.throws(() => new BitReader(bytes, 3, 5), RangeError);
  });

  it('takes exactly 31 leading zeros (2^32 - 2) and rejects 32 as ERR_H264_INVALID', () => {
    const max = new BitReader(bits(`${'0'.repeat(31)}1${'1'.repeat(31)}`));
    assert.equal(max.readUE(), 2 ** 32 - 2);
    const tooLong = bits(`${'0'.repeat(32)}1${'0'.repeat(32)}`);
    assert.throws(
      () => new BitReader(tooLong).readUE(),
      (e) => hasCode(e, 'ERR_H264_INVALID'),
    );
    assert.throws(
      () => new BitReader(tooLong).readSE(),
      (e) => hasCode(e, 'ERR_H264_INVALID'),
    );
    // Many zero bytes: invalid, not a long loop.
    assert.throws(
      () => new BitReader(new Uint8Array(1000)).readUE(),
      (e) => hasCode(e, 'ERR_H264_INVALID'),
    );
  });

  it('se(v) of codeword "1" is +0, not -0', () => {
    // Regression: readSE returned -(0/2) = -0, which made Object.is-based
    // comparisons (assert.deepStrictEqual against ground truth) fail.
    assert.ok(Object.is(new BitReader(bits('1')).readSE(), 0));
  });

  it('throws ERR_H264_TRUNCATED past the end (fixed fields, Exp-Golomb prefix and suffix, skip)', () => {
    assert.throws(
      () => new BitReader(Uint8Array.of(0xff)).readBits(9),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
    );
    assert.throws(
      () => new BitReader(Uint8Array.of(0, 0)).readUE(),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
    );
    assert.throws(
      () => new BitReader(bits('0000001 1')).readUE(),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
    );
    assert.throws(
      () => new BitReader(new Uint8Array(0)).readBit(),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
    );
    const r = new BitReader(Uint8Array.of(1));
    assert.throws(
      () => r.skipBits(9),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
    );
    r.skipBits(8);
    assert.equal(r.bitsLeft, 0);
  });

  it('moreRbspData() stops at the rbsp_stop_one_bit, ignoring trailing zero bytes', () => {
    const r = new BitReader(Uint8Array.of(0b1011_0000, 0x00, 0x00));
    assert.equal(r.moreRbspData(), true);
    r.readBits(3);
    assert.equal(r.moreRbspData(), false, 'the 4th bit is the stop bit');
    assert.equal(new BitReader(Uint8Array.of(0x80)).moreRbspData(), false);
    assert.equal(new BitReader(Uint8Array.of(0, 0)).moreRbspData(), false);
  });
});
