import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { hasCode } from '../../src/errors.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { ConvertPool } from '../../src/recorder/convert-pool.js';
import { convertMkvToMp4, type ConversionResult } from '../../src/recorder/convert-mkv-to-mp4.js';
import { Mp4Cache } from '../../src/recorder/mp4-cache.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import { openRecordingFile } from '../../src/recorder/recording-file.js';
import type { Mp4Source } from '../../src/recorder/mp4-cache.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { decodeErrors, HubFeeder, probe, noLimits, recordFrames } from './recording-fixtures.js';

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Records `frames` frames of the sample into one segment. */
/** Records `frames` frames of the sample into one segment of `dir`. */
function recordOne(dir: string, frames: number): Promise<void> {
  return recordFrames(HubFeeder.ofFile(samplePath, 30), dir, frames, { step: 30 });
}

test('MP4 conversion streams every frame, fills the cache, then serves ranges from it', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    await recordOne(dir, 150);
    const lib = new RecordingLibrary(dir);
    const first = await lib.openMp4('log0000.mkv');
    assert.equal(first.size, undefined, 'not converted yet');
    assert.equal(first.rangeable, true);
    const streamed = await collect(first.stream());
    const size = await first.whenComplete();
    assert.equal(size, streamed.length);
    assert.equal(lib.mp4Conversions, 1);
    await first.close();
    const out = join(dir, 'out.mp4');
    writeFileSync(out, streamed);
    const p = probe(out);
    assert.equal(p.frames, 150, 'ffprobe sees every frame');
    assert.equal(p.width, 640);
    assert.equal(p.height, 360);
    assert.ok(Math.abs(p.durationS - 5) <= 1 / 30 + 1e-3, `duration ${p.durationS}`);
    assert.equal(decodeErrors(out), '');

    const second = await lib.openMp4(join(dir, 'log0000.mkv'));
    assert.equal(second.size, streamed.length, 'cached: size known at once');
    assert.deepEqual(await collect(second.stream()), streamed, 'cache holds the same bytes');
    assert.deepEqual(await collect(second.stream({ start: 1000, end: 1999 })), streamed.subarray(1000, 2000));
    assert.equal(lib.mp4Conversions, 1, 'no second conversion');
    await second.close();

    // A range asked before the conversion ran waits for the cache.
    const raw = await lib.openSegment('log0000.mkv');
    assert.equal((await collect(raw.stream())).length, raw.size);
    await raw.close();
    await lib.remove('log0000.mkv');
    await recordOne(dir, 60);
    const fresh = await lib.openMp4('log0000.mkv');
    assert.equal(fresh.size, undefined, 'the cache entry died with the segment');
    const head = await collect(fresh.stream({ start: 0, end: 7 }));
    assert.equal(head.subarray(4, 8).toString(), 'ftyp');
    await fresh.close();
  } finally {
    cleanup();
  }
});

test('a damaged segment fails with ERR_CONVERT instead of an empty MP4', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    writeFileSync(join(dir, 'log0003.mkv'), Buffer.alloc(50_000, 7));
    const lib = new RecordingLibrary(dir);
    const mp4 = await lib.openMp4('log0003.mkv');
    await assert.rejects(collect(mp4.stream()), (e: unknown) => hasCode(e, 'ERR_CONVERT'));
    await assert.rejects(mp4.whenComplete(), (e: unknown) => hasCode(e, 'ERR_CONVERT'));
    await mp4.close();
  } finally {
    cleanup();
  }
});

test('the segment being recorded converts up to its last complete frame, without ranges', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 600_000,
      limits: noLimits,
      thumbnails: false,
      retentionIntervalMs: 0,
    });
    await recorder.start();
    feeder.push(75);
    await recorder.flush();
    const lib = new RecordingLibrary(dir, { isRecording: (p) => p === recorder.currentSegmentPath });
    const mp4 = await lib.openMp4('log0000.mkv');
    assert.equal(mp4.rangeable, false);
    assert.throws(
      () => mp4.stream({ start: 0, end: 10 }),
      (e: unknown) => hasCode(e, 'ERR_CONVERT'),
    );
    const bytes = await collect(mp4.stream());
    const out = join(dir, 'partial.mp4');
    writeFileSync(out, bytes);
    assert.equal(probe(out).frames, 75);
    assert.equal(decodeErrors(out), '');
    await mp4.close();
    await recorder.close();
  } finally {
    cleanup();
  }
});

