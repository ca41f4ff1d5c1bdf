/**
 * Every file of the external corpus through H264StreamParser, compared with
 * GROUND_TRUTH.json (FFmpeg/ffprobe output and an independent NAL census):
 * sizes, profile, level, chroma format, bit depths, NAL counts per type,
 * start-code lengths, access units, and every SPS field FFmpeg's
 * trace_headers printed. Exceptions are named in test/support/ground-truth.ts
 * (ACCESS_UNIT_EXCEPTIONS, SIZE_EXCEPTIONS) with their reasons.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseSliceHeaderStart } from '../../src/h264/slice-header.js';
import { levelName, parseSps, profileName, type SequenceParameterSet } from '../../src/h264/sps.js';
import { parsePps } from '../../src/h264/pps.js';
import { corpusFile } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import {
  ACCESS_UNIT_EXCEPTIONS,
  SIZE_EXCEPTIONS,
  corpusFileNames,
  expectedSummary,
  groundTruth,
} from '../support/ground-truth.js';
import {
  framesInPresentationOrder,
  framesOf,
  parseInChunks,
  ppsToRaw,
  presentationOrder,
  spsToRaw,
} from './h264-test-helpers.js';

function countBy<T>(items: T[], key: (t: T) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

const files = corpusFileNames();

describe('corpus against GROUND_TRUTH.json', () => {
  it('covers the whole corpus', () => {
    assert.ok(files.length >= 39, `only ${files.length} files in GROUND_TRUTH.json`);
  });

  for (const file of files) {
    it(file, () => {
      const bytes = readFileSync(corpusFile(file));
      const gt = groundTruth(file);
      const expected = expectedSummary(file);
      // 64 KiB chunks, like a file or socket source.
      const splits: number[] = [];
      for (let at = 65536; at < bytes.length; at += 65536) splits.push(at);
      const { nals, accessUnits, errors } = parseInChunks(bytes, splits);

      assert.deepEqual(
        errors.map((e) => `${e.code}: ${e.message}`),
        [],
        'no errors on a conforming stream',
      );
      assert.equal(bytes.length, expected.bytes);

      // NAL census.
      assert.equal(nals.length, expected.nalUnits, 'NAL units');
      assert.deepEqual(
        countBy(nals, (n) => String(n.type)),
        expected.nalCounts,
        'NAL counts per type',
      );
      assert.deepEqual(
        countBy(nals, (n) => (n.refIdc ? String(n.type) : undefined)),
        gt.nal_scan.nal_ref_idc_nonzero_by_type,
      );
      assert.deepEqual(
        countBy(nals, (n) => String(n.startCodeLength)),
        gt.nal_scan.start_code_lengths,
        'start code lengths',
      );
      assert.equal(nals[0]?.offset, gt.nal_scan.first_start_code_offset);
      const firstMbZero = nals.filter(
        (n) => (n.type === 1 || n.type === 5) && parseSliceHeaderStart(n.data).firstMbInSlice === 0,
      );
      assert.equal(firstMbZero.length, gt.nal_scan.first_mb_zero_slices, 'slices with first_mb_in_slice == 0');

      // Access units: every NAL in exactly one, in order.
      assert.equal(accessUnits.length, expected.accessUnits, `access units (${expected.accessUnitsSource})`);
      assert.deepEqual(
        accessUnits.flatMap((au) => au.nals),
        nals,
        'access units partition the NAL units in order',
      );
      for (const au of accessUnits) {
        const last = au.nals[au.nals.length - 1]!;
        assert.equal(au.offset, au.nals[0]!.offset);
        assert.equal(au.byteLength, last.offset + last.startCodeLength + last.data.length - au.offset);
      }
      if (file in ACCESS_UNIT_EXCEPTIONS) assert.ok(ACCESS_UNIT_EXCEPTIONS[file]!.reason.length > 20);

      // The first SPS, as the summary describes it.
      const spsNals = nals.filter((n) => n.type === 7);
      const first = parseSps(spsNals[0]!.data);
      const s = expected.sps;
      assert.deepEqual(
        {
          profileIdc: first.profileIdc,
          constraintFlags: first.constraintFlags,
          levelIdc: first.levelIdc,
          level: levelName(first.levelIdc, first.constraintFlags, first.profileIdc),
          chromaFormatIdc: first.chromaFormatIdc,
          bitDepthLuma: first.bitDepthLuma,
          bitDepthChroma: first.bitDepthChroma,
          width: first.width,
          height: first.height,
          codedWidth: first.codedWidth,
          codedHeight: first.codedHeight,
          frameMbsOnly: first.frameMbsOnly,
          sar: first.sar,
          fps: first.fps,
        },
        {
          profileIdc: s.profileIdc,
          constraintFlags: s.constraintFlags,
          levelIdc: s.levelIdc,
          level: s.level,
          chromaFormatIdc: s.chromaFormatIdc,
          bitDepthLuma: s.bitDepthLuma,
          bitDepthChroma: s.bitDepthChroma,
          width: s.width,
          height: s.height,
          codedWidth: s.codedWidth,
          codedHeight: s.codedHeight,
          frameMbsOnly: s.frameMbsOnly,
          sar: s.sar,
          fps: s.fps,
        },
      );
      if (s.profile !== null) assert.equal(profileName(first.profileIdc, first.constraintFlags), s.profile);
      if (!(file in SIZE_EXCEPTIONS)) {
        // ffprobe's stream values agree with the first SPS everywhere else.
        assert.deepEqual(
          [gt.ffprobe.width, gt.ffprobe.height, gt.ffprobe.coded_width, gt.ffprobe.coded_height],
          [first.width, first.height, first.codedWidth, first.codedHeight],
        );
        assert.equal(gt.ffprobe.level, first.levelIdc);
      }

      // Every SPS field FFmpeg printed, for each distinct SPS in stream order.
      const distinct = new Map<string, { sps: SequenceParameterSet; raw: Record<string, number> }>();
      for (const n of spsNals) {
        const key = Buffer.from(n.data).toString('hex');
        if (!distinct.has(key)) {
          const sps = parseSps(n.data);
          distinct.set(key, { sps, raw: spsToRaw(sps, n) });
        }
      }
      const ours = [...distinct.values()];
      assert.equal(ours.length, gt.sps_raw.length, 'distinct SPSs');
      gt.sps_raw.forEach((want, i) => {
        const got = ours[i]!.raw;
        for (const [key, value] of Object.entries(want)) {
          assert.ok(key in got, `SPS ${i}: field ${key} is not parsed`);
          assert.equal(got[key], value, `SPS ${i}: ${key}`);
        }
      });

      // PPS summary fields, distinct PPSs in order (with the SPS active when each arrived).
      const ppsSeen = new Map<string, Record<string, number>>();
      const spsById = new Map<number, SequenceParameterSet>();
      for (const n of nals) {
        if (n.type === 7) {
          const sps = parseSps(n.data);
          spsById.set(sps.spsId, sps);
        } else if (n.type === 8) {
          const raw = ppsToRaw(parsePps(n.data, (id) => spsById.get(id)));
          ppsSeen.set(JSON.stringify(raw), raw);
        }
      }
      const wantPps = new Set(gt.pps_summary.map((p) => JSON.stringify(p)));
      assert.deepEqual(new Set(ppsSeen.keys()), wantPps, 'distinct PPS summaries');
    });
  }
});

function ffprobeFramePositions(file: string): number[] {
  const r = spawnSync(
    requireTool('ffprobe'),
    ['-v', 'error', '-f', 'h264', '-show_entries', 'frame=pkt_pos', '-of', 'json', corpusFile(file)],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { frames: Array<{ pkt_pos: string }> }).frames.map((f) => Number(f.pkt_pos));
}

describe('POC presentation order of field pictures against ffprobe -show_frames', () => {
  // Field pairs are one decoded frame at Min(TopFieldOrderCnt, BottomFieldOrderCnt);
  // ffprobe reports the position of one of the pair's two access units.
  for (const file of [
    'CVFI1_SVA_C.264',
    'CAFI1_SVA_C.264',
    'CAPA1_TOSHIBA_B.264',
    'CABREF3_Sand_D.264',
    'HCAFF1_HHI.264',
    'CAPAMA3_Sand_F.264',
  ]) {
    it(file, () => {
      const { accessUnits } = parseInChunks(readFileSync(corpusFile(file)));
      const frames = framesInPresentationOrder(framesOf(accessUnits));
      assert.ok(
        frames.some((f) => f.offsets.length === 2),
        'has field pairs',
      );
      const positions = ffprobeFramePositions(file);
      assert.equal(frames.length, positions.length, 'decoded frames');
      for (const [i, f] of frames.entries())
        assert.ok(f.offsets.includes(positions[i]!), `frame ${i}: ${f.offsets.join('/')} vs ffprobe ${positions[i]}`);
    });
  }
});

describe('POC presentation order against ffprobe -show_frames', () => {
  // Frame-coded files FFmpeg decodes whose presentation order differs from decode order.
  const reordered = [
    'Cisco_Men_whisper_640x320_CABAC_Bframe_9.264',
    'BA3_SVA_C.264',
    'SL1_SVA_B.264',
    'CAMA3_Sand_E.264',
    'HCAMFF1_HHI.264',
    'FRExt1_Panasonic.avc',
    'FRExt_MMCO4_Sony_B.264',
    'input-20-360p-I422.h264',
  ];
  for (const file of reordered) {
    it(file, () => {
      const bytes = readFileSync(corpusFile(file));
      const { accessUnits } = parseInChunks(bytes);
      const order = presentationOrder(accessUnits);
      assert.notDeepEqual(
        order,
        accessUnits.map((_, i) => i),
        'the file reorders pictures',
      );
      const ffOrder = ffprobeFramePositions(file);
      assert.deepEqual(
        order.map((i) => accessUnits[i]!.offset),
        ffOrder,
      );
    });
  }
});
