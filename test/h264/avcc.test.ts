/**
 * avcC build/parse and NAL framing conversions, checked against what FFmpeg
 * writes into an MP4 (`ffmpeg -f h264 -i FILE -c copy out.mp4`) and what
 * mediabunny reads back from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_FORMATS, EncodedPacketSink, FilePathSource, Input } from 'mediabunny';
import {
  annexBToLengthPrefixed,
  buildAvcDecoderConfigurationRecord,
  lengthPrefixedToNals,
  nalsToAnnexB,
  parseAvcDecoderConfigurationRecord,
} from '../../src/h264/avcc.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { hasCode } from '../../src/errors.js';
import { corpusFile, scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** First SPS and first PPS of a corpus file, as our scanner finds them. */
function firstParameterSets(name: string): { sps: Uint8Array; pps: Uint8Array } {
  const nals = splitAnnexB(readFileSync(corpusFile(name)));
  const sps = nals.find((n) => n.type === 7);
  const pps = nals.find((n) => n.type === 8);
  assert.ok(sps && pps, `${name} has an SPS and a PPS`);
  return { sps: sps.data, pps: pps.data };
}

/** The payload of the first avcC box in an MP4 file. */
function avcCBox(mp4: Uint8Array): Uint8Array {
  const at = Buffer.from(mp4).indexOf('avcC');
  assert.ok(at >= 4, 'the MP4 has an avcC box');
  const size = Buffer.from(mp4).readUInt32BE(at - 4);
  return mp4.subarray(at + 4, at - 4 + size);
}

/** Remuxes a corpus file to MP4 with FFmpeg. */
function ffmpegMp4(name: string, dir: string): string {
  const out = join(dir, `${name}.mp4`);
  const r = spawnSync(requireTool('ffmpeg'), [
    '-v',
    'error',
    '-y',
    '-f',
    'h264',
    '-i',
    corpusFile(name),
    '-c',
    'copy',
    '-frames:v',
    '3',
    out,
  ]);
  assert.equal(r.status, 0, `ffmpeg failed on ${name}: ${r.stderr}`);
  return out;
}

// profile_idc of each: 66 Baseline, 66 (constrained), 100 High, 110 High 10 Intra, 122 High 4:2:2, 244 High 4:4:4.
const FILES = [
  'BA1_FT_C.264',
  'test_640x360.h264',
  'test.h264',
  'PPH10I2_Panasonic_A.264',
  'input-20-360p-I422.h264',
  'input-10-720a.h264',
];

test('avcC built from the first SPS/PPS equals the one FFmpeg writes into an MP4', () => {
  const { dir, cleanup } = scratchDir();
  try {
    for (const name of FILES) {
      const { sps, pps } = firstParameterSets(name);
      const ours = buildAvcDecoderConfigurationRecord([sps], [pps]);
      let theirs = avcCBox(readFileSync(ffmpegMp4(name, dir)));
      const parsedTheirs = parseAvcDecoderConfigurationRecord(theirs);
      if (parsedTheirs.pps.some((p) => p[p.length - 1] === 0)) {
        // Exception (BA1_FT_C): FFmpeg keeps the stream's trailing_zero_8bits after the PPS
        // as part of the PPS. A NAL unit never ends in 0x00 (7.4.1), so our scanner drops
        // them; rebuild FFmpeg's record without them, everything else must still match.
        const trim = (n: Uint8Array): Uint8Array => {
          let end = n.length;
          while (end > 0 && n[end - 1] === 0) end--;
          return n.subarray(0, end);
        };
        const rebuilt = buildAvcDecoderConfigurationRecord(parsedTheirs.sps.map(trim), parsedTheirs.pps.map(trim));
        assert.equal(hex(rebuilt.subarray(0, 6)), hex(theirs.subarray(0, 6)), `${name}: header bytes`);
        theirs = rebuilt;
      }
      if (sps[1] === 244) {
        // Exception: FFmpeg writes the High-profile extension for every profile other than
        // 66/77/88, but ISO/IEC 14496-15 5.3.3.1 defines it only for 100/110/122/144, which is
        // what we (and mediabunny, and Chromium's parser) follow. Everything before it must match.
        assert.equal(hex(theirs.subarray(0, ours.length)), hex(ours), name);
        const parsed = parseAvcDecoderConfigurationRecord(theirs);
        assert.equal(parsed.chromaFormatIdc, 3, `${name}: chroma 4:4:4 in FFmpeg's extension`);
      } else {
        assert.equal(hex(ours), hex(theirs), name);
      }
    }
  } finally {
    cleanup();
  }
});

test('the High-profile extension carries chroma format and bit depths', () => {
  const high10 = parseAvcDecoderConfigurationRecord(
    buildAvcDecoderConfigurationRecord(...spsPps('PPH10I2_Panasonic_A.264')),
  );
  assert.equal(high10.profileIdc, 110);
  assert.equal(high10.chromaFormatIdc, 1);
  assert.equal(high10.bitDepthLuma, 10);
  assert.equal(high10.bitDepthChroma, 10);
  assert.deepEqual(high10.spsExt, []);
  const i422 = parseAvcDecoderConfigurationRecord(
    buildAvcDecoderConfigurationRecord(...spsPps('input-20-360p-I422.h264')),
  );
  assert.equal(i422.profileIdc, 122);
  assert.equal(i422.chromaFormatIdc, 2);
  assert.equal(i422.bitDepthLuma, 8);
  const baseline = parseAvcDecoderConfigurationRecord(buildAvcDecoderConfigurationRecord(...spsPps('BA1_FT_C.264')));
  assert.equal(baseline.chromaFormatIdc, null, 'no extension for Baseline');
  assert.equal(baseline.spsExt, null);
});

