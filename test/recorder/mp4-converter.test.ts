import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { hasCode } from '../../src/errors.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import type { Mp4Source } from '../../src/recorder/mp4-converter.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { decodeErrors, HubFeeder, probe } from './recording-fixtures.js';

const noLimits = { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 };

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Records `frames` frames of the sample into one segment. */
async function recordOne(dir: string, frames: number): Promise<void> {
  const feeder = HubFeeder.ofFile(samplePath, 30);
  const recorder = new Recorder({ hub: feeder.hub, dir, segmentMs: 600_000, limits: noLimits, thumbnails: false, retentionIntervalMs: 0 });
  await recorder.start();
  for (let i = 0; i < frames; i += 30) {
    feeder.push(30);
    await recorder.flush();
  }
  await recorder.close();
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

    // A range asked before the conversion ran waits for the cache.
    const raw = await lib.openSegment('log0000.mkv');
    assert.equal((await collect(raw.stream())).length, raw.size);
    await lib.remove('log0000.mkv');
    await recordOne(dir, 60);
    const fresh = await lib.openMp4('log0000.mkv');
    assert.equal(fresh.size, undefined, 'the cache entry died with the segment');
    const head = await collect(fresh.stream({ start: 0, end: 7 }));
    assert.equal(head.subarray(4, 8).toString(), 'ftyp');
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
  } finally {
    cleanup();
  }
});

test('the segment being recorded converts up to its last complete frame, without ranges', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath, 30);
    const recorder = new Recorder({ hub: feeder.hub, dir, segmentMs: 600_000, limits: noLimits, thumbnails: false, retentionIntervalMs: 0 });
    await recorder.start();
    feeder.push(75);
    await recorder.flush();
    const lib = new RecordingLibrary(dir, { isRecording: (p) => p === recorder.currentSegmentPath });
    const mp4 = await lib.openMp4('log0000.mkv');
    assert.equal(mp4.rangeable, false);
    assert.throws(() => mp4.stream({ start: 0, end: 10 }), (e: unknown) => hasCode(e, 'ERR_CONVERT'));
    const bytes = await collect(mp4.stream());
    const out = join(dir, 'partial.mp4');
    writeFileSync(out, bytes);
    assert.equal(probe(out).frames, 75);
    assert.equal(decodeErrors(out), '');
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
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><video id="v" muted playsinline src="/video.mp4"></video>');
        return;
      }
      const mp4 = await source();
      const size = await mp4.whenComplete();
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (m) {
        const start = m[1] ? Number(m[1]) : size - Number(m[2]);
        const end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
        res.writeHead(206, { 'content-type': 'video/mp4', 'accept-ranges': 'bytes', 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
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
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
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
          v.addEventListener('error', () => reject(new Error(`video error ${v.error?.code}: ${v.error?.message}`)), { once: true });
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
      return { duration, played, afterSeek: v.currentTime, width: v.videoWidth, height: v.videoHeight, error: v.error?.code ?? null };
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