/** Serves one Mp4Source over HTTP with Range support (what the API layer does). */
function serve(source: () => Promise<Mp4Source>): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url !== '/video.mp4') {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><video id="v" muted playsinline src="/video.mp4"></video>');
        return;
      }
      const mp4 = await source();
      res.once('close', () => void mp4.close());
      const size = await mp4.whenComplete();
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (m) {
        const start = m[1] ? Number(m[1]) : size - Number(m[2]);
        const end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
        res.writeHead(206, {
          'content-type': 'video/mp4',
          'accept-ranges': 'bytes',
          'content-range': `bytes ${start}-${end}/${size}`,
          'content-length': end - start + 1,
        });
        mp4.stream({ start, end }).pipe(res);
      } else {
        res.writeHead(200, { 'content-type': 'video/mp4', 'accept-ranges': 'bytes', 'content-length': size });
        mp4.stream().pipe(res);
      }
    })().catch((err: unknown) => res.destroy(err as Error));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('headless Chromium plays the MP4 in <video>, served with Range: duration, playback and a seek', async () => {
  const chromiumPath = requireTool('chromium');
  const { dir, cleanup } = scratchDir();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  let server: Server | undefined;
  try {
    await recordOne(dir, 240);
    const lib = new RecordingLibrary(dir);
    server = await serve(() => lib.openMp4('log0000.mkv'));
    const port = (server.address() as AddressInfo).port;
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const result = await page.evaluate(async () => {
      const v = document.getElementById('v') as HTMLVideoElement;
      const once = (ev: string): Promise<void> =>
        new Promise((resolve, reject) => {
          v.addEventListener(ev, () => resolve(), { once: true });
          v.addEventListener('error', () => reject(new Error(`video error ${v.error?.code}: ${v.error?.message}`)), {
            once: true,
          });
        });
      if (v.readyState < 1) await once('loadedmetadata');
      const duration = v.duration;
      await v.play();
      const deadline = performance.now() + 15000;
      while (v.currentTime < 0.5 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const played = v.currentTime;
      v.pause();
      const seeked = once('seeked');
      v.currentTime = 6.5;
      await seeked;
      return {
        duration,
        played,
        afterSeek: v.currentTime,
        width: v.videoWidth,
        height: v.videoHeight,
        error: v.error?.code ?? null,
      };
    });
    assert.ok(Math.abs(result.duration - 8) < 0.1, `duration ${result.duration}`);
    assert.ok(result.played >= 0.5, `playback advanced to ${result.played}`);
    assert.ok(Math.abs(result.afterSeek - 6.5) < 0.1, `seek landed at ${result.afterSeek}`);
    assert.equal(result.width, 640);
    assert.equal(result.height, 360);
    assert.equal(result.error, null);
  } finally {
    await browser.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    cleanup();
  }
});

/** Converts in this process into a Buffer. */
async function convertToBuffer(
  mkv: string,
  options: Parameters<typeof convertMkvToMp4>[2] = {},
): Promise<{ bytes: Buffer; result: ConversionResult }> {
  const parts: Uint8Array[] = [];
  const result = await convertMkvToMp4(mkv, async (c) => void parts.push(Uint8Array.from(c)), options);
  return { bytes: Buffer.concat(parts), result };
}

/**
 * Two conversions of one file are equal but for the creation time in mvhd/tkhd/mdhd (seconds
 * since 1904: conversions a second apart differ there, which made a byte comparison flaky):
 * same length and identical bytes from the first moof on.
 */
function sameMedia(actual: Buffer, expected: Buffer): void {
  assert.equal(actual.length, expected.length);
  const moof = expected.indexOf('moof') - 4;
  assert.ok(moof > 0);
  assert.ok(actual.subarray(moof).equals(expected.subarray(moof)), 'same fragments');
}

/** Every packet of the first video stream: pts, dts, duration and key flag, as ffprobe reads them. */
function packetTable(path: string): string[] {
  const r = spawnSync(
    requireTool('ffprobe'),
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pts_time,dts_time,duration_time,flags,size',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test("our Matroska reader gives the same MP4 packets as mediabunny's demuxer, B-frames included", async () => {
  const { dir, cleanup } = scratchDir();
  try {
    // High profile, 3 B-frames: presentation order differs from decode order.
    const src = join(dir, 'high.h264');
    const enc = spawnSync(requireTool('ffmpeg'), [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x180:rate=30',
      '-t',
      '4',
      '-c:v',
      'libx264',
      '-profile:v',
      'high',
      '-bf',
      '3',
      '-g',
      '30',
      '-keyint_min',
      '30',
      '-sc_threshold',
      '0',
      '-x264-params',
      'repeat-headers=1',
      '-bsf:v',
      'h264_mp4toannexb',
      '-f',
      'h264',
      src,
    ]);
    assert.equal(enc.status, 0, enc.stderr?.toString());
    const parsed = parseAnnexB(readFileSync(src));
    await recordFrames(new HubFeeder(parsed.accessUnits, 30), dir, parsed.accessUnits.length);
    const mkv = join(dir, 'log0000.mkv');
    const ours = await convertToBuffer(mkv);
    const theirs = await convertToBuffer(mkv, { demuxer: 'mediabunny' });
    assert.equal(ours.result.demuxer, 'rearview', 'the fast path is used for our own recordings');
    assert.equal(theirs.result.demuxer, 'mediabunny');
    assert.equal(ours.result.samples, 120);
    // Regression guard for the mediabunny workaround: if an upgrade renames its internals, this fails
    // (instead of memory silently growing with segment length again).
    assert.ok(ours.result.trimmedFragments >= 2, `trimmed ${ours.result.trimmedFragments} fragments`);
    const a = join(dir, 'ours.mp4');
    const b = join(dir, 'theirs.mp4');
    writeFileSync(a, ours.bytes);
    writeFileSync(b, theirs.bytes);
    assert.deepEqual(packetTable(a), packetTable(b), 'same pts, dts, durations, flags and sizes');
    assert.equal(decodeErrors(a), '');
    assert.equal(probe(a).frames, 120);
  } finally {
    cleanup();
  }
});

test('a segment cut mid-frame (being written) converts up to its last whole frame with our reader', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    await recordOne(dir, 90);
    const mkv = join(dir, 'log0000.mkv');
    const full = readFileSync(mkv);
    // Cut 1000 bytes into the last frame's block: that frame must be left out, not half-written.
    const cut = join(dir, 'cut.mkv');
    writeFileSync(cut, full.subarray(0, full.length - 1000));
    const { bytes, result } = await convertToBuffer(cut);
    assert.equal(result.demuxer, 'rearview');
    const out = join(dir, 'cut.mp4');
    writeFileSync(out, bytes);
    assert.equal(decodeErrors(out), '');
    assert.ok(result.samples >= 85 && result.samples < 90, `${result.samples} samples`);
    // limitBytes does the same on the whole file.
    const limited = await convertToBuffer(mkv, { limitBytes: full.length - 1000 });
    sameMedia(limited.bytes, bytes);
  } finally {
    cleanup();
  }
});

