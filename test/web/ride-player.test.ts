/**
 * Rides as a timeline against a real `rearview serve --segment 2s`: the
 * ride playlist parses and decodes in ffmpeg over HTTP with no error, and
 * bad or unknown ride ids and parts are refused. (The page's player in
 * Chromium is not tested yet.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RidesListDocument } from '../../src/api/wire-types.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';

const run = promisify(execFile);
let serve: ServeProcess;
let base: string;
let cleanup: (() => void) | undefined;

before(async () => {
  const scratch = scratchDir('rearview-rides-');
  cleanup = scratch.cleanup;
  serve = await startServe(
    [
      ...['--source', 'sample', '--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1', '--no-mdns'],
      ...['--recordings', join(scratch.dir, 'recordings'), '--segment', '2s', '--max-files', '50'],
    ],
    { rawArgs: true, waitForApi: true },
  );
  base = `http://127.0.0.1:${serve.apiPort}`;
});
after(async () => {
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
});
