/**
 * findStartCode (Node's native search) and findStartCodePortable (the
 * JavaScript loop browsers run) give the same answer as a byte-by-byte
 * reference for every input up to 8 bytes over {0, 1, 2} and every start
 * position, and on corpus files; the scanner depends on nothing else of them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { findStartCode, findStartCodePortable } from '../../src/h264/find-start-code.js';
import { corpusFile } from '../support/paths.js';

function reference(bytes: Uint8Array, from: number): number {
  for (let p = from; p + 2 < bytes.length; p++)
    if (bytes[p] === 0 && bytes[p + 1] === 0 && bytes[p + 2] === 1) return p;
  return -1;
}

describe('findStartCode', () => {
  it('matches the reference on every string of up to 8 bytes over {0, 1, 2}, from every position', () => {
    let checked = 0;
    for (let length = 0; length <= 8; length++) {
      const bytes = new Uint8Array(length);
      for (let code = 0; code < 3 ** length; code++) {
        for (let i = 0, c = code; i < length; i++, c = Math.floor(c / 3)) bytes[i] = c % 3;
        for (let from = 0; from <= length + 1; from++) {
          const want = reference(bytes, from);
          if (findStartCode(bytes, from) !== want || findStartCodePortable(bytes, from) !== want)
            assert.fail(`[${bytes.join(',')}] from ${from}: want ${want}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 50_000);
  });

  it('finds every start code of corpus files, in Buffers and in plain Uint8Arrays', () => {
    for (const name of ['CAPA1_TOSHIBA_B.264', 'SL1_SVA_B.264', 'FRExt1_Panasonic.avc']) {
      const buffer = readFileSync(corpusFile(name));
      const plain = new Uint8Array(buffer);
      const all = (find: (bytes: Uint8Array, from: number) => number, bytes: Uint8Array): number[] => {
        const found: number[] = [];
        for (let p = find(bytes, 0); p >= 0; p = find(bytes, p + 1)) found.push(p);
        return found;
      };
      const want = all(reference, plain);
      assert.ok(want.length > 10, name);
      assert.deepEqual(all(findStartCode, buffer), want, `${name}: native, Buffer`);
      assert.deepEqual(all(findStartCode, plain), want, `${name}: native, Uint8Array`);
      assert.deepEqual(all(findStartCodePortable, plain), want, `${name}: portable`);
      // A view that does not begin at its buffer's start.
      assert.deepEqual(all(findStartCode, plain.subarray(7)), all(reference, plain.subarray(7)), `${name}: view`);
    }
  });
});
