/**
 * The ride player's checks, shared by ride-player.test.ts (Chromium) and the
 * engine suite (every engine): find the newest ride through the API, play it
 * from the recordings page at half speed and measure, with
 * requestVideoFrameCallback, the interval between the frames shown on each
 * side of two joins; or read the page's message where the engine has no
 * path. Waits are on conditions in the page (polled), never sleeps.
 * Half speed: the test machine is shared, and a starved browser skips
 * presenting frames anywhere; what is tested is the timeline at the joins.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { RideDocument, RidesListDocument } from '../../src/api/wire-types.js';
import { parseRidePlaylist, type RideSegment } from '../../src/web/ride-player.js';
import { requireTool } from '../support/tools.js';
import { type EvaluatingPage, waitInPageFor } from './page-wait.js';

/** What the checks need of a page (playwright's and the engines' EnginePage both fit). */
export type RidePage = EvaluatingPage;

/** The ride player's state, for a timeout's message. */
const RIDE_PROBE = `(() => { const v = document.getElementById('ride-video'); const b = v.buffered;
  return JSON.stringify({ path: document.getElementById('ride-player').dataset.path,
    message: document.getElementById('rides-message').textContent, currentTime: v.currentTime,
    paused: v.paused, readyState: v.readyState, error: v.error && v.error.message,
    buffered: Array.from({ length: b.length }, (_, i) => [b.start(i), b.end(i)]),
    frames: window.__ride && window.__ride.times.length, events: window.__ride && window.__ride.events }); })()`;

/** Polls `expression` in the page until truthy; the deadline only guards against a hang. */
export function waitInRidePage(page: RidePage, expression: string, what: string, timeoutMs = 90_000): Promise<void> {
  return waitInPageFor(page, expression, what, { timeoutMs, intervalMs: 200, probe: RIDE_PROBE });
}

/**
 * The ride being recorded once it has more than `n` finished segments (polls the daemon's list).
 * Only a ride being recorded: a capture stall under load can end a ride and start another, and a
 * finished ride goes to a different player (the browser's own HLS where there is one).
 */
