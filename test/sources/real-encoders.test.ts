/**
 * The process sources against the real encoders installed on this machine
 * (ffmpeg with libx264, GStreamer with openh264enc): what they deliver must
 * decode with ffmpeg without a single error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig, type ConfigInput } from '../../src/config.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { createSource } from '../../src/sources/create-source.js';
import type { ProcessSource } from '../../src/sources/process-source.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { CollectingSink, memoryLogger, pidAlive } from './source-fixtures.js';
import { waitFor } from '../support/wait.js';

/** Runs the source until `count` access units arrived, stops it, and checks the process is gone. */
async function capture(
  input: ConfigInput,
  count: number,
): Promise<{ aus: AccessUnit[]; lines: string[]; src: ProcessSource }> {
  const config = mergeConfig(defaultConfig(), input);
  const { logger, lines } = memoryLogger();
  const src = createSource(config, logger) as ProcessSource;
  const sink = new CollectingSink();
  try {
    await src.start(sink);
    await waitFor(
      () => sink.accessUnits.length >= count,
      `${count} access units from ${src.commandLine.command}`,
      20_000,
    );
  } finally {
    const pid = src.pid;
    await src.close();
    if (pid !== undefined) assert.equal(pidAlive(pid), false, 'the encoder is gone after close()');
  }
  return { aus: sink.accessUnits.slice(0, count).map((e) => e.au), lines, src };
}

/** Decodes the access units with ffmpeg; returns the number of frames (fails on any error). */
function decodeFrames(aus: AccessUnit[]): number {
  const ffmpeg = requireTool('ffmpeg');
  const { dir, cleanup } = scratchDir();
  try {
    const file = join(dir, 'got.h264');
    const parts: Buffer[] = [];
    for (const a of aus) for (const n of a.nals) parts.push(Buffer.from([0, 0, 0, 1]), Buffer.from(n.data));
    writeFileSync(file, Buffer.concat(parts));
    const r = spawnSync(ffmpeg, ['-v', 'error', '-xerror', '-f', 'h264', '-i', file, '-f', 'framemd5', '-'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    return r.stdout.split('\n').filter((l) => /^0,/.test(l)).length;
  } finally {
    cleanup();
  }
}

describe('process sources with real encoders', () => {
  it('ffmpeg: the libx264 test pattern arrives as decodable access units, one IDR per intra period, no B-frames', async () => {
    requireTool('ffmpeg');
    const { aus, lines, src } = await capture(
      { source: 'ffmpeg', video: { width: 320, height: 180, fps: 30, intraPeriod: 10, bitrateBps: '500k' } },
      25,
    );
    assert.equal(src.commandLine.command, 'ffmpeg', 'the ffmpeg on PATH');
    assert.deepEqual(
      aus.map((a, i) => (a.isKey ? i : -1)).filter((i) => i >= 0),
      [0, 10, 20],
    );
    for (const a of aus.filter((x) => x.isKey))
      assert.deepEqual(
        a.nals.slice(0, 3).map((n) => n.type),
        [9, 7, 8],
        'AUD, then SPS/PPS before every IDR',
      );
    assert.ok(
      aus.every((a) => a.nals[0]!.type === 9),
      'an AUD opens every frame (the boundary signal)',
    );
    assert.ok(
      aus.every((a) => a.sliceTypes.every((t) => t !== 1)),
      'no B slices',
    );
    assert.equal(aus[0]!.sps?.width, 320);
    assert.equal(decodeFrames(aus), 25);
    assert.ok(!lines.some((l) => / ERROR /.test(l)), lines.join('\n'));
  });

  it('gstreamer: a gst-launch pipeline (gstPipeline, shell quoting) arrives as decodable access units', async () => {
    requireTool('gstLaunch');
    const gstPipeline =
      'videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=30/1 ! openh264enc gop-size=10 ' +
      '! "video/x-h264,stream-format=byte-stream" ! h264parse config-interval=-1 ! video/x-h264,alignment=au';
    const { aus, src } = await capture({ source: 'gstreamer', gstPipeline }, 15);
    assert.equal(src.commandLine.command, 'gst-launch-1.0');
    assert.equal(aus[0]!.isKey, true);
    assert.ok(
      aus.every((a) => a.nals[0]!.type === 9),
      'alignment=au: h264parse opens every frame with an AUD',
    );
    assert.deepEqual(
      aus[0]!.nals.filter((n) => n.type === 7 || n.type === 8).map((n) => n.type),
      [7, 8],
    );
    assert.equal(aus[0]!.sps?.width, 320);
    assert.equal(decodeFrames(aus), 15);
  });
});
