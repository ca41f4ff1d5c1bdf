/**
 * Picture order count (H.264 8.2.1) on synthetic streams with known answers:
 * types 0 (lsb wrap both ways, non-reference pictures, fields, MMCO5),
 * 1 (offset_for_ref_frame cycle, non-reference offset, deltas) and 2
 * (frame_num wrap, non-reference pictures, MMCO5). Real streams are checked
 * against ffprobe's presentation order in corpus.test.ts and generated-streams.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import {
  annexB,
  buildPps,
  buildSlice,
  buildSps,
  type SyntheticPps,
  type SyntheticSlice,
  type SyntheticSps,
} from './h264-test-helpers.js';

function pocs(
  sps: SyntheticSps,
  pps: SyntheticPps,
  slices: SyntheticSlice[],
): Array<{ poc: number | null; reset: boolean; structure: string }> {
  const stream = annexB([buildSps(sps), buildPps(pps), ...slices.map((s) => buildSlice({ ...s, sps, pps }))]);
  const { accessUnits, errors } = parseAnnexB(stream);
  assert.deepEqual(errors, []);
  assert.equal(accessUnits.length, slices.length, 'one access unit per picture');
  return accessUnits.map((au) => ({ poc: au.poc, reset: au.pocReset ?? false, structure: au.structure }));
}

describe('PictureOrderCounter', () => {
  it('type 0: MSB from lsb wrap in both directions; non-reference pictures do not move prevPicOrderCnt', () => {
    const sps = { picOrderCntType: 0, log2MaxPicOrderCntLsbMinus4: 0 }; // MaxPicOrderCntLsb 16
    const got = pocs(sps, {}, [
      { idr: true, pocLsb: 0 },
      { frameNum: 1, pocLsb: 6 },
      { frameNum: 2, pocLsb: 2, refIdc: 0, sliceType: 6 },
      { frameNum: 2, pocLsb: 4, refIdc: 0, sliceType: 6 },
      { frameNum: 2, pocLsb: 12 },
      { frameNum: 3, pocLsb: 2 }, // 12 -> 2 wraps up: 16 + 2
      { frameNum: 4, pocLsb: 14, refIdc: 0, sliceType: 6 }, // 2 -> 14 wraps down: 16 - 16 + 14
    ]);
    assert.deepEqual(
      got.map((g) => g.poc),
      [0, 6, 2, 4, 12, 18, 14],
    );
    assert.deepEqual(
      got.map((g) => g.reset),
      [true, false, false, false, false, false, false],
    );
  });

  it('type 0: memory_management_control_operation 5 restarts the count', () => {
    const sps = { picOrderCntType: 0, log2MaxPicOrderCntLsbMinus4: 0 };
    const got = pocs(sps, {}, [
      { idr: true, pocLsb: 0 },
      { frameNum: 1, pocLsb: 6 },
      { frameNum: 2, pocLsb: 12, mmco5: true }, // 12, reset to 0
      { frameNum: 1, pocLsb: 2 }, // prevPicOrderCntMsb 0, prevPicOrderCntLsb 0 -> 2 (without the reset: 12 -> 2 wraps to 18)
    ]);
    assert.deepEqual(
      got.map((g) => g.poc),
      [0, 6, 0, 2],
    );
    assert.deepEqual(
      got.map((g) => g.reset),
      [true, false, true, false],
    );
  });

  it('type 0: field pictures and delta_pic_order_cnt_bottom', () => {
    const sps = { picOrderCntType: 0, log2MaxPicOrderCntLsbMinus4: 2, frameMbsOnly: false };
    const pps = { bottomFieldPicOrderInFramePresentFlag: true };
    const got = pocs(sps, pps, [
      { idr: true, field: 'top', pocLsb: 0 },
      { idr: true, field: 'bottom', pocLsb: 1 },
      { frameNum: 1, pocLsb: 8, deltaPocBottom: -1 }, // frame: min(8, 7)
      { frameNum: 2, field: 'bottom', pocLsb: 13 },
      { frameNum: 2, field: 'top', pocLsb: 12 },
    ]);
    assert.deepEqual(
      got.map((g) => g.poc),
      [0, 1, 7, 13, 12],
    );
    assert.deepEqual(
      got.map((g) => g.structure),
      ['top', 'bottom', 'frame', 'bottom', 'top'],
    );
  });

  it('type 1: expected counts from the offset_for_ref_frame cycle', () => {
    const sps = {
      picOrderCntType: 1,
      offsetForRefFrame: [2, 4],
      offsetForNonRefPic: -1,
      offsetForTopToBottomField: 1,
    };
    const pps = { bottomFieldPicOrderInFramePresentFlag: true };
    // ExpectedDeltaPerPicOrderCntCycle = 6.
    const got = pocs(sps, pps, [
      { idr: true }, // abs 0 -> 0
      { frameNum: 1 }, // abs 1: cycle 0, in-cycle 0 -> 2
      { frameNum: 2, refIdc: 0, sliceType: 6 }, // abs 2-1 = 1 -> 2, -1 -> 1
      { frameNum: 2 }, // abs 2: in-cycle 1 -> 2+4 = 6
      { frameNum: 3, deltaPoc: [1, 0] }, // abs 3: cycle 1, in-cycle 0 -> 6+2 = 8, +1 -> 9
      { frameNum: 4, deltaPoc: [0, -3] }, // abs 4 -> 12; bottom 12+1-3 = 10 -> min 10
    ]);
    assert.deepEqual(
      got.map((g) => g.poc),
      [0, 2, 1, 6, 9, 10],
    );
  });

  it('type 2: 2 x (FrameNumOffset + frame_num), frame_num wrap, non-reference pictures, MMCO5', () => {
    const sps = { picOrderCntType: 2, log2MaxFrameNumMinus4: 0 }; // MaxFrameNum 16
    const slices: SyntheticSlice[] = [{ idr: true }];
    for (let fn = 1; fn < 16; fn++) slices.push({ frameNum: fn });
    slices.push({ frameNum: 0 }, { frameNum: 1 }, { frameNum: 2, refIdc: 0, sliceType: 5 }, { frameNum: 2 });
    slices.push({ frameNum: 3, mmco5: true }, { frameNum: 1 });
    const got = pocs(sps, {}, slices);
    const want = [0];
    for (let fn = 1; fn < 16; fn++) want.push(2 * fn);
    want.push(32, 34, 35, 36, 0, 2);
    assert.deepEqual(
      got.map((g) => g.poc),
      want,
    );
    assert.equal(got[got.length - 2]?.reset, true);
  });
});
