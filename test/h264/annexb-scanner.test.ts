import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AnnexBScanner, splitAnnexB } from '../../src/h264/annexb-scanner.js';
import type { NalUnit } from '../../src/h264/nal-unit.js';
import { hasCode } from '../../src/errors.js';
import { corpusFile } from '../support/paths.js';

interface Flat {
  offset: number;
  startCodeLength: number;
  type: number;
  hex: string;
}

function flat(nals: NalUnit[]): Flat[] {
  return nals.map((n) => ({
    offset: n.offset,
    startCodeLength: n.startCodeLength,
    type: n.type,
    hex: Buffer.from(n.data).toString('hex'),
  }));
}

function scanChunks(bytes: Uint8Array, splits: number[], maxNalBytes?: number): { nals: NalUnit[]; errors: string[] } {
  const nals: NalUnit[] = [];
  const errors: string[] = [];
  const scanner = new AnnexBScanner({
    onNal: (n) => nals.push({ ...n, data: Uint8Array.from(n.data) }),
    onError: (e) => errors.push(e.code),
    ...(maxNalBytes ? { maxNalBytes } : {}),
  });
  let at = 0;
  for (const s of splits) {
    scanner.push(bytes.subarray(at, s));
    at = s;
  }
  scanner.push(bytes.subarray(at));
  scanner.flush();
  return { nals, errors };
}

const b = (...xs: number[]) => Uint8Array.from(xs);

describe('AnnexBScanner', () => {
  it('finds 3- and 4-byte start codes and strips leading and trailing zeros', () => {
    const stream = b(0, 0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 0, 1, 0x65, 9, 9, 0, 0);
    const nals = splitAnnexB(stream);
    assert.deepEqual(flat(nals), [
      { offset: 2, startCodeLength: 4, type: 7, hex: '670102' },
      { offset: 9, startCodeLength: 3, type: 8, hex: '6803' },
      { offset: 16, startCodeLength: 4, type: 5, hex: '650909' },
    ]);
  });

  it('ignores bytes before the first start code and empty NAL units', () => {
    const nals = splitAnnexB(b(7, 7, 0, 0, 1, 0, 0, 1, 0x09, 0xf0));
    assert.deepEqual(flat(nals), [{ offset: 5, startCodeLength: 3, type: 9, hex: '09f0' }]);
  });

  it('gives the same result at every split offset of a small synthetic stream', () => {
    const stream = b(0, 0, 0, 1, 0x67, 0, 0, 3, 1, 0, 0, 1, 0x68, 0, 0, 0, 0, 1, 0x65, 0, 0, 1, 0x41, 5, 0, 0, 0);
    const whole = flat(scanChunks(stream, []).nals);
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        assert.deepEqual(flat(scanChunks(stream, [i, j]).nals), whole, `splits ${i},${j}`);
      }
    }
  });

  for (const name of ['BA1_Sony_D.jsv', 'input-sps-pps-non-idr-sps-pps-idr.h264', 'SL1_SVA_B.264']) {
    it(`gives the one-chunk result at every split offset of ${name}`, () => {
      const bytes = new Uint8Array(readFileSync(corpusFile(name)));
      const whole = scanChunks(bytes, []).nals;
      const wholeFlat = flat(whole);
      // Byte-exact comparison at every offset is O(n^2); compare a cheap digest at every offset.
      const digest = (nals: NalUnit[]) =>
        nals
          .map((n) => `${n.offset}:${n.startCodeLength}:${n.data.length}:${n.data[0]}:${n.data[n.data.length - 1]}`)
          .join(',');
      const wholeDigest = digest(whole);
      for (let i = 1; i < bytes.length; i++) {
        const got = scanChunks(bytes, [i]).nals;
        if (digest(got) !== wholeDigest) assert.deepEqual(flat(got), wholeFlat, `split at ${i}`);
      }
      // And a full byte comparison for byte-sized chunks.
      const splits = Array.from({ length: bytes.length - 1 }, (_, k) => k + 1);
      assert.deepEqual(flat(scanChunks(bytes, splits).nals), wholeFlat, 'one byte per chunk');
    });
  }

  it('drops a NAL over the cap with a typed error and resynchronises', () => {
    const big = new Uint8Array(100).fill(7);
    const stream = Uint8Array.from([0, 0, 0, 1, 0x65, ...big, 0, 0, 1, 0x41, 1]);
    for (const splits of [[], [10, 50, 90], Array.from({ length: stream.length - 1 }, (_, k) => k + 1)]) {
      const { nals, errors } = scanChunks(stream, splits, 50);
      assert.deepEqual(errors, ['ERR_H264_NAL_TOO_LARGE']);
      assert.deepEqual(
        flat(nals).map((n) => n.hex),
        ['4101'],
      );
    }
  });

  it('reports the start of each NAL as soon as its header byte arrives', () => {
    const starts: number[] = [];
    const scanner = new AnnexBScanner({ onNal: () => undefined, onNalStart: (type) => starts.push(type) });
    scanner.push(b(0, 0, 0, 1, 0x65, 1, 2, 0, 0, 0, 1));
    assert.deepEqual(starts, [5]);
    scanner.push(b(0x09));
    assert.deepEqual(starts, [5, 9]);
  });

  it('rejects a bad cap', () => {
    assert.throws(() => new AnnexBScanner({ onNal: () => undefined, maxNalBytes: 0 }), RangeError);
    assert.equal(hasCode(new Error('x'), 'ERR_H264_TRUNCATED'), false);
  });
});