test('ConvertPool: one worker reused for queued jobs, results match in-process conversion, errors keep their codes', async () => {
  const { dir, cleanup } = scratchDir();
  const pool = new ConvertPool({ maxWorkers: 1, idleMs: 60_000 });
  try {
    await recordOne(dir, 60);
    const mkv = join(dir, 'log0000.mkv');
    const expected = (await convertToBuffer(mkv)).bytes;
    const run = async (): Promise<Buffer> => {
      const parts: Uint8Array[] = [];
      // A slow consumer: the worker must wait (backpressure), and bytes must arrive whole and in order.
      await pool.convert(mkv, async (c) => {
        parts.push(Uint8Array.from(c));
        await new Promise<void>((resolve) => setImmediate(resolve));
      });
      return Buffer.concat(parts);
    };
    const jobs = [run(), run(), run()];
    assert.equal(pool.queued, 2, 'one runs, two wait');
    for (const got of await Promise.all(jobs)) sameMedia(got, expected);
    assert.equal(pool.spawned, 1, 'the worker is reused');
    await assert.rejects(
      pool.convert(join(dir, 'missing.mkv'), async () => undefined),
      (e: unknown) => hasCode(e, 'ERR_NOT_FOUND'),
    );
    writeFileSync(join(dir, 'junk.mkv'), Buffer.alloc(20_000, 7));
    await assert.rejects(
      pool.convert(join(dir, 'junk.mkv'), async () => undefined),
      (e: unknown) => hasCode(e, 'ERR_CONVERT'),
    );
    // A consumer that throws fails its job only; the worker finishes the job and stays usable.
    await assert.rejects(
      pool.convert(mkv, async () => {
        throw new Error('consumer gone');
      }),
      /consumer gone/,
    );
    sameMedia(await run(), expected);
    assert.equal(pool.spawned, 1);
  } finally {
    await pool.close();
    await pool.close(); // idempotent
    cleanup();
  }
});

