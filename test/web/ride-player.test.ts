/**
 * Rides as a timeline against a real `rearview serve --segment 2s
 * --max-files 12` (the ring wraps during the test, as a camera's does after
 * max-files minutes): the ride playlist parses and decodes in ffmpeg over
 * HTTP with no error, bad or unknown ride ids and parts are refused, the
 * ride keeps its id and its timeline while rotation deletes its first
 * segments (the cause of the failure that had this test reverted: the id
 * was the first segment's name, so the page and the API named the ride
 * differently within one segment's length), and the page plays a ride
 * across joins in headless Chromium (the MediaSource path, forced and as
 * picked by default for a ride being recorded) with no frame interval
 * above 100 ms at a join, measured with requestVideoFrameCallback
 * (ride-check.ts). The engines run the same check: engine-suite.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RideSegment } from '../../src/web/ride-player.js';
import { writeFileSync } from 'node:fs';
import { playRideAcrossJoins, rideWith } from './ride-check.js';
import type { Browser } from 'playwright-core';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { ensureWebBuilt, launchChromium } from './web-fixture.js';

const run = promisify(execFile);
let serve: ServeProcess;
let browser: Browser;
let base: string;
let cleanup: (() => void) | undefined;

before(async () => {
  ensureWebBuilt();
  const scratch = scratchDir('rearview-rides-');
  cleanup = scratch.cleanup;
  serve = await startServe(
    [
      ...['--source', 'sample', '--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1', '--no-mdns'],
      ...['--recordings', join(scratch.dir, 'recordings'), '--segment', '2s', '--max-files', '12'],
      ...['--width', '640', '--height', '360'],
    ],
    { rawArgs: true, waitForApi: true },
  );
  browser = await launchChromium();
  base = `http://127.0.0.1:${serve.apiPort}`;
});
after(async () => {
  await browser?.close();
  await serve?.close();
  cleanup?.();
});

/** First and last presentation time (s) of a part played under its init section (ffprobe). */
async function partTimes(init: string, part: string): Promise<{ first: number; last: number }> {
  const bytes = Buffer.concat([
    Buffer.from(await (await fetch(init)).arrayBuffer()),
    Buffer.from(await (await fetch(part)).arrayBuffer()),
  ]);
  const dir = scratchDir('rearview-ride-part-');
  try {
    const file = join(dir.dir, 'part.mp4');
    writeFileSync(file, bytes);
    const { stdout } = await run('ffprobe', [
      ...['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file],
    ]);
    const pts = stdout
      .trim()
      .split('\n')
      .map(Number)
      .sort((a, b) => a - b);
    return { first: pts[0] as number, last: pts[pts.length - 1] as number };
  } finally {
    dir.cleanup();
  }
}

describe('rides as a timeline', () => {
  it('serves a playlist ffprobe reads over HTTP without a decode error', async () => {
    const { ride, segments } = await rideWith(base, 4);
    const url = `${base}${ride.playlistUrl}`;
    const text = await (await fetch(url)).text();
    assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:7\n/);
    assert.match(text, /#EXT-X-MAP:URI="log\d{4}-\d+\.init\.mp4"/);
    assert.match(text, /#EXT-X-PROGRAM-DATE-TIME:/);
    assert.doesNotMatch(text, /DISCONTINUITY|PLAYLIST-TYPE:EVENT/);
    // A ride being recorded is a live playlist: ffmpeg would start at its live edge and then wait for
    // each new segment in real time (a minute and more, long enough for the ring to wrap under the
    // tests that follow). From the third segment (the oldest may be deleted by rotation any moment),
    // to the end of the finished ones, it stops.
    const finished = segments.slice(2).reduce((n, s) => n + s.duration, 0);
    const { stderr } = await run('ffmpeg', [
      ...['-v', 'error', '-live_start_index', '2', '-i', url],
      ...['-t', (finished - 0.1).toFixed(3), '-f', 'null', '-'],
    ]);
    assert.equal(stderr.trim(), '', 'decode errors');
    const bad = await fetch(`${base}/api/v1/rides/..%2Fx/playlist.m3u8`);
    assert.equal(bad.status, 400);
    assert.equal((await fetch(`${base}/api/v1/rides/nope/playlist.m3u8`)).status, 404);
    assert.equal((await fetch(`${base}/api/v1/rides/${ride.id}/log9999-1.m4s`)).status, 404);
  });

  it('keeps the ride id and its timeline while rotation deletes its first segments', async () => {
    const before = await rideWith(base, 3);
    // A part is named with its segment's name and start: ring names come back, this part does not.
    const head = (before.segments[0] as RideSegment).uri;
    // The ring (12 files) deletes the oldest segment every 2 s once full: wait until this ride's first is gone.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const { segments } = await rideWith(base, 3);
      if (!segments.some((s) => s.uri === head)) break;
      assert.ok(Date.now() < deadline, `${head} still listed after 3 minutes`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const now = await rideWith(base, 3);
    assert.equal(now.ride.id, before.ride.id, 'the ride keeps its id');
    const text = await (await fetch(`${base}${now.ride.playlistUrl}`)).text();
    assert.ok(Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]) > 0, 'MEDIA-SEQUENCE counts the deleted ones');
    const first = now.segments[0] as RideSegment;
    assert.ok(first.start > 0, 'the first segment left keeps its place on the timeline');
    for (const s of now.segments) {
      const was = before.segments.find((b) => b.uri === s.uri);
      if (was) assert.equal(s.start.toFixed(3), was.start.toFixed(3), `${s.uri} stays where it was`);
    }
    // The part's own timestamps are on that timeline.
    const times = await partTimes(first.init, first.uri);
    assert.ok(
      Math.abs(times.first - first.start) < 0.002,
      `part starts at ${times.first}, playlist says ${first.start}`,
    );
  });

  for (const path of ['mse', 'default'] as const) {
    it(`plays a ride across joins in Chromium (${path}) with no frame interval over 100 ms at a join`, async (t) => {
      const { ride, segments } = await rideWith(base, 6);
      const page = await browser.newPage();
      try {
        await page.goto(`${base}/${path === 'mse' ? '?ride-path=mse' : ''}#recordings`);
        const ridePage = { evaluate: async <T>(e: string) => (await page.evaluate(e)) as T };
        // From the time picker, at the newest joins: the oldest segments are the next rotation deletes, and a
        // live HLS player skips ahead when its playhead falls out of the playlist.
        const result = await playRideAcrossJoins(ridePage, ride.id, segments, segments.length - 2);
        // Chromium has its own HLS player, but a ride being recorded goes to MediaSource (ride-player.ts ridePath).
        assert.equal(result.path, 'mse');
        t.diagnostic(
          `Chromium ride ${path}: ${result.frames} frames; intervals at the joins ${result.intervalsMs.map((d) => `${d.toFixed(1)} ms`).join(', ')}; largest anywhere ${result.maxIntervalMs.toFixed(1)} ms`,
        );
        for (const d of result.intervalsMs) assert.ok(d <= 100, `a frame interval of ${d.toFixed(1)} ms at a join`);
      } finally {
        await page.close();
      }
    });
  }
});
