/**
 * Deterministic fuzzing of the H.264 parsers (seeded PRNG, bounded
 * iterations): random bytes, truncated and windowed corpus files, bit flips,
 * garbage between NAL units, random parameter-set bodies. Whatever the input,
 * the parser reports only H264Error through onError, never throws, finishes,
 * and never emits more than its caps allow; memory stays bounded when a NAL
 * or an access unit never ends.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { H264Error } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { H264StreamParser } from '../../src/h264/h264-stream-parser.js';
import type { NalUnit } from '../../src/h264/nal-unit.js';
import { parsePps } from '../../src/h264/pps.js';
import { parseSliceHeader } from '../../src/h264/slice-header.js';
import { parseSps } from '../../src/h264/sps.js';
import { corpusFile } from '../support/paths.js';
import { seededRandom } from './h264-test-helpers.js';

const CAPS = { maxNalBytes: 4096, maxNalsPerAccessUnit: 64, maxAccessUnitBytes: 32768 };

/** Parses `input` in random chunks with small caps and checks every invariant. */
function fuzzOne(input: Uint8Array, rand: () => number): { aus: number; errors: number } {
  const errors: unknown[] = [];
  const aus: AccessUnit[] = [];
  const parser = new H264StreamParser({
    ...CAPS,
    onAccessUnit: (au) => aus.push(au),
    onNal: (nal: NalUnit) => assert.ok(nal.data.length <= CAPS.maxNalBytes, 'NAL over maxNalBytes emitted'),
    onError: (e) => errors.push(e),
  });
  let at = 0;
  while (at < input.length) {
    const n = 1 + Math.floor(rand() * (rand() < 0.5 ? 16 : 4096));
    parser.push(input.subarray(at, at + n));
    at += n;
  }
  parser.flush();
  for (const e of errors) {
    assert.ok(e instanceof H264Error, `not an H264Error: ${String(e)}`);
    assert.match(e.code, /^ERR_H264_/);
  }
  for (const au of aus) {
    assert.ok(au.nals.length >= 1 && au.nals.length <= CAPS.maxNalsPerAccessUnit);
    const bytes = au.nals.reduce((n, x) => n + x.data.length + x.startCodeLength, 0);
    assert.ok(bytes <= CAPS.maxAccessUnitBytes, `access unit of ${bytes} bytes`);
  }
  return { aus: aus.length, errors: errors.length };
}