// Regression (second review, N4): the queue had no bound, so a client starting and aborting many
// MP4 downloads piled up conversions (each holding open files) until file handles ran out.
test('ConvertPool refuses work beyond its queue with ERR_CONVERT_BUSY', async () => {
  const { dir, cleanup } = scratchDir();
  const pool = new ConvertPool({ maxWorkers: 1, maxQueued: 1, idleMs: 60_000 });
  try {
    await recordOne(dir, 60);
    const mkv = join(dir, 'log0000.mkv');
    const running = pool.convert(mkv, async () => undefined);
    const waiting = pool.convert(mkv, async () => undefined);
    await assert.rejects(
      pool.convert(mkv, async () => undefined),
      (e: unknown) => hasCode(e, 'ERR_CONVERT_BUSY'),
    );
    await Promise.all([running, waiting]);
  } finally {
    await pool.close();
    cleanup();
  }
});

test('ConvertPool: a converter worker that dies fails its job with ERR_CONVERT; the next job gets a new one', async () => {
  const { dir, cleanup } = scratchDir();
  const pool = new ConvertPool({ maxWorkers: 1 });
  try {
    await recordOne(dir, 60);
    const mkv = join(dir, 'log0000.mkv');
    let killed = false;
    await assert.rejects(
      pool.convert(mkv, async () => {
        if (!killed) {
          killed = true;
          void pool.terminateWorkers();
        }
        // Hold this chunk until the worker is gone, so the job cannot finish first.
        const deadline = Date.now() + 10_000;
        while (pool.workerCount > 0 && Date.now() < deadline)
          await new Promise<void>((resolve) => setImmediate(resolve));
      }),
      (e: unknown) => hasCode(e, 'ERR_CONVERT'),
    );
    const r = await pool.convert(mkv, async () => undefined);
    assert.equal(r.samples, 60);
    assert.equal(pool.spawned, 2);
    await pool.close();
    await assert.rejects(
      pool.convert(mkv, async () => undefined),
      (e: unknown) => hasCode(e, 'ERR_CONVERT'),
    );
  } finally {
    await pool.close();
    cleanup();
  }
});

test('a first download that is not read does not hold the converter: the conversion finishes into the cache', async () => {
  const { dir, cleanup } = scratchDir();
  const pool = new ConvertPool({ maxWorkers: 1 });
  try {
    await recordOne(dir, 90);
    const cache = new Mp4Cache({ dir: join(dir, '.mp4-cache'), convert: (p, w, o) => pool.convert(p, w, o) });
    const mp4 = await cache.open(await openRecordingFile(dir, 'log0000.mkv'));
    const stream = mp4.stream(); // a client that has not read a byte yet (a slow link)
    // Before the cache followed the .part file, the conversion waited for this consumer: this never resolved.
    const size = await mp4.whenComplete();
    assert.equal(pool.queued, 0);
    const got = await collect(stream);
    assert.equal(got.length, size);
    const again = await cache.open(await openRecordingFile(dir, 'log0000.mkv'));
    assert.deepEqual(await collect(again.stream()), got, 'the follower read exactly what was cached');
    assert.equal(cache.conversions, 1);
    await mp4.close();
    await again.close();
  } finally {
    await pool.close();
    cleanup();
  }
});
