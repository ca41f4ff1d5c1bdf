/**
 * Streams the corpus lacks, made here with ffmpeg/libx264 and the x264 CLI:
 * B-frames with a B-pyramid (POC-derived presentation order against ffprobe),
 * 4 slices per frame, 1080p cropped from 1088, interlaced (MBAFF) coding,
 * and VUI timing at 30 and 60 fps.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { presentationOrder } from './h264-test-helpers.js';

let dir = '';
let cleanup: () => void = () => undefined;

function run(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${tool} ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

/** Encodes `frames` frames of testsrc2 with libx264 to a raw H.264 file in the scratch folder. */
function encode(
  name: string,
  size: string,
  rate: number,
  frames: number,
  x264Args: string[],
  extra: string[] = [],
): Uint8Array {
  const out = join(dir, name);
  run(requireTool('ffmpeg'), [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=${rate}`,
    '-frames:v',
    String(frames),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    ...extra,
    '-x264-params',
    x264Args.join(':'),
    '-f',
    'h264',
    out,
  ]);
  return readFileSync(out);
}

function ffprobeFramesPktPos(file: string): number[] {
  const json = run(requireTool('ffprobe'), [
    '-v',
    'error',
    '-f',
    'h264',
    '-show_entries',
    'frame=pkt_pos',
    '-of',
    'json',
    file,
  ]);
  return (JSON.parse(json) as { frames: Array<{ pkt_pos: string }> }).frames.map((f) => Number(f.pkt_pos));
}

describe('streams generated with ffmpeg/x264', () => {
  before(() => {
    ({ dir, cleanup } = scratchDir('rearview-h264-gen-'));
  });
  after(() => cleanup());

  it('B-frames with a B-pyramid: POC gives the presentation order ffprobe decodes', () => {
    const bytes = encode('pyramid.h264', '320x240', 30, 75, [
      'bframes=3',
      'b-pyramid=normal',
      'keyint=30',
      'min-keyint=30',
      'scenecut=0',
      'b-adapt=0',
    ]);
    const { accessUnits, errors } = parseAnnexB(bytes);
    assert.deepEqual(errors, []);
    assert.equal(accessUnits.length, 75);
    assert.equal(accessUnits.filter((a) => a.isKey).length, 3);
    const bRefs = accessUnits.filter((a) => a.sliceTypes.includes(1) && a.isReference);
    const bNonRefs = accessUnits.filter((a) => a.sliceTypes.includes(1) && !a.isReference);
    assert.ok(bRefs.length > 0, 'the pyramid has reference B pictures');
    assert.ok(bNonRefs.length > 0);
    const order = presentationOrder(accessUnits);
    assert.notDeepEqual(
      order,
      accessUnits.map((_, i) => i),
    );
    assert.deepEqual(
      order.map((i) => accessUnits[i]!.offset),
      ffprobeFramesPktPos(join(dir, 'pyramid.h264')),
    );
    assert.equal(accessUnits[0]!.sps?.vui?.maxNumReorderFrames, 2, 'x264 signals 2 reorder frames for a B-pyramid');
  });

  it('4 slices per frame (x264 slices=4): one access unit per frame, 4 slices each', () => {
    const bytes = encode('slices.h264', '640x360', 30, 30, ['slices=4', 'bframes=0']);
    const { accessUnits, errors } = parseAnnexB(bytes);
    assert.deepEqual(errors, []);
    assert.equal(accessUnits.length, 30);
    assert.ok(accessUnits.every((a) => a.sliceTypes.length === 4));
    const packets = run(requireTool('ffprobe'), [
      '-v',
      'error',
      '-f',
      'h264',
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      join(dir, 'slices.h264'),
    ]);
    assert.equal(Number(packets.trim()), 30);
  });

  it('1080p: 1920x1080 cropped from 1920x1088', () => {
    const bytes = encode('1080p.h264', '1920x1080', 30, 2, ['bframes=0'], ['-preset', 'ultrafast']);
    const { accessUnits } = parseAnnexB(bytes);
    const sps = accessUnits[0]!.sps!;
    assert.deepEqual([sps.width, sps.height, sps.codedWidth, sps.codedHeight], [1920, 1080, 1920, 1088]);
    assert.equal(sps.frameCroppingFlag, true);
    assert.equal(sps.frameCropBottomOffset, 4, 'CropUnitY is 2 for 4:2:0 frames');
    assert.deepEqual(sps.crop, { left: 0, right: 0, top: 0, bottom: 8 });
  });

  it('interlaced (MBAFF): frame_mbs_only_flag 0, height in field macroblock pairs and CropUnitY 4', () => {
    const bytes = encode('mbaff.h264', '320x200', 30, 4, ['bframes=0'], ['-flags', '+ildct+ilme']);
    const { accessUnits, errors } = parseAnnexB(bytes);
    assert.deepEqual(errors, []);
    const sps = accessUnits[0]!.sps!;
    assert.equal(sps.frameMbsOnly, false);
    assert.equal(sps.mbAdaptiveFrameFieldFlag, true);
    assert.deepEqual([sps.width, sps.height, sps.codedHeight], [320, 200, 224]);
    assert.equal(sps.frameCropBottomOffset, 6);
    assert.equal(accessUnits.length, 4);
    assert.ok(accessUnits.every((a) => a.structure === 'frame'));
  });

  it('VUI timing at 30 fps (libx264) and 60 fps (x264 CLI)', () => {
    const at30 = parseAnnexB(encode('30fps.h264', '320x240', 30, 3, ['bframes=0'])).accessUnits[0]!.sps!;
    assert.equal(at30.fps, 30);
    assert.equal(at30.vui?.timingInfoPresentFlag, true);
    assert.equal(at30.vui!.timeScale / at30.vui!.numUnitsInTick, 60);

    const yuv = join(dir, 'in60.yuv');
    run(requireTool('ffmpeg'), [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=60',
      '-frames:v',
      '6',
      '-pix_fmt',
      'yuv420p',
      '-f',
      'rawvideo',
      yuv,
    ]);
    const out = join(dir, '60fps.264');
    run(requireTool('x264'), [
      '--quiet',
      '--input-res',
      '320x240',
      '--fps',
      '60',
      '--preset',
      'ultrafast',
      '-o',
      out,
      yuv,
    ]);
    const { accessUnits, errors } = parseAnnexB(readFileSync(out));
    assert.deepEqual(errors, []);
    assert.equal(accessUnits.length, 6);
    const sps = accessUnits[0]!.sps!;
    assert.equal(sps.fps, 60);
    assert.deepEqual([sps.width, sps.height], [320, 240]);
  });
});