function spsPps(name: string): [Uint8Array[], Uint8Array[]] {
  const { sps, pps } = firstParameterSets(name);
  return [[sps], [pps]];
}

test('parse round-trips several parameter sets and SPS extensions', () => {
  const { sps, pps } = firstParameterSets('test.h264');
  const pps2 = Uint8Array.from([0x68, 0xee, 0x3c, 0x80]);
  const ext = Uint8Array.from([0x6d, 0x01, 0x02]);
  const record = buildAvcDecoderConfigurationRecord([sps], [pps, pps2], [ext]);
  const parsed = parseAvcDecoderConfigurationRecord(record);
  assert.equal(parsed.configurationVersion, 1);
  assert.equal(parsed.lengthSize, 4);
  assert.equal(parsed.profileIdc, sps[1]);
  assert.equal(parsed.profileCompatibility, sps[2]);
  assert.equal(parsed.levelIdc, sps[3]);
  assert.deepEqual(parsed.sps.map(hex), [hex(sps)]);
  assert.deepEqual(parsed.pps.map(hex), [hex(pps), hex(pps2)]);
  assert.deepEqual(parsed.spsExt?.map(hex), [hex(ext)]);
});

test('malformed avcC and misuse raise typed errors', () => {
  const { sps, pps } = firstParameterSets('test.h264');
  const record = buildAvcDecoderConfigurationRecord([sps], [pps]);
  for (let cut = 0; cut < record.length - 4; cut++) {
    // Every truncation inside the SPS/PPS lists is reported, never read past the end.
    assert.throws(
      () => parseAvcDecoderConfigurationRecord(record.subarray(0, cut)),
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
      `cut at ${cut}`,
    );
  }
  const badVersion = record.slice();
  badVersion[0] = 2;
  assert.throws(
    () => parseAvcDecoderConfigurationRecord(badVersion),
    (e) => hasCode(e, 'ERR_H264_INVALID'),
  );
  assert.throws(() => buildAvcDecoderConfigurationRecord([], [pps]), RangeError);
  assert.throws(
    () => buildAvcDecoderConfigurationRecord([pps], [pps]),
    (e) => hasCode(e, 'ERR_H264_INVALID'),
  );
});

test('length-prefixed framing round-trips for 1-, 2- and 4-byte lengths', () => {
  // Real NAL units never end in 0x00 (7.4.1), and the Annex-B check below relies on that.
  const big = new Uint8Array(300);
  big[0] = 0x65;
  big[299] = 0x80;
  const nals = [Uint8Array.from([0x67, 1, 2, 3]), Uint8Array.from([0x68, 0, 0, 0x80]), big];
  for (const size of [1, 2, 4]) {
    const small = size === 1 ? nals.slice(0, 2) : nals;
    const framed = annexBToLengthPrefixed(small, size);
    assert.equal(
      framed.length,
      small.reduce((n, nal) => n + size + nal.length, 0),
    );
    assert.deepEqual(lengthPrefixedToNals(framed, size).map(hex), small.map(hex));
  }
  assert.throws(() => annexBToLengthPrefixed([new Uint8Array(256)], 1), RangeError);
  assert.throws(() => annexBToLengthPrefixed(nals, 3), RangeError);
  const framed = annexBToLengthPrefixed(nals);
  assert.throws(
    () => lengthPrefixedToNals(framed.subarray(0, framed.length - 1)),
    (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
  );
  assert.throws(
    () => lengthPrefixedToNals(framed.subarray(0, 2)),
    (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
  );
  const annexB = nalsToAnnexB(nals);
  assert.deepEqual(
    splitAnnexB(annexB).map((n) => hex(n.data)),
    nals.map(hex),
  );
  assert.ok(splitAnnexB(annexB).every((n) => n.startCodeLength === 4));
});

test("FFmpeg's MP4 samples convert back to the NAL units of the Annex-B input", async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const name = 'test_640x360.h264';
    const mp4 = ffmpegMp4(name, dir);
    const input = new Input({ source: new FilePathSource(mp4), formats: ALL_FORMATS });
    const track = await input.getPrimaryVideoTrack();
    assert.ok(track);
    const config = await track.getDecoderConfig();
    assert.ok(config?.description);
    const description = new Uint8Array(config.description as ArrayBuffer);
    const parsed = parseAvcDecoderConfigurationRecord(description);
    const packet = await new EncodedPacketSink(track).getFirstPacket();
    assert.ok(packet);
    const sampleNals = lengthPrefixedToNals(packet.data, parsed.lengthSize);
    // The first access unit of the Annex-B file, NAL by NAL (FFmpeg keeps in-band SPS/PPS/SEI).
    const fileNals = splitAnnexB(readFileSync(corpusFile(name))).slice(0, sampleNals.length);
    assert.deepEqual(
      sampleNals.map(hex),
      fileNals.map((n) => hex(n.data)),
    );
    assert.equal(hex(annexBToLengthPrefixed(sampleNals, parsed.lengthSize)), hex(packet.data));
    input.dispose();
  } finally {
    cleanup();
  }
});
