/**
 * SPS and PPS syntax the corpus exercises little or not at all, on
 * hand-built bitstreams: separate_colour_plane_flag, 4:4:4 scaling lists
 * (incl. UseDefaultScalingMatrixFlag), POC type 1 offsets, field-coded
 * cropping, every VUI group (Extended_SAR, overscan, colour description,
 * chroma location, timing, NAL and VCL HRD, bitstream restriction), PPS
 * slice-group map types 0..6 and the High-profile tail; profile and level
 * names. (Every SPS field of the corpus is checked in corpus.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode, type H264Error } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { AccessUnitAssembler } from '../../src/h264/access-unit-assembler.js';
import { nalUnitFromBytes } from '../../src/h264/nal-unit.js';
import { parsePps } from '../../src/h264/pps.js';
import { rbspToNal } from '../../src/h264/rbsp.js';
import { levelName, parseSps, profileName, type SequenceParameterSet } from '../../src/h264/sps.js';
import { BitWriter, buildSps } from './h264-test-helpers.js';

function nal(header: number, w: BitWriter): Uint8Array {
  const body = rbspToNal(w.trailing());
  return Uint8Array.of(header, ...body);
}

/** High 4:4:4 SPS with every optional part present. */
function fullSps(): Uint8Array {
  const w = new BitWriter().u(8, 244).u(8, 0b0001_0000).u(8, 51).ue(3);
  w.ue(3).flag(true); // chroma_format_idc 3, separate_colour_plane_flag
  w.ue(2).ue(4).flag(false); // bit depths 10 / 12, no transform bypass
  w.flag(true); // seq_scaling_matrix_present_flag: 12 lists
  for (let i = 0; i < 12; i++) {
    const present = i !== 1 && i !== 7;
    w.flag(present);
    if (!present) continue;
    if (i === 2) {
      w.se(-8); // 8 - 8 = 0 at j = 0: UseDefaultScalingMatrixFlag
    } else {
      const size = i < 6 ? 16 : 64;
      // Deltas: +1 each for 3 entries, then -(lastScale) to stop (nextScale 0 repeats the last value).
      w.se(1).se(1).se(1).se(-11);
      void size;
    }
  }
  w.ue(5); // log2_max_frame_num_minus4
  w.ue(1).flag(false).se(-3).se(2).ue(3).se(4).se(-2).se(6); // POC type 1
  w.ue(4).flag(true); // max_num_ref_frames, gaps allowed
  w.ue(43).ue(16); // 44 MBs wide, 17 map units high
  w.flag(false).flag(true); // frame_mbs_only 0, mb_adaptive_frame_field 1
  w.flag(true); // direct_8x8_inference
  w.flag(true).ue(1).ue(2).ue(3).ue(4); // cropping
  w.flag(true); // VUI
  w.flag(true).u(8, 255).u(16, 40).u(16, 33); // Extended_SAR 40:33
  w.flag(true).flag(true); // overscan appropriate
  w.flag(true).u(3, 2).flag(true).flag(true).u(8, 1).u(8, 14).u(8, 9); // video signal + colour description
  w.flag(true).ue(1).ue(2); // chroma loc
  w.flag(true).u(32, 1001).u(32, 60000).flag(true); // timing: 29.97
  const hrd = (cpbs: number[][]) => {
    w.ue(cpbs.length - 1)
      .u(4, 3)
      .u(4, 5);
    for (const [rate, size, cbr] of cpbs) w.ue(rate!).ue(size!).flag(cbr!);
    w.u(5, 23).u(5, 22).u(5, 21).u(5, 24);
  };
  w.flag(true);
  hrd([
    [1000, 2000, 1],
    [3000, 4000, 0],
  ]);
  w.flag(true);
  hrd([[500, 600, 0]]);
  w.flag(true); // low_delay_hrd_flag
  w.flag(true); // pic_struct_present_flag
  w.flag(true).flag(false).ue(3).ue(2).ue(14).ue(13).ue(1).ue(4); // bitstream restriction
  return nal(0x67, w);
}