function randomBytes(rand: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

const corpusNames = [
  'BA1_Sony_D.jsv',
  'CABA3_TOSHIBA_E.264',
  'CAPAMA3_Sand_F.264',
  'FRExt1_Panasonic.avc',
  'FM1_FT_E.264',
  '4pics.264',
  'LS_SVA_D.264',
];
const corpus = corpusNames.map((n) => readFileSync(corpusFile(n)));

describe('fuzzing (seeded, bounded)', () => {
  it('random bytes with start codes and NAL headers sprinkled in', () => {
    const rand = seededRandom(1);
    const headers = [0x09, 0x67, 0x68, 0x65, 0x41, 0x01, 0x06, 0x0a, 0x0b, 0x0c, 0x0e, 0x14, 0x00, 0x1f, 0x45, 0x25];
    for (let iter = 0; iter < 1500; iter++) {
      const data = randomBytes(rand, Math.floor(rand() * 6000));
      for (let k = Math.floor(rand() * 40); k > 0; k--) {
        const p = Math.floor(rand() * Math.max(1, data.length - 5));
        data.set(
          [0, 0, rand() < 0.5 ? 1 : 0, 1, headers[Math.floor(rand() * headers.length)]!].slice(0, data.length - p),
          p,
        );
      }
      fuzzOne(data, rand);
    }
  });

  it('truncated and windowed corpus files', () => {
    const rand = seededRandom(2);
    for (let iter = 0; iter < 600; iter++) {
      const file = corpus[iter % corpus.length]!;
      const start = rand() < 0.5 ? 0 : Math.floor(rand() * file.length);
      const end = start + Math.floor(rand() * (file.length - start + 1));
      fuzzOne(file.subarray(start, end), rand);
    }
  });

  it('bit flips in corpus files', () => {
    const rand = seededRandom(3);
    for (let iter = 0; iter < 600; iter++) {
      const file = corpus[iter % corpus.length]!;
      const copy = Uint8Array.from(file.subarray(0, Math.min(file.length, 60000)));
      const flips = 1 + Math.floor(rand() * 64);
      for (let k = 0; k < flips; k++) {
        // Favour the first bytes of NAL units, where the headers are.
        const p = rand() < 0.7 ? Math.floor(rand() * Math.min(copy.length, 2000)) : Math.floor(rand() * copy.length);
        copy[p] = (copy[p] as number) ^ (1 << Math.floor(rand() * 8));
      }
      fuzzOne(copy, rand);
    }
  });

  it('garbage between NAL units', () => {
    const rand = seededRandom(4);
    for (let iter = 0; iter < 200; iter++) {
      const file = corpus[iter % corpus.length]!.subarray(0, 80000);
      const parts: Uint8Array[] = [];
      let last = 0;
      for (let i = 3; i < file.length; i++) {
        if (file[i] === 1 && file[i - 1] === 0 && file[i - 2] === 0) {
          parts.push(file.subarray(last, i - 2));
          if (rand() < 0.3) parts.push(randomBytes(rand, Math.floor(rand() * 64)));
          last = i - 2;
        }
      }
      parts.push(file.subarray(last));
      const total = parts.reduce((n, p) => n + p.length, 0);
      const out = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      fuzzOne(out, rand);
    }
  });

  it('random parameter-set and slice bodies go only to H264Error', () => {
    const rand = seededRandom(5);
    const sps = parseSps(
      Uint8Array.of(
        0x67,
        0x64,
        0x00,
        0x1e,
        0xac,
        0xd9,
        0x40,
        0xa0,
        0x2f,
        0xf9,
        0x70,
        0x11,
        0x00,
        0x00,
        0x03,
        0x00,
        0x01,
        0x00,
        0x00,
        0x03,
        0x00,
        0x32,
        0x0f,
        0x16,
        0x2d,
        0x96,
      ),
    );
    let parsed = 0;
    for (let iter = 0; iter < 20000; iter++) {
      const body = randomBytes(rand, 1 + Math.floor(rand() * 40));
      for (const [header, parse] of [
        [0x67, (d: Uint8Array) => parseSps(d)],
        [0x68, (d: Uint8Array) => parsePps(d, () => (rand() < 0.5 ? sps : undefined))],
        [
          0x65,
          (d: Uint8Array) =>
            parseSliceHeader(
              { data: d, type: 5, refIdc: 3, offset: 0, startCodeLength: 4 },
              () => ({ ...parsePps(Uint8Array.of(0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0), () => sps) }),
              () => sps,
            ),
        ],
      ] as const) {
        const nal = new Uint8Array(body.length + 1);
        nal[0] = header;
        nal.set(body, 1);
        try {
          parse(nal);
          parsed++;
        } catch (e) {
          assert.ok(
            e instanceof H264Error,
            `${header.toString(16)} ${Buffer.from(body).toString('hex')}: ${String(e)}`,
          );
        }
      }
    }
    assert.ok(parsed > 100, 'some random bodies parse');
  });
});

describe('memory stays bounded by the caps', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const retainedMiB = () => {
    gc();
    return process.memoryUsage().arrayBuffers / 2 ** 20;
  };

  it('a NAL unit that never ends: 128 MiB in fresh 1 MiB chunks with maxNalBytes 4 MiB', () => {
    const errors: H264Error[] = [];
    const parser = new H264StreamParser({
      maxNalBytes: 4 * 2 ** 20,
      onAccessUnit: () => undefined,
      onError: (e) => errors.push(e),
    });
    const before = retainedMiB();
    parser.push(Uint8Array.of(0, 0, 0, 1, 0x65));
    for (let i = 0; i < 128; i++) parser.push(new Uint8Array(2 ** 20).fill(0x5a));
    const during = retainedMiB();
    parser.flush();
    assert.ok(during - before < 24, `retained ${(during - before).toFixed(1)} MiB`);
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ERR_H264_NAL_TOO_LARGE'],
    );
  });

  it('an access unit that never ends: 200000 filler NAL units after a picture with maxNalsPerAccessUnit 1000', () => {
    const errors: H264Error[] = [];
    const aus: AccessUnit[] = [];
    const parser = new H264StreamParser({
      maxNalsPerAccessUnit: 1000,
      onAccessUnit: (au) => aus.push(au),
      onError: (e) => errors.push(e),
    });
    const idr = readFileSync(corpusFile('blackframe.264'));
    parser.push(idr);
    const before = retainedMiB();
    for (let i = 0; i < 200; i++) {
      const chunk = new Uint8Array(1000 * 64);
      for (let k = 0; k < 1000; k++) {
        chunk.set([0, 0, 1, 0x0c], k * 64);
        chunk.fill(0xff, k * 64 + 4, k * 64 + 63);
        chunk[k * 64 + 63] = 0x80;
      }
      parser.push(chunk);
    }
    const during = retainedMiB();
    parser.flush();
    assert.ok(during - before < 24, `retained ${(during - before).toFixed(1)} MiB`);
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ERR_H264_AU_TOO_LARGE'],
    );
    assert.equal(aus.length, 0);
  });
});
