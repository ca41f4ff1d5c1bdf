import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nalToRbsp, rbspToNal } from '../../src/h264/rbsp.js';
import { seededRandom } from './h264-test-helpers.js';

const b = (...xs: number[]) => Uint8Array.from(xs);

/** True when `bytes` contains 00 00 0x with x <= 2 (a start code or forbidden pattern). */
function hasForbidden(bytes: Uint8Array): boolean {
  for (let i = 2; i < bytes.length; i++)
    if (bytes[i - 2] === 0 && bytes[i - 1] === 0 && (bytes[i] as number) <= 2) return true;
  return false;
}

describe('RBSP', () => {
  it('removes emulation-prevention bytes', () => {
    assert.deepEqual(nalToRbsp(b(0x65, 0, 0, 3, 1, 7)), b(0x65, 0, 0, 1, 7));
    assert.deepEqual(nalToRbsp(b(0, 0, 3, 0, 0, 3)), b(0, 0, 0, 0));
    assert.deepEqual(nalToRbsp(b(0, 0, 3, 3)), b(0, 0, 3), 'the second 03 follows no zeros');
    assert.deepEqual(nalToRbsp(b(0, 3, 0, 0, 3, 0, 0, 3)), b(0, 3, 0, 0, 0, 0));
  });

  it('returns the input itself when there is nothing to remove', () => {
    const nal = b(0x67, 0x42, 3, 0, 3, 0, 0, 1);
    assert.equal(nalToRbsp(nal), nal);
  });

  it('unescapes only a prefix with maxBytes', () => {
    const nal = b(1, 0, 0, 3, 2, 9, 0, 0, 3, 1, 5);
    const prefix = nalToRbsp(nal, 6);
    assert.deepEqual(prefix, b(1, 0, 0, 2, 9));
    const plain = b(1, 2, 3, 4, 5, 6, 7, 8);
    const view = nalToRbsp(plain, 4);
    assert.deepEqual(view, b(1, 2, 3, 4));
    assert.equal(view.buffer, plain.buffer, 'a view, not a copy');
    assert.deepEqual(nalToRbsp(plain, 100), plain);
  });

  it('inserts emulation prevention (and a final 03 after a trailing cabac_zero_word)', () => {
    assert.deepEqual(rbspToNal(b(0, 0, 1)), b(0, 0, 3, 1));
    assert.deepEqual(rbspToNal(b(0, 0, 0, 0)), b(0, 0, 3, 0, 0, 3));
    assert.deepEqual(rbspToNal(b(5, 0, 0, 4)), b(5, 0, 0, 4));
    const plain = b(1, 2, 0, 5);
    assert.equal(rbspToNal(plain), plain);
  });

  it('round-trips random zero-heavy data and never emits a start-code pattern', () => {
    const rand = seededRandom(42);
    for (let n = 0; n < 500; n++) {
      const len = Math.floor(rand() * 200);
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = rand() < 0.6 ? 0 : Math.floor(rand() * 4);
      const nal = rbspToNal(data);
      assert.equal(hasForbidden(nal), false);
      assert.deepEqual(nalToRbsp(nal), data);
    }
  });
});