describe('parseSps', () => {
  it('reads every syntax group of a High 4:4:4 SPS', () => {
    const sps = parseSps(fullSps());
    assert.equal(sps.profileIdc, 244);
    assert.equal(sps.spsId, 3);
    assert.equal(sps.chromaFormatIdc, 3);
    assert.equal(sps.separateColourPlaneFlag, true);
    assert.equal(sps.chromaArrayType, 0);
    assert.deepEqual([sps.bitDepthLuma, sps.bitDepthChroma], [10, 12]);
    assert.equal(sps.seqScalingListPresentFlag.length, 12);
    assert.equal(sps.seqScalingLists[1], null);
    assert.equal(sps.seqScalingLists[2]?.useDefaultScalingMatrix, true);
    const l0 = sps.seqScalingLists[0]!;
    assert.deepEqual(l0.deltaScale, [1, 1, 1, -11]);
    assert.deepEqual(l0.list, [9, 10, 11, ...new Array(13).fill(11)]);
    assert.equal(sps.seqScalingLists[6]?.list.length, 64);
    assert.equal(sps.maxFrameNum, 512);
    assert.equal(sps.picOrderCntType, 1);
    assert.deepEqual(
      [sps.offsetForNonRefPic, sps.offsetForTopToBottomField, sps.numRefFramesInPicOrderCntCycle],
      [-3, 2, 3],
    );
    assert.deepEqual(sps.offsetForRefFrame, [4, -2, 6]);
    assert.equal(sps.gapsInFrameNumAllowedFlag, true);
    assert.equal(sps.frameMbsOnly, false);
    assert.equal(sps.mbAdaptiveFrameFieldFlag, true);
    // 44x17 map units of field MB pairs: 704x544 coded; ChromaArrayType 0: CropUnitX 1, CropUnitY 2.
    assert.deepEqual([sps.codedWidth, sps.codedHeight], [704, 544]);
    assert.deepEqual(sps.crop, { left: 1, right: 2, top: 6, bottom: 8 });
    assert.deepEqual([sps.width, sps.height], [701, 530]);
    const v = sps.vui!;
    assert.deepEqual(sps.sar, [40, 33]);
    assert.deepEqual([v.aspectRatioIdc, v.sarWidth, v.sarHeight], [255, 40, 33]);
    assert.deepEqual([v.overscanInfoPresentFlag, v.overscanAppropriateFlag], [true, true]);
    assert.deepEqual(
      [v.videoFormat, v.videoFullRangeFlag, v.colourPrimaries, v.transferCharacteristics, v.matrixCoefficients],
      [2, true, 1, 14, 9],
    );
    assert.deepEqual([v.chromaSampleLocTypeTopField, v.chromaSampleLocTypeBottomField], [1, 2]);
    assert.deepEqual([v.numUnitsInTick, v.timeScale, v.fixedFrameRateFlag], [1001, 60000, true]);
    assert.ok(Math.abs(sps.fps! - 29.97) < 0.001);
    assert.deepEqual(v.nalHrd, {
      cpbCntMinus1: 1,
      bitRateScale: 3,
      cpbSizeScale: 5,
      bitRateValueMinus1: [1000, 3000],
      cpbSizeValueMinus1: [2000, 4000],
      cbrFlag: [true, false],
      initialCpbRemovalDelayLengthMinus1: 23,
      cpbRemovalDelayLengthMinus1: 22,
      dpbOutputDelayLengthMinus1: 21,
      timeOffsetLength: 24,
    });
    assert.deepEqual(v.vclHrd?.bitRateValueMinus1, [500]);
    assert.equal(v.lowDelayHrdFlag, true);
    assert.equal(v.picStructPresentFlag, true);
    assert.deepEqual(
      [
        v.motionVectorsOverPicBoundariesFlag,
        v.maxBytesPerPicDenom,
        v.maxBitsPerMbDenom,
        v.log2MaxMvLengthHorizontal,
        v.log2MaxMvLengthVertical,
        v.maxNumReorderFrames,
        v.maxDecFrameBuffering,
      ],
      [false, 3, 2, 14, 13, 1, 4],
    );
  });

  it('ignores frame cropping that would leave no picture (as FFmpeg does) instead of rejecting the SPS', () => {
    const w = new BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(2).ue(1).flag(false).ue(1).ue(1); // 32x32
    w.flag(true).flag(true).flag(true).ue(8).ue(8).ue(0).ue(0).flag(false); // crop 16 + 16 columns
    const sps = parseSps(nal(0x67, w));
    assert.deepEqual([sps.width, sps.height, sps.frameCropLeftOffset], [32, 32, 8]);
    assert.deepEqual(sps.crop, { left: 0, right: 0, top: 0, bottom: 0 });
  });

  it('reads the seq_parameter_set_data() of a subset SPS (type 15)', () => {
    const sps = buildSps({ profileIdc: 66 });
    const subset = Uint8Array.from(sps);
    subset[0] = 0x6f;
    assert.equal(parseSps(subset).profileIdc, 66);
  });

  it('rejects out-of-range values and other NAL types with H264Error', () => {
    assert.throws(
      () => parseSps(Uint8Array.of(0x68, 0, 0, 0)),
      (e) => hasCode(e, 'ERR_H264_INVALID'),
    );
    const badPoc = nal(
      0x67,
      new BitWriter()
        .u(8, 66)
        .u(8, 0)
        .u(8, 30)
        .ue(0)
        .ue(0)
        .ue(3)
        .ue(1)
        .flag(false)
        .ue(1)
        .ue(1)
        .flag(true)
        .flag(true)
        .flag(false)
        .flag(false),
    );
    assert.throws(
      () => parseSps(badPoc),
      (e) => hasCode(e, 'ERR_H264_INVALID') && /pic_order_cnt_type/.test((e as Error).message),
    );
    const bigId = nal(0x67, new BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(32));
    assert.throws(
      () => parseSps(bigId),
      (e) => hasCode(e, 'ERR_H264_INVALID'),
    );
  });

  it('names profiles and levels as FFmpeg does', () => {
    const cs = (...flags: number[]) => flags.reduce((acc, k) => acc | (0x80 >> k), 0);
    assert.equal(profileName(66, cs(1)), 'Constrained Baseline');
    assert.equal(profileName(66, 0), 'Baseline');
    assert.equal(profileName(77, 0), 'Main');
    assert.equal(profileName(88, 0), 'Extended');
    assert.equal(profileName(100, 0), 'High');
    assert.equal(profileName(110, 0), 'High 10');
    assert.equal(profileName(110, cs(3)), 'High 10 Intra');
    assert.equal(profileName(122, 0), 'High 4:2:2');
    assert.equal(profileName(244, 0), 'High 4:4:4 Predictive');
    assert.equal(profileName(244, cs(3)), 'High 4:4:4 Intra');
    assert.equal(profileName(44, 0), 'CAVLC 4:4:4');
    assert.equal(profileName(118, 0), 'Multiview High');
    assert.equal(profileName(7, 0), 'Unknown (7)');
    assert.equal(levelName(40, 0), '4.0');
    assert.equal(levelName(31, 0), '3.1');
    assert.equal(levelName(9, 0), '1b');
    assert.equal(levelName(11, cs(3), 66), '1b');
    assert.equal(levelName(11, cs(3), 100), '1.1', 'constraint_set3 means Intra, not 1b, in High profiles');
    assert.equal(levelName(11, 0, 66), '1.1');
  });
});

