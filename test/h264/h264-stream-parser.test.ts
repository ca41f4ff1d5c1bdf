/**
 * H264StreamParser gives the same NAL units and access units for any
 * chunking of the input: every split offset of small corpus files, byte-by-
 * byte feeding, and seeded random multi-way splits of larger ones.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { H264StreamParser, parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { corpusFile } from '../support/paths.js';
import { flatAccessUnit, parseInChunks, seededRandom } from './h264-test-helpers.js';

function flatAll(bytes: Uint8Array, splits: number[]): string {
  const r = parseInChunks(bytes, splits);
  return JSON.stringify({ aus: r.accessUnits.map(flatAccessUnit), errors: r.errors.map((e) => e.code) });
}

describe('H264StreamParser chunking', () => {
  for (const file of ['input-sps-pps-non-idr-sps-pps-idr.h264', 'SarVui.264', 'blackframe.264']) {
    it(`every split offset of ${file} gives the one-chunk result`, () => {
      const bytes = readFileSync(corpusFile(file));
      const whole = flatAll(bytes, []);
      assert.ok(JSON.parse(whole).aus.length > 0);
      for (let at = 1; at < bytes.length; at++) {
        const split = flatAll(bytes, [at]);
        if (split !== whole) assert.equal(split, whole, `split at ${at}`);
      }
    });
  }

  it('one byte at a time gives the one-chunk result (Static.264, input-10-720a.h264)', () => {
    for (const file of ['Static.264', 'input-10-720a.h264']) {
      const bytes = readFileSync(corpusFile(file));
      const splits = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
      assert.equal(flatAll(bytes, splits), flatAll(bytes, []), file);
    }
  });

  it('random multi-way splits of larger files (AUD, EOS, fields, ASO, 8160 slices) give the one-chunk result', () => {
    const rand = seededRandom(7);
    for (const file of [
      'CAPA1_TOSHIBA_B.264',
      'FM1_FT_E.264',
      'FRExt1_Panasonic.avc',
      'jm_1080p_allslice.264',
      'CAPAMA3_Sand_F.264',
    ]) {
      const bytes = readFileSync(corpusFile(file));
      const whole = flatAll(bytes, []);
      for (let round = 0; round < 4; round++) {
        const cuts = new Set<number>();
        const n = 1 + Math.floor(rand() * 200);
        for (let i = 0; i < n; i++) cuts.add(1 + Math.floor(rand() * (bytes.length - 1)));
        const splits = [...cuts].sort((a, b) => a - b);
        assert.equal(flatAll(bytes, splits), whole, `${file} round ${round}`);
      }
    }
  });

  /**
   * Parses `bytes` through one reused buffer, a Node Buffer like a file
   * reader's (whose slice() is a view, not a copy), cut at `splits`; the
   * buffer is scribbled over after every push, so anything the parser kept
   * as a view shows up as wrong data. Access units are flattened as they
   * are emitted (their NAL data is valid only during the callback).
   */
  function flatAllReused(bytes: Uint8Array, splits: number[]): string {
    const buffer = Buffer.alloc(bytes.length);
    const aus: Record<string, unknown>[] = [];
    const errors: string[] = [];
    const parser = new H264StreamParser({
      reusesChunks: true,
      onAccessUnit: (au) => aus.push(flatAccessUnit(au)),
      onError: (e) => errors.push(e.code),
    });
    let at = 0;
    for (const end of [...splits, bytes.length]) {
      buffer.set(bytes.subarray(at, end));
      parser.push(buffer.subarray(0, end - at));
      buffer.fill(0xa5, 0, end - at);
      at = end;
    }
    parser.flush();
    return JSON.stringify({ aus, errors });
  }

  it('with reusesChunks, a buffer overwritten after every push gives the one-chunk result at every split offset', () => {
    for (const file of ['input-sps-pps-non-idr-sps-pps-idr.h264', 'SarVui.264', 'blackframe.264']) {
      const bytes = readFileSync(corpusFile(file));
      const whole = flatAll(bytes, []);
      assert.equal(flatAllReused(bytes, []), whole, file);
      for (let at = 1; at < bytes.length; at++) {
        const split = flatAllReused(bytes, [at]);
        if (split !== whole) assert.equal(split, whole, `${file} split at ${at}`);
      }
    }
  });

  it('with reusesChunks, fixed-size reads of larger files (1 byte to 64 KiB) give the one-chunk result', () => {
    for (const file of ['Static.264', 'CAPA1_TOSHIBA_B.264', 'FRExt1_Panasonic.avc', 'jm_1080p_allslice.264']) {
      const bytes = readFileSync(corpusFile(file));
      const whole = flatAll(bytes, []);
      for (const size of file === 'Static.264' ? [1, 3, 100, 4096] : [997, 4096, 65536]) {
        const splits: number[] = [];
        for (let at = size; at < bytes.length; at += size) splits.push(at);
        assert.equal(flatAllReused(bytes, splits), whole, `${file} in ${size}-byte reads`);
      }
    }
  });

  it('reset() drops the partial NAL and access unit and forgets parameter sets; flush() keeps them', () => {
    const bytes = readFileSync(corpusFile('MIDR_MW_D.264'));
    const whole = parseAnnexB(bytes);
    const third = whole.accessUnits[2]!;
    const aus: string[] = [];
    const errors: string[] = [];
    const parser = new H264StreamParser({
      onAccessUnit: (au) => aus.push(`${au.offset}:${au.poc}`),
      onError: (e) => errors.push(e.code),
    });
    // Stop in the middle of the third picture's slice.
    parser.push(bytes.subarray(0, third.offset + 10));
    parser.reset();
    assert.equal(aus.length, 2, 'the partial third picture is not emitted');
    assert.equal(parser.getSps(0), undefined);
    assert.equal(parser.getPps(0), undefined);
    // Mid-stream bytes without parameter sets now: one missing-parameter-set report.
    parser.push(bytes.subarray(third.offset + third.byteLength));
    parser.flush();
    assert.deepEqual([...new Set(errors)], ['ERR_H264_MISSING_PARAMETER_SET']);
    // flush() keeps state: the same stream continues and still parses.
    const kept: number[] = [];
    const p2 = new H264StreamParser({ onAccessUnit: (au) => kept.push(au.poc ?? -1) });
    p2.push(bytes.subarray(0, third.offset));
    p2.flush();
    p2.push(bytes.subarray(third.offset));
    p2.flush();
    assert.deepEqual(
      kept,
      whole.accessUnits.map((a) => a.poc ?? -1),
    );
  });

  it('parseAnnexB returns NAL units, access units and errors of a whole buffer', () => {
    const bytes = readFileSync(corpusFile('MPS_MW_A.264'));
    const r = parseAnnexB(bytes);
    assert.equal(r.nals.length, 153);
    assert.equal(r.accessUnits.length, 150);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(new Set(r.accessUnits.map((a) => a.pps?.ppsId)), new Set([0, 1]), 'two PPS ids in use');
  });
});