export async function rideWith(base: string, n: number): Promise<{ ride: RideDocument; segments: RideSegment[] }> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (Date.now() > deadline)
      throw new Error(`no ride being recorded with more than ${n} finished segments after 3 minutes`);
    const doc = (await (await fetch(`${base}/api/v1/rides`)).json()) as RidesListDocument;
    const ride = doc.rides[doc.rides.length - 1];
    if (ride?.inProgress) {
      const url = `${base}${ride.playlistUrl}`;
      const { segments } = parseRidePlaylist(await (await fetch(url)).text(), url);
      if (segments.length > n) return { ride, segments };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What playing a ride across joins measured. */
export interface JoinResult {
  /** The page's path: hls, mse or mms. */
  path: string;
  /** Frames shown (requestVideoFrameCallback calls) from the start to past the last join. */
  frames: number;
  /** Timeline seconds of the joins measured. */
  joins: number[];
  /** Interval between the frames shown on each side of each join, ms. */
  intervalsMs: number[];
  /**
   * The recording's own interval at each join: the first frame of the part after it minus the
   * last frame of the part before it, read with ffprobe from the parts the page was given, ms.
   * Under load the camera's source can stall right at a segment cut; the player must not add to it.
   */
  recordedMs: number[];
  /** Frames the browser counted as dropped (late: `droppedVideoFrames`) between the pictures on each side of each join. */
  droppedAtJoins: number[];
  /** The largest interval between frames shown anywhere in the run, ms (for the report). */
  maxIntervalMs: number;
  /** The video element's events during the run (time since the start, event, its currentTime, the page's base). */
  events: string[];
}

/**
 * Opens ride `id` from the recordings page already loaded in `page` and plays it past the
 * starts of `segments[first]` and `segments[first + 1]` (the joins measured). With `first` past 1
 * it starts through the page's time picker at the capture time of `segments[first - 1]` (to the
 * second, so at most a second before). The callers measure the newest joins: the ride's oldest
 * segments are the next that rotation deletes (a part gone before it is fetched), and a live HLS
 * player (Chromium's) skips ahead once its playhead falls out of the playlist.
 */
export async function playRideAcrossJoins(
  page: RidePage,
  id: string,
  segments: readonly RideSegment[],
  first = 1,
): Promise<JoinResult> {
  const joins = [segments[first]?.start, segments[first + 1]?.start].filter((j): j is number => j !== undefined);
  if (joins.length < 2) throw new Error(`the ride has ${segments.length} segments, too few for two joins`);
  const until = (joins[1] as number) + 0.5;
  // The recording's own intervals at the joins, read first: the ring may delete these parts soon after.
  const recordedMs: number[] = [];
  for (const k of [first, first + 1]) {
    const before = await framePts(segments[k - 1] as RideSegment);
    const after = await framePts(segments[k] as RideSegment);
    recordedMs.push(((after[0] as number) - (before[before.length - 1] as number)) * 1000);
  }
  const row = `li[data-ride="${id}"]`;
  await waitInRidePage(page, `document.querySelector('${row} .rv-ride-actions button')`, `the ride ${id} listed`);
  await page.evaluate(`(() => {
    const v = document.getElementById('ride-video');
    v.muted = true;
    v.defaultPlaybackRate = 0.5;
    v.playbackRate = 0.5;
    window.__ride = { times: [], dropped: [], done: false, events: [] };
    // What the element went through (a failure's message shows it: a reload, a seek, an error).
    const t0 = performance.now();
    for (const e of ['loadstart', 'loadedmetadata', 'seeking', 'seeked', 'waiting', 'ended', 'error', 'emptied'])
      v.addEventListener(e, () => window.__ride.events.push(
        ((performance.now() - t0) / 1000).toFixed(2) + 's ' + e + ' at ' + v.currentTime.toFixed(3) +
        ' base ' + (document.getElementById('ride-player').dataset.base || 0) +
        (e === 'loadstart' ? ' ' + (v.currentSrc.split('?')[1] || v.currentSrc.slice(0, 5)) : '') +
        (e === 'error' && v.error ? ' ' + v.error.code + ' ' + v.error.message : '') +
        (e === 'error' || e === 'waiting' ? ' buffered ' + Array.from({ length: v.buffered.length },
          (_, i) => v.buffered.start(i).toFixed(3) + '-' + v.buffered.end(i).toFixed(3)).join(' ') : '')));
    const step = (_now, meta) => {
      // On the ride's timeline: the browser's own HLS player may count from the playlist's first segment.
      const t = meta.mediaTime + Number(document.getElementById('ride-player').dataset.base || 0);
      window.__ride.times.push(t);
      // Frames the browser itself dropped as late so far (a starved machine), beside each picture.
      window.__ride.dropped.push(v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().droppedVideoFrames : 0);
      if (t > ${until}) window.__ride.done = true;
      else v.requestVideoFrameCallback(step);
    };
    v.requestVideoFrameCallback(step);
    const at = ${first > 1 ? (segments[first - 1] as RideSegment).capturedAtMs.toFixed(0) : 'undefined'};
    if (at === undefined) {
      document.querySelector('${row} details').open = true;
      document.querySelector('${row} .rv-ride-actions button').click();
      return true;
    }
    // datetime-local: the page's local wall time, to the second (the picker's step).
    const d = new Date(at);
    const p = (n) => String(n).padStart(2, '0');
    document.getElementById('ride-time').value =
      d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
    document.getElementById('ride-find').requestSubmit();
    return true;
  })()`);
  // The player sets its source after reading the playlist; play() then (muted: autoplay allowed).
  await waitInRidePage(
    page,
    `(() => { const v = document.getElementById('ride-video');
      if (document.getElementById('rides-message').textContent) return true;
      if (v.readyState >= 1 && v.paused) { v.playbackRate = 0.5; v.play().catch(() => {}); }
      return window.__ride.done; })()`,
    `frames past ${until.toFixed(3)} s`,
  );
  const message = await page.evaluate<string>(`document.getElementById('rides-message').textContent`);
  if (message) {
    const events = await page.evaluate<string[]>('window.__ride.events');
    throw new Error(`the page says: ${message}; the video's events: ${events.join(', ')}`);
  }
  const { times, dropped, path, events } = await page.evaluate<{
    times: number[];
    dropped: number[];
    path: string;
    events: string[];
  }>(
    `({ times: window.__ride.times, dropped: window.__ride.dropped, events: window.__ride.events, path: document.getElementById('ride-player').dataset.path })`,
  );
  const droppedAtJoins: number[] = [];
  const intervalsMs = joins.map((j) => {
    const i = times.findIndex((t) => t >= j - 0.001);
    if (i <= 0) throw new Error(`no frame shown before and after the join at ${j} s (${times.length} frames)`);
    droppedAtJoins.push((dropped[i] ?? 0) - (dropped[i - 1] ?? 0));
    return ((times[i] as number) - (times[i - 1] as number)) * 1000;
  });
  let maxIntervalMs = 0;
  for (let i = 1; i < times.length; i++)
    maxIntervalMs = Math.max(maxIntervalMs, ((times[i] as number) - (times[i - 1] as number)) * 1000);
  return { path, frames: times.length, joins, intervalsMs, recordedMs, droppedAtJoins, maxIntervalMs, events };
}

/** Presentation times (s, on the ride's timeline) of a part's frames, in order: ffprobe on its init and part. */
async function framePts(segment: RideSegment): Promise<number[]> {
  const fetchBytes = async (url: string): Promise<Buffer> => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  // Its own init section (every part has one, NAME-SECONDS.init.mp4): the playlist's map is that of
  // the first segment listed of its size, which rotation may have deleted since.
  const ownInit = segment.uri.replace(/\.m4s(\?.*)?$/, '.init.mp4');
  const input = Buffer.concat([await fetchBytes(ownInit), await fetchBytes(segment.uri)]);
  const probe = spawnSync(
    requireTool('ffprobe'),
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', '-i', 'pipe:0'],
    { input, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const pts = probe.stdout
    .split('\n')
    .map((l) => Number.parseFloat(l))
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  if (pts.length === 0) throw new Error(`ffprobe read no frame from ${segment.uri}: ${probe.stderr}`);
  return pts;
}

/**
 * The acceptance at the joins: no frame interval over 100 ms, unless the recording itself has a
 * longer one there (a source stall at the cut), which the player may show but never lengthen
 * (1 ms of rounding allowed), or the browser dropped the missing frames as late.
 */
export function assertJoins(result: JoinResult): void {
  result.intervalsMs.forEach((shown, i) => {
    const recorded = result.recordedMs[i] as number;
    if (shown <= Math.max(100, recorded + 1)) return;
    // Frames missing at the join must be frames the browser had and dropped as late (a starved
    // machine drops them anywhere, join or not), never frames the page failed to give it.
    const missing = Math.round(shown / Math.max(recorded, 1)) - 1;
    const dropped = result.droppedAtJoins[i] as number;
    assert.ok(
      missing <= dropped,
      `a frame interval of ${shown.toFixed(1)} ms at a join, where the recording has ${recorded.toFixed(1)} ms: ` +
        `${missing} frames missing, ${dropped} dropped as late by the browser; the video's events: ${result.events.join(', ')}`,
    );
  });
}

/** Opens ride `id` and returns the page's message (for an engine with no path). */
export async function rideMessage(page: RidePage, id: string): Promise<{ message: string; path: string }> {
  const row = `li[data-ride="${id}"]`;
  await waitInRidePage(page, `document.querySelector('${row} .rv-ride-actions button')`, `the ride ${id} listed`);
  await page.evaluate(`(document.querySelector('${row} .rv-ride-actions button').click(), true)`);
  await waitInRidePage(page, `document.getElementById('rides-message').textContent`, 'the message');
  return page.evaluate<{ message: string; path: string }>(
    `({ message: document.getElementById('rides-message').textContent, path: document.getElementById('ride-player').dataset.path })`,
  );
}
