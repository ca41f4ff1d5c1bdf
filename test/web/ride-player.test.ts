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
import type { MomentDocument, MomentsListDocument, RidesListDocument } from '../../src/api/wire-types.js';
import type { RideSegment } from '../../src/web/ride-player.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { assertJoins, playRideAcrossJoins, rideWith, waitInRidePage } from './ride-check.js';
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
      // A moment's window inside the ring of 12 (the default keeps a minute before the mark).
      ...['--moment-before', '4s', '--moment-after', '2s'],
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
          `Chromium ride ${path}: ${result.frames} frames; intervals at the joins ${result.intervalsMs.map((d) => `${d.toFixed(1)} ms`).join(', ')} (recorded ${result.recordedMs.map((d) => `${d.toFixed(1)} ms`).join(', ')}); largest anywhere ${result.maxIntervalMs.toFixed(1)} ms`,
        );
        assertJoins(result);
      } finally {
        await page.close();
      }
    });
  }
  it('"Save clip" on a moment of the ride downloads an MP4 a phone takes: attachment, video/mp4, clean for ffprobe', async () => {
    const marked = await fetch(`${base}/api/v1/moments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'save clip test' }),
    });
    assert.equal(marked.status, 201, await marked.clone().text());
    const moment = (await marked.json()) as MomentDocument;
    // The window ends 2 s after the mark; its clip is whole once the moment is complete.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const doc = (await (await fetch(`${base}/api/v1/moments`)).json()) as MomentsListDocument;
      if (doc.moments.find((m) => m.id === moment.id)?.complete) break;
      assert.ok(Date.now() < deadline, 'the moment completed within a minute');
      await new Promise((r) => setTimeout(r, 500));
    }
    const rides = (await (await fetch(`${base}/api/v1/rides`)).json()) as RidesListDocument;
    const ride = rides.rides.find((r) => r.moments.includes(moment.id));
    assert.ok(ride, 'a ride lists the moment');
    const page = await browser.newPage({ acceptDownloads: true });
    const dir = scratchDir('rearview-ride-clip-');
    try {
      await page.goto(`${base}/#recordings`);
      const ridePage = { evaluate: async <T>(e: string) => (await page.evaluate(e)) as T };
      const row = `li[data-ride="${ride.id}"] .rv-ride-actions button`;
      await waitInRidePage(ridePage, `document.querySelector('${row}')`, 'the ride listed');
      await page.click(`li[data-ride="${ride.id}"] summary`); // the row opens on its summary
      await page.click(row);
      const link = page.locator('#ride-marks a', { hasText: 'Save clip' });
      await link.waitFor();
      const href = (await link.getAttribute('href')) as string;
      assert.equal(href, moment.clipUrl);
      // What the phone gets: an attachment, MP4 by type and by name.
      const head = await fetch(`${base}${href}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-type'), 'video/mp4');
      assert.match(head.headers.get('content-disposition') ?? '', /^attachment; filename="[\w.-]+\.mp4"$/);
      await head.body?.cancel();
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      assert.match(download.suggestedFilename(), /\.mp4$/);
      const file = join(dir.dir, download.suggestedFilename());
      await download.saveAs(file);
      assert.equal(readFileSync(file).subarray(4, 8).toString('latin1'), 'ftyp');
      const probe = await run('ffprobe', [
        ...['-v', 'error', '-show_entries', 'stream=codec_name,width,height:format=format_name,duration'],
        ...['-of', 'json', file],
      ]);
      assert.equal(probe.stderr.trim(), '', 'ffprobe reads it without an error');
      const info = JSON.parse(probe.stdout) as {
        streams: { codec_name: string; width: number; height: number }[];
        format: { format_name: string; duration: string };
      };
      // The recording's own picture (the sample source is 1280x720 whatever --width says).
      const listed = (await (await fetch(`${base}/api/v1/recordings`)).json()) as {
        recordings: { name: string; resolution: string }[];
      };
      const resolution = listed.recordings.find(
        (r) => moment.segments.includes(r.name) || ride.segments.includes(r.name),
      )?.resolution;
      assert.deepEqual(
        info.streams.map((st) => `${st.codec_name} ${st.width}x${st.height}`),
        [`h264 ${resolution}`],
      );
      assert.match(info.format.format_name, /mp4/);
      assert.ok(Number(info.format.duration) >= 5, `the clip covers the window (${info.format.duration} s)`);
      // Every frame decodes.
      const decode = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
      assert.equal(decode.stderr.trim(), '', 'decode errors');
    } finally {
      await page.close();
      dir.cleanup();
    }
  });
});
