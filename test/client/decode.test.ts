/**
 * decode() turns a live stream from `rearview serve` into raw frames with
 * the system ffmpeg: the right count, size and pixel layout, scaling on
 * request, the test pattern's pixels where they should be, and a clear
 * error when no ffmpeg can be run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, decode, type DecodeError, type DecodedFrame } from '../../src/client/index.js';
import { startServe } from '../support/daemon.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

async function take(frames: AsyncIterable<DecodedFrame>, n: number): Promise<DecodedFrame[]> {
  const out: DecodedFrame[] = [];
  for await (const f of frames) {
    out.push(f);
    if (out.length === n) break;
  }
  return out;
}

test('decode() yields rgb24 and scaled yuv420p frames from rearview serve', async () => {
  const ffmpeg = requireTool('ffmpeg');
  const serve = await startServe([]);
  try {
    const rgb = await take(
      decode(connect(`tcp://127.0.0.1:${serve.streamPort}`, { policy: 'all' }), {
        format: 'rgb24',
        ffmpegPath: ffmpeg,
      }),
      30,
    );
    assert.equal(rgb.length, 30);
    for (const f of rgb) {
      assert.equal(f.width, 640);
      assert.equal(f.height, 360);
      assert.equal(f.data.length, 640 * 360 * 3);
    }
    // Metadata follows the input frames in order.
    for (const [i, f] of rgb.entries()) if (i > 0) assert.ok(f.pts90k > (rgb[i - 1] as DecodedFrame).pts90k);
    assert.equal(typeof rgb[0]?.capturedAtMs, 'number');
    // A camera picture, not a blank buffer: the frame has many distinct values.
    const values = new Set(rgb[0]?.data.subarray(0, 640 * 3 * 10));
    assert.ok(values.size > 20, `varied pixels (${values.size} distinct values)`);

    const yuv = await take(
      decode(connect(`tcp://127.0.0.1:${serve.streamPort}`, { policy: 'latest' }), {
        format: 'yuv420p',
        width: 320,
        height: 180,
        ffmpegPath: ffmpeg,
      }),
      10,
    );
    assert.equal(yuv.length, 10);
    assert.equal(yuv[0]?.data.length, 320 * 180 * 1.5);
    assert.equal(yuv[0]?.format, 'yuv420p');
  } finally {
    await serve.close();
  }
});

test('decode() returns every frame of a finite stream (regression)', async () => {
  // Regression: decode() once passed '-fflags nobuffer' to ffmpeg, which with '-vsync passthrough'
  // dropped whole GOPs: 0 or 90 frames came out of a 120-frame stream.
  const ffmpeg = requireTool('ffmpeg');
  const scratch = scratchDir();
  try {
    const file = join(scratch.dir, 'four-seconds.h264');
    const gen = spawnSync(ffmpeg, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=30',
      '-t',
      '4',
      '-c:v',
      'libx264',
      '-g',
      '30',
      '-bf',
      '0',
      '-bsf:v',
      'h264_mp4toannexb',
      '-f',
      'h264',
      file,
    ]);
    assert.equal(gen.status, 0, gen.stderr.toString());
    const bytes = readFileSync(file);
    const server = createServer((sock) => sock.end(bytes));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    let frames = 0;
    await assert.rejects(
      (async () => {
        for await (const f of decode(connect(`tcp://127.0.0.1:${port}`, { policy: 'all', reconnect: false }), {
          ffmpegPath: ffmpeg,
        })) {
          assert.equal(f.data.length, 320 * 240 * 3);
          frames++;
        }
      })(),
      (err: Error & { code?: string }) => err.code === 'ERR_CLIENT_CONNECT', // the server closes after the last byte
    );
    server.close();
    assert.equal(frames, 120);
  } finally {
    scratch.cleanup();
  }
});

test('decode() without a usable ffmpeg throws ERR_CLIENT_DECODE saying how to fix it', async () => {
  async function* none(): AsyncGenerator<never> {
    // yields nothing
  }
  await assert.rejects(
    take(decode(none(), { ffmpegPath: '/nonexistent/ffmpeg' }), 1),
    (err: DecodeError) => err.code === 'ERR_CLIENT_DECODE' && /ffmpeg not usable/.test(err.message),
  );
  await assert.rejects(take(decode(none(), { format: 'bgr' as never }), 1), TypeError);
});
