/**
 * fmp4Part on a real fragmented MP4 with a capture stall (ffmpeg, variable
 * frame rate): the init section's SPS gets the rides' VUI clock, its box
 * sizes stay right, the media part is moved onto the ride timeline, ffmpeg
 * decodes init + media without error, and GStreamer's h264parse (what
 * WebKitGTK's MediaSource runs after its MP4 demuxer) counts each frame as
 * half a second instead of a 30 fps frame: the reason for the clock.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fmp4Part, moovWithSpsTiming, RIDE_VUI_TIMING } from '../../src/api/fmp4-parts.js';
import { parseAvcDecoderConfigurationRecord } from '../../src/h264/avcc.js';
import { parseSps } from '../../src/h264/sps.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

/** The bytes of an async generator of chunks. */
async function collect(parts: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const p of parts) out.push(Buffer.from(p));
  return Buffer.concat(out);
}

/** The file in chunks of 1000 bytes (boxes cut anywhere, as a stream gives them). */
async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 1000) yield bytes.subarray(i, i + 1000);
}

/** The payload of the first box of `type` found by a plain byte search (avcC appears once). */
function boxPayload(bytes: Uint8Array, type: string): Uint8Array {
  const at = Buffer.from(bytes).indexOf(type, 0, 'latin1') - 4;
  assert.ok(at >= 0, `no ${type}`);
  const size = new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0);
  return bytes.subarray(at + 8, at + size);
}

/** Top-level box types of an MP4, checking every size adds up to the file's length. */
function topBoxes(bytes: Uint8Array): string[] {
  const types: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0);
    assert.ok(size >= 8 && at + size <= bytes.length, `box at ${at} of ${size} bytes`);
    types.push(Buffer.from(bytes.subarray(at + 4, at + 8)).toString('latin1'));
    at += size;
  }
  return types;
}

/** Packet times (s) as ffprobe reads them. */
function packetTimes(file: Buffer): number[] {
  const r = spawnSync(
    requireTool('ffprobe'),
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', '-i', 'pipe:0'],
    { input: file, encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => Number.parseFloat(l));
}

/** Frame durations (s) GStreamer's qtdemux ! h264parse give, as WebKitGTK's MediaSource sees them. */
function h264parseDurations(file: string): number[] {
  const r = spawnSync(
    requireTool('gstLaunch'),
    [
      '-v',
      'filesrc',
      `location=${file}`,
      '!',
      'qtdemux',
      '!',
      'h264parse',
      '!',
      'identity',
      'silent=false',
      '!',
      'fakesink',
    ],
    { encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  assert.equal(r.status, 0, r.stderr);
  return [...r.stdout.matchAll(/identity0:sink\).*?duration: (\d+):(\d+):([\d.]+)/g)].map(
    (m) => Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]),
  );
}

describe('fmp4Part', () => {
  let scratch: { dir: string; cleanup(): void };
  let mp4: Buffer;
  before(() => {
    scratch = scratchDir('rearview-fmp4-parts-');
    const file = join(scratch.dir, 'stall.mp4');
    // 30 fps with a capture stall of 0.2 s after frame 20 (variable frame rate, as a recording keeps it).
    const enc = spawnSync(requireTool('ffmpeg'), [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-frames:v', '60'],
      ...['-vf', 'setpts=PTS+gte(N\\,20)*0.2/TB', '-fps_mode', 'passthrough'],
      ...['-c:v', 'libx264', '-profile:v', 'high', '-bf', '0', '-g', '30'],
      ...['-movflags', 'frag_keyframe+empty_moov+default_base_moof', file],
    ]);
    assert.equal(enc.status, 0, String(enc.stderr));
    mp4 = readFileSync(file);
  });
  after(() => scratch.cleanup());

  it('gives the init section the rides VUI clock, its box sizes right, and nothing else changed', async () => {
    const init = await collect(fmp4Part(chunks(mp4), 'init'));
    assert.deepEqual(topBoxes(init), ['ftyp', 'moov']);
    const record = parseAvcDecoderConfigurationRecord(boxPayload(init, 'avcC'));
    const sps = parseSps(record.sps[0] as Uint8Array);
    assert.deepEqual(
      [sps.vui?.numUnitsInTick, sps.vui?.timeScale, sps.vui?.fixedFrameRateFlag],
      [RIDE_VUI_TIMING.numUnitsInTick, RIDE_VUI_TIMING.timeScale, false],
    );
    const original = parseAvcDecoderConfigurationRecord(boxPayload(mp4, 'avcC'));
    assert.deepEqual(record.pps, original.pps);
    assert.deepEqual([sps.width, sps.height, sps.profileIdc], [320, 180, 100]);
    // A moov given again is left as it is.
    const moov = init.subarray(new DataView(init.buffer, init.byteOffset).getUint32(0)); // after the ftyp
    assert.equal(moovWithSpsTiming(moov), moov);
  });

  it('moves the media onto the ride timeline, and ffmpeg decodes init + media as before', async () => {
    const copy = Buffer.from(mp4);
    const init = await collect(fmp4Part(chunks(mp4), 'init'));
    const media = await collect(fmp4Part(chunks(mp4), 'media', 10));
    // The source's chunks are not changed (a Buffer's slice is a view: the moof is copied first).
    assert.ok(copy.equals(mp4));
    assert.deepEqual([...new Set(topBoxes(media))], ['moof', 'mdat']);
    const whole = Buffer.concat([init, media]);
    const before = packetTimes(mp4);
    const shifted = packetTimes(whole);
    assert.equal(shifted.length, 60);
    for (const [i, t] of shifted.entries())
      assert.ok(Math.abs(t - 10 - (before[i] as number)) < 0.0005, `frame ${i}: ${t} for ${before[i]}`);
    // The stall is still there, as a longer interval after frame 19.
    assert.ok((shifted[20] as number) - (shifted[19] as number) > 0.2);
    const dec = spawnSync(requireTool('ffmpeg'), ['-v', 'error', '-xerror', '-i', 'pipe:0', '-f', 'null', '-'], {
      input: whole,
      encoding: 'utf8',
    });
    assert.equal(dec.status, 0, dec.stderr);
  });

  it("makes GStreamer's h264parse (WebKitGTK's MediaSource) count frames as half a second, not 1/30 s", async () => {
    const init = await collect(fmp4Part(chunks(mp4), 'init'));
    const media = await collect(fmp4Part(chunks(mp4), 'media'));
    const ride = join(scratch.dir, 'ride.mp4');
    writeFileSync(ride, Buffer.concat([init, media]));
    const original = h264parseDurations(join(scratch.dir, 'stall.mp4'));
    const rewritten = h264parseDurations(ride);
    assert.equal(rewritten.length, 60);
    // x264's VUI says 30 fps: every frame 1/30 s, the one before the stall too (a 0.17 s hole for WebKit).
    assert.ok(
      original.every((d) => Math.abs(d - 1 / 30) < 0.001),
      `original: ${original.slice(0, 3)}`,
    );
    // The rides' clock: 2 ticks of 1/4 s; a stall up to twice that is no discontinuity for WebKit.
    const half = (2 * RIDE_VUI_TIMING.numUnitsInTick) / RIDE_VUI_TIMING.timeScale;
    assert.ok(
      rewritten.every((d) => Math.abs(d - half) < 0.001),
      `rewritten: ${rewritten.slice(0, 3)}`,
    );
  });
});
