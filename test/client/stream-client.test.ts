/**
 * connect() against a real `rearview serve` (child process, free ports) and
 * against a plain TCP server that dumps a whole x264 stream at once: frames
 * decode with ffmpeg without errors, reconnects across a server restart and
 * a cut connection, the 'latest' policy keeps a 200 ms/frame consumer
 * within one GOP of live, 'all' delivers every frame in order with
 * backpressure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ClientFrame, type StreamStateEvent } from '../../src/client/index.js';
import { startServe } from '../support/daemon.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { startTcpProxy } from './tcp-proxy.js';

/** The sample source: one IDR per second at 30 fps. */
const GOP_FRAMES = 30;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Decodes Annex-B bytes with ffmpeg; returns decoded frame count and stderr. */
function ffmpegDecode(
  bytes: Uint8Array,
  width: number,
  height: number,
): { frames: number; stderr: string; status: number | null } {
  const ffmpeg = requireTool('ffmpeg');
  const r = spawnSync(
    ffmpeg,
    ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'],
    { input: bytes, maxBuffer: 1 << 30 },
  );
  return { frames: r.stdout.length / (width * height), stderr: r.stderr.toString(), status: r.status };
}

function concat(frames: ClientFrame[]): Uint8Array {
  return Buffer.concat(frames.map((f) => f.data));
}

test('frames from rearview serve decode with ffmpeg with zero errors', async () => {
  const serve = await startServe([]);
  try {
    const conn = connect(`tcp://127.0.0.1:${serve.streamPort}`, { policy: 'all' });
    const frames: ClientFrame[] = [];
    for await (const frame of conn) {
      frames.push(frame);
      if (frames.length === 90) break;
    }
    assert.equal(conn.state, 'closed');
    const first = frames[0] as ClientFrame;
    assert.equal(first.isKey, true, 'the first frame handed out is a keyframe');
    assert.deepEqual(first.nalTypes.slice(0, 2), [7, 8], 'a key frame starts with SPS and PPS');
    assert.equal(first.width, 640);
    assert.equal(first.height, 360);
    assert.match(first.codec, /^avc1\.[0-9a-f]{6}$/);
    assert.equal(typeof first.capturedAtMs, 'number', 'our daemon sends the capture-time SEI');
    for (let i = 1; i < frames.length; i++) {
      assert.equal((frames[i] as ClientFrame).seq, (frames[i - 1] as ClientFrame).seq + 1);
      // Regression: under load the daemon's capture times could repeat, and pts90k (taken from them) did too.
      assert.ok((frames[i] as ClientFrame).pts90k > (frames[i - 1] as ClientFrame).pts90k, 'pts90k increases');
      assert.ok(!(frames[i] as ClientFrame).nalTypes.includes(9), 'no AUD inside a frame');
    }
    const decoded = ffmpegDecode(concat(frames), 640, 360);
    assert.equal(decoded.status, 0, decoded.stderr);
    assert.equal(decoded.stderr, '', 'ffmpeg reported no decode errors');
    assert.equal(decoded.frames, 90);
  } finally {
    await serve.close();
  }
});

test('reconnects across a server restart on the same port and resumes at a keyframe', async () => {
  let serve = await startServe([]);
  const port = serve.streamPort;
  const states: StreamStateEvent[] = [];
  const conn = connect(`tcp://127.0.0.1:${port}`, {
    policy: 'all',
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    onState: (e) => states.push(e),
  });
  // seq of the first frame the second connection receives.
  let secondStartSeq = -1;
  conn.on('connected', () => {
    if (conn.stats.connections === 2) secondStartSeq = conn.stats.framesReceived;
  });
  try {
    const it = conn[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) await it.next();
    await serve.close();
    await waitFor(() => states.some((s) => s.state === 'reconnecting'), 'reconnecting', 15_000);
    serve = await startServe(['--stream-port', String(port)]);
    await waitFor(() => conn.stats.connections === 2, 'second connection', 15_000);
    // Drain what the old connection left; the first frame handed out from the new one must be a keyframe.
    let frame: ClientFrame;
    do frame = (await it.next()).value as ClientFrame;
    while (frame.seq < secondStartSeq);
    assert.equal(frame.isKey, true);
    const names = states.map((s) => s.state);
    // Regression: 'connecting' was emitted synchronously inside connect(), before any listener could be attached.
    assert.deepEqual(names.slice(0, 2), ['connecting', 'connected']);
    assert.ok(names.includes('disconnected'));
    assert.ok(names.lastIndexOf('connected') > names.indexOf('reconnecting'));
    const dropped = states.find((s) => s.state === 'disconnected');
    assert.equal(dropped?.error?.code, 'ERR_CLIENT_CONNECT');
  } finally {
    await conn.close();
    await serve.close();
  }
  assert.equal(states.at(-1)?.state, 'closed');
});

