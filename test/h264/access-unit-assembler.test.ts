/**
 * Access-unit boundaries (H.264 7.4.1.2.3 / 7.4.1.2.4) on synthetic streams,
 * one condition at a time, and on corpus files with multiple slices per
 * picture, arbitrary slice order, field pairs, end-of-sequence/stream; the
 * early close on NAL start; caps; joining a stream without parameter sets.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hasCode, type H264Error } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { AccessUnitAssembler } from '../../src/h264/access-unit-assembler.js';
import { H264StreamParser, parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { nalUnitFromBytes } from '../../src/h264/nal-unit.js';
import { parseSliceHeaderStart } from '../../src/h264/slice-header.js';
import { corpusFile } from '../support/paths.js';
import {
  annexB,
  buildAud,
  buildPps,
  buildSlice,
  buildSps,
  type SyntheticPps,
  type SyntheticSlice,
  type SyntheticSps,
} from './h264-test-helpers.js';

function assemble(
  sps: SyntheticSps,
  pps: SyntheticPps,
  slices: SyntheticSlice[],
  extraPps: SyntheticPps[] = [],
): AccessUnit[] {
  const stream = annexB([
    buildSps(sps),
    buildPps(pps),
    ...extraPps.map((p) => buildPps(p)),
    ...slices.map((s) => buildSlice({ pps, ...s, sps })),
  ]);
  const { accessUnits, errors } = parseAnnexB(stream);
  assert.deepEqual(errors, []);
  return accessUnits;
}

const slicesPerAu = (aus: AccessUnit[]) => aus.map((au) => au.nals.filter((n) => n.type === 1 || n.type === 5).length);
const firstMb = (data: Uint8Array) => parseSliceHeaderStart(data).firstMbInSlice;

describe('AccessUnitAssembler: first slice of a new picture (7.4.1.2.4)', () => {
  // Each case: a picture of two slices (first_mb_in_slice 0 and 1), then a slice with
  // first_mb_in_slice 2 that differs in one property only. first_mb_in_slice alone
  // would keep it in the first picture; the clause says it starts a new one.
  const base: SyntheticSlice = { frameNum: 1, pocLsb: 4 };
  const cases: Array<[string, SyntheticSps, SyntheticPps, SyntheticSlice, SyntheticSlice?]> = [
    ['frame_num', {}, {}, { frameNum: 2 }],
    ['pic_parameter_set_id', {}, {}, { ppsId: 1 }],
    ['nal_ref_idc zero vs non-zero', {}, {}, { refIdc: 0 }],
    ['pic_order_cnt_lsb', {}, {}, { pocLsb: 6 }],
    ['delta_pic_order_cnt_bottom', {}, { bottomFieldPicOrderInFramePresentFlag: true }, { deltaPocBottom: 1 }],
    ['field_pic_flag', { frameMbsOnly: false }, {}, { field: 'top' }],
    ['bottom_field_flag', { frameMbsOnly: false }, {}, { field: 'bottom' }, { field: 'top' }],
    ['delta_pic_order_cnt[0] (POC type 1)', { picOrderCntType: 1, offsetForRefFrame: [2] }, {}, { deltaPoc: [1, 0] }],
    [
      'delta_pic_order_cnt[1] (POC type 1)',
      { picOrderCntType: 1, offsetForRefFrame: [2] },
      { bottomFieldPicOrderInFramePresentFlag: true },
      { deltaPoc: [0, 1] },
    ],
    ['IdrPicFlag', {}, {}, { idr: true, frameNum: 1 }],
    ['idr_pic_id', {}, {}, { idr: true, idrPicId: 1, frameNum: 0, pocLsb: 0 }, { idr: true, frameNum: 0, pocLsb: 0 }],
  ];
  for (const [name, sps, pps, change, first] of cases) {
    it(name, () => {
      const start = { ...base, ...first };
      const aus = assemble(
        sps,
        pps,
        [
          { ...start, firstMb: 0 },
          { ...start, firstMb: 1 },
          { ...start, ...change, firstMb: 2 },
        ],
        [{ ...pps, ppsId: 1 }],
      );
      assert.deepEqual(slicesPerAu(aus), [2, 1]);
    });
  }

  it('keeps slices in arbitrary order (first_mb_in_slice 2, 0, 1) in one picture', () => {
    const aus = assemble({}, {}, [
      { frameNum: 1, pocLsb: 2, firstMb: 2 },
      { frameNum: 1, pocLsb: 2, firstMb: 0 },
      { frameNum: 1, pocLsb: 2, firstMb: 1 },
      { frameNum: 2, pocLsb: 4, firstMb: 1 },
      { frameNum: 2, pocLsb: 4, firstMb: 0 },
    ]);
    assert.deepEqual(slicesPerAu(aus), [3, 2]);
    assert.deepEqual(
      aus.map((a) => a.sliceTypes),
      [
        [0, 0, 0],
        [0, 0],
      ],
    );
  });

  it('keeps redundant pictures (redundant_pic_cnt > 0) with their primary picture', () => {
    const pps = { redundantPicCntPresentFlag: true };
    const aus = assemble({ picOrderCntType: 2 }, pps, [
      { idr: true, firstMb: 0 },
      { idr: true, firstMb: 1 },
      { idr: true, firstMb: 0, redundantPicCnt: 1 },
      { frameNum: 1, firstMb: 0 },
      { frameNum: 1, firstMb: 0, redundantPicCnt: 1 },
      { frameNum: 1, firstMb: 0, redundantPicCnt: 2 },
      { frameNum: 2, firstMb: 0 },
    ]);
    assert.deepEqual(slicesPerAu(aus), [3, 3, 1]);
    // slice types list the primary picture's slices only.
    assert.deepEqual(
      aus.map((a) => a.sliceTypes.length),
      [2, 1, 1],
    );
    assert.deepEqual(
      aus.map((a) => a.poc),
      [0, 2, 4],
    );
  });
});

describe('AccessUnitAssembler: non-VCL NAL units (7.4.1.2.3)', () => {
  const sps = buildSps();
  const pps = buildPps();
  const pic = (n: number, idr = false) => buildSlice({ idr, frameNum: idr ? 0 : n, pocLsb: 2 * n });

  it('AUD, SPS, PPS, SEI and types 14..18 after a picture start a new access unit; filler does not', () => {
    for (const [name, nal] of [
      ['AUD', buildAud()],
      ['SPS', sps],
      ['PPS', pps],
      ['SEI', Uint8Array.of(0x06, 0x05, 0x01, 0x00, 0x80)],
      ['prefix NAL 14', Uint8Array.of(0x0e, 0x80)],
      ['type 18', Uint8Array.of(0x12, 0x80)],
    ] as const) {
      const { accessUnits } = parseAnnexB(annexB([sps, pps, pic(0, true), nal, pic(1)]));
      assert.deepEqual(
        accessUnits.map((a) => a.nals.map((n) => n.type)),
        [
          [7, 8, 5],
          [nal[0]! & 0x1f, 1],
        ],
        name,
      );
    }
    const filler = parseAnnexB(annexB([sps, pps, pic(0, true), Uint8Array.of(0x0c, 0xff, 0x80), pic(1)])).accessUnits;
    assert.deepEqual(
      filler.map((a) => a.nals.map((n) => n.type)),
      [[7, 8, 5, 12], [1]],
    );
  });

  it('end of sequence and end of stream close the access unit they end', () => {
    const { accessUnits } = parseAnnexB(
      annexB([
        sps,
        pps,
        pic(0, true),
        Uint8Array.of(0x0a),
        pic(0, true),
        pic(1),
        Uint8Array.of(0x0a),
        Uint8Array.of(0x0b),
        pic(0, true),
      ]),
    );
    assert.deepEqual(
      accessUnits.map((a) => a.nals.map((n) => n.type)),
      [[7, 8, 5, 10], [5], [1, 10, 11], [5]],
    );
  });

  it('parses a PPS when it arrives: a re-sent PPS id changes the meaning of later slices', () => {
    // PPS 0 first without, then with bottom_field_pic_order_in_frame_present_flag:
    // the later slices carry delta_pic_order_cnt_bottom and must be read with it.
    const ppsB = { bottomFieldPicOrderInFramePresentFlag: true };
    const stream = annexB([
      sps,
      pps,
      buildSlice({ idr: true }),
      buildPps(ppsB),
      buildSlice({ idr: true, idrPicId: 1, pps: ppsB, deltaPocBottom: -1, firstMb: 0 }),
      buildSlice({ idr: true, idrPicId: 1, pps: ppsB, deltaPocBottom: -1, firstMb: 1 }),
    ]);
    const { accessUnits, errors } = parseAnnexB(stream);
    assert.deepEqual(errors, []);
    assert.deepEqual(slicesPerAu(accessUnits), [1, 2]);
    assert.equal(accessUnits[1]?.poc, -1);
    assert.equal(accessUnits[1]?.pps?.bottomFieldPicOrderInFramePresentFlag, true);
  });
});

describe('AccessUnitAssembler on corpus files', () => {
  const load = (name: string) => parseAnnexB(readFileSync(corpusFile(name)));

  it('several slices per picture: SL1_SVA_B (3 each), test_cif_P_CABAC_slice, BA1_FT_C', () => {
    const sl1 = load('SL1_SVA_B.264');
    assert.equal(sl1.accessUnits.length, 33);
    assert.ok(sl1.accessUnits.every((a) => a.sliceTypes.length === 3));
    const cif = load('test_cif_P_CABAC_slice.264');
    assert.equal(cif.accessUnits.length, 300);
    assert.equal(
      cif.accessUnits.reduce((n, a) => n + a.sliceTypes.length, 0),
      4200,
    );
    const ba1 = load('BA1_FT_C.264');
    assert.equal(ba1.accessUnits.length, 299);
    assert.ok(ba1.accessUnits.some((a) => a.sliceTypes.length > 1));
  });

  it('arbitrary slice order with FMO: FM1_FT_E has 300 pictures, some starting with first_mb_in_slice != 0', () => {
    const { accessUnits } = load('FM1_FT_E.264');
    assert.equal(accessUnits.length, 300);
    const vclFirstMbs = accessUnits.map((a) =>
      a.nals.filter((n) => n.type === 1 || n.type === 5).map((n) => firstMb(n.data)),
    );
    assert.ok(
      vclFirstMbs.some((mbs) => mbs[0] !== 0),
      'ASO: a picture whose first slice is not at macroblock 0',
    );
    assert.ok(
      vclFirstMbs.every((mbs) => mbs.filter((m) => m === 0).length === 1),
      'exactly one slice at macroblock 0 per picture',
    );
  });

  it('field pairs: each field is its own access unit (CVFI1_SVA_C, CAPAMA3_Sand_F)', () => {
    const cvfi = load('CVFI1_SVA_C.264');
    assert.equal(cvfi.accessUnits.length, 14);
    assert.ok(cvfi.accessUnits.every((a) => a.structure !== 'frame'));
    for (let i = 0; i < 14; i += 2) {
      assert.notEqual(cvfi.accessUnits[i]?.structure, cvfi.accessUnits[i + 1]?.structure, 'pairs of opposite parity');
    }
    const mixed = load('CAPAMA3_Sand_F.264');
    const structures = new Set(mixed.accessUnits.map((a) => a.structure));
    assert.deepEqual(structures, new Set(['frame', 'top', 'bottom']));
    // ffprobe: 50 decoded frames from 79 access units, so 29 field pairs (58 fields) + 21 frames.
    assert.equal(mixed.accessUnits.filter((a) => a.structure === 'frame').length, 21);
  });

  it('an end-of-stream NAL ends the last access unit (CAPA1_TOSHIBA_B)', () => {
    const { accessUnits } = load('CAPA1_TOSHIBA_B.264');
    const last = accessUnits[accessUnits.length - 1]!;
    assert.equal(last.nals[last.nals.length - 1]?.type, 11);
    assert.ok(
      accessUnits.every((a) => a.nals[0]?.type === 9),
      'every access unit starts at its AUD',
    );
  });

  it('emits an access unit as soon as the next AUD begins (nalStart), before that NAL completes', () => {
    const bytes = readFileSync(corpusFile('AUD_MW_E.264'));
    const { nals } = parseAnnexB(bytes);
    const secondAud = nals.filter((n) => n.type === 9)[1]!;
    const seen: AccessUnit[] = [];
    const parser = new H264StreamParser({ onAccessUnit: (au) => seen.push(au) });
    // Up to and including the AUD's header byte only.
    parser.push(bytes.subarray(0, secondAud.offset + secondAud.startCodeLength + 1));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.byteLength, secondAud.offset - seen[0]!.offset);
    parser.push(bytes.subarray(secondAud.offset + secondAud.startCodeLength + 1));
    parser.flush();
    assert.equal(seen.length, 100);
  });
});

describe('AccessUnitAssembler latency on streams without AUD/SEI between pictures', () => {
  it("emits a picture as soon as the next picture's slice header has arrived (test.h264, Raspberry Pi encoder)", () => {
    // Regression: the access unit was emitted only when the next picture's
    // first slice NAL was complete (when the start code after it arrived),
    // up to two frame intervals after the picture itself had arrived.
    const bytes = readFileSync(corpusFile('test.h264'));
    const { nals, accessUnits: all } = parseAnnexB(bytes);
    assert.ok(!nals.some((n) => n.type === 9 || n.type === 6), 'no AUD/SEI in this stream');
    const seen: AccessUnit[] = [];
    const parser = new H264StreamParser({ onAccessUnit: (au) => seen.push(au) });
    let at = 0;
    for (let k = 1; k <= 5; k++) {
      const next = all[k]!.nals[0]!;
      // Up to 16 bytes into the next picture's first slice.
      const upTo = next.offset + next.startCodeLength + 16;
      parser.push(bytes.subarray(at, upTo));
      at = upTo;
      assert.equal(seen.length, k, `picture ${k - 1} is out once picture ${k} begins`);
      assert.equal(seen[k - 1]?.offset, all[k - 1]?.offset);
      assert.equal(seen[k - 1]?.byteLength, all[k - 1]?.byteLength);
    }
    parser.push(bytes.subarray(at));
    parser.flush();
    assert.deepEqual(
      seen.map((a) => a.offset),
      all.map((a) => a.offset),
    );
  });

  it('does not close a multi-slice picture early (SL1_SVA_B: 3 slices per picture, no AUD)', () => {
    const bytes = readFileSync(corpusFile('SL1_SVA_B.264'));
    const { accessUnits: all } = parseAnnexB(bytes);
    const seen: AccessUnit[] = [];
    const parser = new H264StreamParser({ onAccessUnit: (au) => seen.push(au) });
    const second = all[0]!.nals.filter((n) => n.type === 1 || n.type === 5)[1]!;
    parser.push(bytes.subarray(0, second.offset + second.startCodeLength + 16));
    assert.equal(seen.length, 0, 'the second slice of the same picture does not close it');
  });
});

describe('AccessUnitAssembler limits and errors', () => {
  it('drops an access unit over maxNalsPerAccessUnit with ERR_H264_AU_TOO_LARGE (jm_1080p_allslice: 8162 NAL units)', () => {
    const bytes = readFileSync(corpusFile('jm_1080p_allslice.264'));
    const small = parseAnnexB(bytes, { maxNalsPerAccessUnit: 1000 });
    assert.equal(small.accessUnits.length, 0);
    assert.deepEqual(
      small.errors.map((e) => e.code),
      ['ERR_H264_AU_TOO_LARGE'],
    );
    // The default cap (16384) holds one slice per macroblock of a 1080p picture.
    const normal = parseAnnexB(bytes);
    assert.equal(normal.accessUnits.length, 1);
    assert.equal(normal.accessUnits[0]?.nals.length, 8162);
  });

  it('drops only the access units over maxAccessUnitBytes and keeps going', () => {
    const bytes = readFileSync(corpusFile('BA1_FT_C.264'));
    const all = parseAnnexB(bytes).accessUnits;
    const cap = 3000;
    const over = all.filter((a) => a.byteLength > cap).length;
    assert.ok(over > 0 && over < all.length);
    const capped = parseAnnexB(bytes, { maxAccessUnitBytes: cap });
    assert.equal(capped.errors.length, over);
    assert.ok(capped.errors.every((e) => hasCode(e, 'ERR_H264_AU_TOO_LARGE')));
    assert.deepEqual(
      capped.accessUnits.map((a) => a.offset),
      all.filter((a) => a.byteLength <= cap).map((a) => a.offset),
    );
  });

  it('joins a stream without parameter sets: one ERR_H264_MISSING_PARAMETER_SET, pictures split by first_mb_in_slice', () => {
    const bytes = readFileSync(corpusFile('SL1_SVA_B.264'));
    const { nals } = parseAnnexB(bytes);
    const errors: H264Error[] = [];
    const aus: AccessUnit[] = [];
    const assembler = new AccessUnitAssembler({ onAccessUnit: (au) => aus.push(au), onError: (e) => errors.push(e) });
    for (const n of nals) if (n.type !== 7 && n.type !== 8) assembler.push(n);
    assembler.flush();
    assert.equal(aus.length, 33);
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ERR_H264_MISSING_PARAMETER_SET'],
    );
    assert.ok(aus.every((a) => a.poc === null && a.sps === undefined));
  });

  it('reports malformed parameter sets and slice headers through onError, never throws', () => {
    const errors: H264Error[] = [];
    const aus: AccessUnit[] = [];
    const assembler = new AccessUnitAssembler({ onAccessUnit: (au) => aus.push(au), onError: (e) => errors.push(e) });
    assembler.push(nalUnitFromBytes(Uint8Array.of(0x67, 0x42))); // SPS cut short
    assembler.push(nalUnitFromBytes(Uint8Array.of(0x68, 0x00, 0x00, 0x00, 0x00, 0x80))); // ue with > 31 zeros
    assembler.push(nalUnitFromBytes(Uint8Array.of(0x65))); // empty slice
    assembler.flush();
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ERR_H264_TRUNCATED', 'ERR_H264_INVALID', 'ERR_H264_TRUNCATED'],
    );
    assert.equal(aus.length, 1);
    assert.throws(
      () => new AccessUnitAssembler({ onAccessUnit: () => undefined, maxNalsPerAccessUnit: 0 }),
      RangeError,
    );
  });
});
