/**
 * Rides as a timeline against a real `rearview serve --segment 2s`: the
 * ride playlist parses and decodes in ffmpeg over HTTP with no error, bad
 * or unknown ride ids and parts are refused, and the page plays a ride
 * across joins in headless Chromium (the MediaSource path, forced and as
 * picked by default for a ride being recorded) with no frame interval above
 * 100 ms at a join, measured with requestVideoFrameCallback. Played at half
 * speed: the test machine is shared, and at full speed a starved browser
 * skips presenting frames anywhere; what is tested is the timeline at the
 * joins, not the machine's speed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RidesListDocument } from '../../src/api/wire-types.js';
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
      ...[
        '--recordings',
        join(scratch.dir, 'recordings'),
        '--segment',
        '2s',
        '--max-files',
        '50',
        '--width',
        '640',
        '--height',
        '360',
      ],
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

/** Waits (on the daemon's own events, polled) until the ride has `n` finished segments. */
async function rideWith(n: number): Promise<RidesListDocument['rides'][number]> {
  for (;;) {
    const doc = (await (await fetch(`${base}/api/v1/rides`)).json()) as RidesListDocument;
    const ride = doc.rides[doc.rides.length - 1];
    if (ride && ride.segments.length > n) return ride;
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('rides as a timeline', () => {
  it('serves a playlist ffprobe reads over HTTP without a decode error', async () => {
    const ride = await rideWith(3);
    const url = `${base}${ride.playlistUrl}`;
    const text = await (await fetch(url)).text();
    assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:7\n/);
    assert.match(text, /#EXT-X-MAP:URI="log0000\.init\.mp4"/);
    assert.match(text, /#EXT-X-PROGRAM-DATE-TIME:/);
    assert.doesNotMatch(text, /DISCONTINUITY/);
    const { stderr } = await run('ffmpeg', ['-v', 'error', '-i', url, '-f', 'null', '-']);
    assert.equal(stderr.trim(), '', 'decode errors');
    const bad = await fetch(`${base}/api/v1/rides/..%2Fx/playlist.m3u8`);
    assert.equal(bad.status, 400);
    assert.equal((await fetch(`${base}/api/v1/rides/nope/playlist.m3u8`)).status, 404);
    assert.equal((await fetch(`${base}/api/v1/rides/log0000/log9999.m4s`)).status, 404);
  });
  for (const path of ['mse', 'default'] as const) {
    it(`plays a ride across joins in Chromium (${path}) with no frame interval over 100 ms at a join`, async () => {
      const ride = await rideWith(4);
      const playlist = await (await fetch(`${base}${ride.playlistUrl}`)).text();
      // Joins: the media segments' starts on the timeline (the playlist's EXTINF sums).
      const durations = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
      const joins = durations.slice(0, 3).map((_, i) => durations.slice(0, i + 1).reduce((a, b) => a + b, 0));
      const until = (joins[1] as number) + 0.5;
      const page = await browser.newPage();
      try {
        await page.goto(`${base}/${path === 'mse' ? '?ride-path=mse' : ''}#recordings`);
        const row = `li[data-ride="${ride.id}"]`;
        await page.click(`${row} summary`);
        await page.click(`${row} .rv-ride-actions button`);
        const result = (await page.evaluate(`new Promise((resolve) => {
          const v = document.getElementById('ride-video');
          v.muted = true;
          v.playbackRate = 0.5;
          const times = [];
          const step = (_now, meta) => {
            times.push(meta.mediaTime);
            if (meta.mediaTime > ${until}) resolve({ times, path: document.getElementById('ride-player').dataset.path });
            else v.requestVideoFrameCallback(step);
          };
          v.requestVideoFrameCallback(step);
          v.play();
          setTimeout(() => resolve({ times, path: 'stalled at ' + v.currentTime }), 90000);
        })`)) as { times: number[]; path: string };
        // Chromium has its own HLS player, but a ride being recorded goes to MediaSource (ride-player.ts ridePath).
        assert.equal(result.path, 'mse');
        const atJoins = joins.slice(0, 2).map((j) => {
          const i = result.times.findIndex((t) => t >= j - 0.001);
          assert.ok(i > 0, `no frame after the join at ${j} s`);
          return (result.times[i] as number) - (result.times[i - 1] as number);
        });
        console.log(
          `ride path ${result.path}: ${result.times.length} frames; intervals at the joins ${atJoins.map((d) => `${(d * 1000).toFixed(1)} ms`).join(', ')}`,
        );
        for (const d of atJoins) assert.ok(d <= 0.1, `a frame interval of ${(d * 1000).toFixed(1)} ms at a join`);
      } finally {
        await page.close();
      }
    });
  }
});