test('reconnects after the connection is cut (proxy drops the socket)', async () => {
  const serve = await startServe([]);
  const proxy = await startTcpProxy(serve.streamPort);
  const conn = connect(`tcp://127.0.0.1:${proxy.port}`, { policy: 'all', initialBackoffMs: 20 });
  try {
    const frames: ClientFrame[] = [];
    for await (const frame of conn) {
      frames.push(frame);
      if (frames.length === 10) proxy.cutAll();
      if (conn.stats.connections === 2 && frames.length >= 20 && frames.at(-1)?.seq !== undefined) {
        if (frames.filter((f) => f.isKey).length >= 2) break;
      }
    }
    assert.equal(proxy.connections, 2);
    // After the cut, the next frame handed out is a keyframe (nothing undecodable in between).
    const afterCut = frames.findIndex((f, i) => i > 0 && f.seq !== (frames[i - 1] as ClientFrame).seq + 1);
    if (afterCut >= 0) assert.equal((frames[afterCut] as ClientFrame).isKey, true);
    const decoded = ffmpegDecode(concat(frames), 640, 360);
    assert.equal(decoded.stderr, '', 'the frames across the reconnect decode without errors');
  } finally {
    await conn.close();
    await proxy.close();
    await serve.close();
  }
});

test("'latest' keeps a consumer that takes 200 ms per frame within one GOP of live", async () => {
  const serve = await startServe([]);
  const conn = connect(`tcp://127.0.0.1:${serve.streamPort}`, { policy: 'latest' });
  try {
    let previous: ClientFrame | undefined;
    let taken = 0;
    let maxLag = 0;
    for await (const frame of conn) {
      // Lag in frames: how many newer frames had already arrived when this one was taken.
      const lag = conn.stats.framesReceived - 1 - frame.seq;
      maxLag = Math.max(maxLag, lag);
      if (previous && frame.seq !== previous.seq + 1)
        assert.equal(frame.isKey, true, 'after a skip the consumer gets a keyframe');
      previous = frame;
      if (++taken === 15) break;
      await delay(200); // the slow consumer's work, not synchronisation
    }
    assert.ok(maxLag <= GOP_FRAMES, `lag ${maxLag} frames exceeds one GOP (${GOP_FRAMES})`);
    assert.ok(conn.stats.framesSkipped > 0, 'frames were skipped for the slow consumer');
  } finally {
    await conn.close();
    await serve.close();
  }
});