/** A PPS with `numSliceGroups` slice groups of map type `mapType` and its parameters. */
function fmoPps(mapType: number, numSliceGroups: number, params: (w: BitWriter) => void): Uint8Array {
  const w = new BitWriter()
    .ue(1)
    .ue(0)
    .flag(false)
    .flag(false)
    .ue(numSliceGroups - 1)
    .ue(mapType);
  params(w);
  w.ue(0).ue(0).flag(false).u(2, 0).se(0).se(0).se(0).flag(true).flag(false).flag(false);
  return nal(0x68, w);
}

describe('parsePps', () => {
  it('reads slice groups of every map type (FMO 0..6)', () => {
    const p0 = parsePps(
      fmoPps(0, 3, (w) => w.ue(4).ue(5).ue(6)),
      () => undefined,
    );
    assert.deepEqual([p0.numSliceGroupsMinus1, p0.sliceGroupMapType, p0.runLengthMinus1], [2, 0, [4, 5, 6]]);
    assert.equal(
      parsePps(
        fmoPps(1, 2, () => undefined),
        () => undefined,
      ).sliceGroupMapType,
      1,
    );
    const p2 = parsePps(
      fmoPps(2, 3, (w) => w.ue(0).ue(10).ue(2).ue(20)),
      () => undefined,
    );
    assert.deepEqual(
      [p2.topLeft, p2.bottomRight],
      [
        [0, 2],
        [10, 20],
      ],
    );
    for (const type of [3, 4, 5]) {
      const p = parsePps(
        fmoPps(type, 2, (w) => w.flag(true).ue(7)),
        () => undefined,
      );
      assert.deepEqual(
        [p.sliceGroupMapType, p.sliceGroupChangeDirectionFlag, p.sliceGroupChangeRateMinus1],
        [type, true, 7],
      );
    }
    // Type 6 with 5 groups: Ceil(Log2(5)) = 3 bits per map unit.
    const p6 = parsePps(
      fmoPps(6, 5, (w) => w.ue(5).u(3, 0).u(3, 1).u(3, 2).u(3, 3).u(3, 4).u(3, 0)),
      () => undefined,
    );
    assert.deepEqual([p6.picSizeInMapUnitsMinus1, p6.sliceGroupId], [5, [0, 1, 2, 3, 4, 0]]);
    assert.equal(p6.redundantPicCntPresentFlag, false);
    assert.equal(p6.hasHighProfileTail, false);
  });

  it('reads the High-profile tail; 8x8 scaling lists count by chroma_format_idc (2 for 4:2:0, 6 for 4:4:4)', () => {
    const tail = (lists: number) => {
      const w = new BitWriter()
        .ue(0)
        .ue(3)
        .flag(true)
        .flag(false)
        .ue(0)
        .ue(2)
        .ue(0)
        .flag(true)
        .u(2, 1)
        .se(-2)
        .se(0)
        .se(3);
      w.flag(true).flag(false).flag(true); // deblocking, constrained intra, redundant_pic_cnt_present
      w.flag(true).flag(true); // transform_8x8_mode_flag, pic_scaling_matrix_present_flag
      for (let i = 0; i < lists; i++) {
        w.flag(i === 0);
        if (i === 0) w.se(-8); // the default matrix
      }
      w.se(-4); // second_chroma_qp_index_offset
      return nal(0x68, w);
    };
    const sps444 = parseSps(fullSps());
    const pps444 = parsePps(tail(12), (id) => (id === 3 ? sps444 : undefined));
    assert.equal(pps444.picScalingListPresentFlag.length, 12);
    assert.equal(pps444.picScalingLists[0]?.useDefaultScalingMatrix, true);
    assert.equal(pps444.secondChromaQpIndexOffset, -4);
    assert.deepEqual(
      [
        pps444.entropyCodingModeFlag,
        pps444.numRefIdxL0DefaultActiveMinus1,
        pps444.weightedPredFlag,
        pps444.weightedBipredIdc,
        pps444.picInitQpMinus26,
        pps444.chromaQpIndexOffset,
      ],
      [true, 2, true, 1, -2, 3],
    );
    assert.equal(pps444.redundantPicCntPresentFlag, true);
    // Without the SPS, 4:2:0 (8 lists) is assumed.
    const guessed = parsePps(tail(8), () => undefined);
    assert.equal(guessed.picScalingListPresentFlag.length, 8);
    assert.equal(guessed.secondChromaQpIndexOffset, -4);
  });

  it('the assembler re-reads a 4:4:4 PPS that arrived before its SPS', () => {
    const w = new BitWriter()
      .ue(0)
      .ue(3)
      .flag(false)
      .flag(false)
      .ue(0)
      .ue(0)
      .ue(0)
      .flag(false)
      .u(2, 0)
      .se(0)
      .se(0)
      .se(0);
    w.flag(true).flag(false).flag(false).flag(true).flag(true);
    for (let i = 0; i < 12; i++) w.flag(false);
    w.se(5);
    const ppsNal = nal(0x68, w);
    const errors: H264Error[] = [];
    const assembler = new AccessUnitAssembler({
      onAccessUnit: (_au: AccessUnit) => undefined,
      onError: (e) => errors.push(e),
    });
    assembler.push(nalUnitFromBytes(ppsNal));
    // Read as 4:2:0 (8 lists), the 9th list flag is taken for second_chroma_qp_index_offset.
    assert.notEqual(assembler.getPps(0)?.secondChromaQpIndexOffset, 5);
    assembler.push(nalUnitFromBytes(fullSps()));
    const sps: SequenceParameterSet | undefined = assembler.getSps(3);
    assert.equal(sps?.chromaFormatIdc, 3);
    assert.equal(assembler.getPps(0)?.picScalingListPresentFlag.length, 12);
    assert.equal(assembler.getPps(0)?.secondChromaQpIndexOffset, 5);
    assert.deepEqual(errors, []);
  });
});