test("'all' delivers every frame in order, pausing the socket when the consumer is behind", async () => {
  // A server that writes a whole 120-frame stream at once: far faster than the consumer.
  const ffmpeg = requireTool('ffmpeg');
  const scratch = scratchDir();
  const file = join(scratch.dir, 'burst.h264');
  // With leading AUDs (x264 aud=1): the last frame ends only at EOF and must still be delivered.
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
    '-profile:v',
    'baseline',
    '-g',
    '30',
    '-bf',
    '0',
    '-bsf:v',
    'h264_mp4toannexb',
    '-x264-params',
    'repeat-headers=1:aud=1',
    '-f',
    'h264',
    file,
  ]);
  assert.equal(gen.status, 0, gen.stderr.toString());
  const bytes = readFileSync(file);
  const server = createServer((s) => s.end(bytes));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const conn = connect(`tcp://127.0.0.1:${port}`, { policy: 'all', reconnect: false, highWaterFrames: 8 });
  const frames: ClientFrame[] = [];
  let maxQueued = 0;
  try {
    await assert.rejects(
      (async () => {
        for await (const frame of conn) {
          maxQueued = Math.max(maxQueued, conn.queuedFrames);
          frames.push(frame);
          await delay(2);
        }
      })(),
      (err: Error & { code?: string }) => err.code === 'ERR_CLIENT_CONNECT', // the server closes after the last byte
    );
  } finally {
    await conn.close();
    server.close();
    scratch.cleanup();
  }
  assert.equal(frames.length, 120, 'every frame');
  for (const [i, f] of frames.entries()) assert.equal(f.seq, i, 'in order');
  assert.ok(conn.stats.pauses >= 1, 'the socket was paused');
  // One socket read can hold dozens of these small frames, so the queue overshoots the mark by up to a read.
  assert.ok(maxQueued < 100, `the queue did not take the whole stream at once (max ${maxQueued})`);
  assert.equal(ffmpegDecode(concat(frames), 320, 240).frames, 120);
});

test('an unreachable camera with reconnect off fails with ERR_CLIENT_CONNECT; abort ends iteration', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const conn = connect(`tcp://127.0.0.1:${port}`, { reconnect: false });
  await assert.rejects(
    conn.next(),
    (err: Error & { code?: string }) => err.code === 'ERR_CLIENT_CONNECT' && /connection refused/.test(err.message),
  );

  const controller = new AbortController();
  const states: string[] = [];
  const retrying = connect(`tcp://127.0.0.1:${port}`, {
    signal: controller.signal,
    initialBackoffMs: 10,
    onState: (e) => states.push(e.state),
  });
  await waitFor(() => states.includes('reconnecting'), 'a retry', 15_000);
  controller.abort();
  assert.equal(await retrying.next(), undefined);
  assert.equal(states.at(-1), 'closed');
});

test('a peer that sends 1 MiB without a start code is reported as not H.264, without retrying', async () => {
  const junk = Buffer.alloc(2 * 1024 * 1024, 0xaa);
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.on('error', () => {
      // the client under test drops the junk stream
    });
    s.write(junk);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const conn = connect(`tcp://127.0.0.1:${port}`, { initialBackoffMs: 10 }); // reconnect on, as by default
  try {
    await assert.rejects(
      conn.next(),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_H264_NO_START_CODE' && /not an H\.264 stream/.test(err.message),
    );
    assert.equal(connections, 1, 'no reconnect to something that is not a camera');
    assert.equal(conn.state, 'closed');
  } finally {
    await conn.close();
    server.close();
  }
});

test('a connection cut in the middle of a frame never hands out the truncated frame', async () => {
  // Regression: the pending access unit was flushed when the connection closed, so a frame cut
  // mid-way reached the decoder.
  const serve = await startServe([]);
  const proxy = await startTcpProxy(serve.streamPort);
  proxy.cutAfterBytes = 150_003; // inside some frame of the join burst
  const conn = connect(`tcp://127.0.0.1:${proxy.port}`, { policy: 'all', reconnect: false });
  const frames: ClientFrame[] = [];
  try {
    await assert.rejects(
      (async () => {
        for await (const f of conn) frames.push(f);
      })(),
      (err: Error & { code?: string }) => err.code === 'ERR_CLIENT_CONNECT',
    );
  } finally {
    await conn.close();
    await proxy.close();
    await serve.close();
  }
  assert.ok(frames.length > 0);
  const delivered = frames.reduce((n, f) => n + f.data.length, 0);
  assert.ok(delivered < 150_003, 'only complete frames');
  const decoded = ffmpegDecode(concat(frames), 640, 360);
  assert.equal(decoded.stderr, '', 'every frame handed out decodes');
  assert.equal(decoded.frames, frames.length);
});
