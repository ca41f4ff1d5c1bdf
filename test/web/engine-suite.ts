/**
 * The live page in one browser engine against a real `rearview serve` child
 * (sample source, free ports): what the engine offers on a secure and a
 * non-secure origin, every path it can play (the picture moves between two
 * screenshots, the latency figure shows), the page's clear message for every
 * path it cannot, the path it picks by itself on the camera's `.local` name,
 * and an iPhone-like page there. One browser and one daemon per test file.
 * The expectations are the findings recorded in docs/web.md ("Browser engines").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import type { LivePath } from '../../src/web/live-path.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import {
  CAMERA_HOST,
  iphoneLikeScript,
  mapCameraHost,
  startInitScriptProxy,
  type Engine,
  type EnginePage,
  type InitScriptProxy,
} from './browser-engines.js';
import { ensureWebBuilt } from './web-fixture.js';
import { waitInPageFor } from './page-wait.js';
import { assertJoins, type JoinResult, playRideAcrossJoins, rideMessage, rideWith } from './ride-check.js';
import { join } from 'node:path';
import { scratchDir } from '../support/paths.js';

/** What a page sees of the browser. */
export interface Findings {
  RTCPeerConnection: string;
  VideoDecoder: string;
  MediaSource: string;
  ManagedMediaSource: boolean;
  isSecureContext: boolean;
  /** RTCRtpReceiver.getCapabilities('video') lists H.264 (null: no WebRTC). */
  webRtcH264: boolean | null;
}

/** What one engine is expected to do (docs/web.md). */
export interface EngineExpectations {
  /** On http://127.0.0.1:PORT (secure) and http://CAMERA_HOST:PORT (not secure). */
  findings: { loopback: Findings; local: Findings };
  /** Paths that play with `?path=`: webcodecs on the loopback origin, the others on the `.local` name. */
  plays: LivePath[];
  /** The page's message for each path this engine cannot play. */
  refuses: Partial<Record<LivePath, RegExp>>;
  /** What the page picks by itself on the `.local` name, and what its note says. */
  auto: { path: LivePath; note: RegExp };
  /**
   * The iPhone-like page on the `.local` name (MediaSource and VideoDecoder deleted before
   * the page's scripts; ManagedMediaSource too unless keepManaged): the path it plays, or
   * its message when it can play none.
   */
  iphone: { keepManaged: boolean; path: LivePath } | { keepManaged: boolean; message: RegExp };
  /**
   * The ride player on the recordings page at the `.local` name (a ride being recorded): the path
   * it picks, and on the iPhone-like page the path it plays or its message.
   */
  ride: { path: string; iphone: { path: string } | { message: RegExp } };
}

const FINDINGS_EXPR = `({
  RTCPeerConnection: typeof RTCPeerConnection,
  VideoDecoder: typeof VideoDecoder,
  MediaSource: typeof MediaSource,
  ManagedMediaSource: 'ManagedMediaSource' in window,
  isSecureContext: window.isSecureContext,
  webRtcH264: typeof RTCRtpReceiver === 'undefined' ? null
    : RTCRtpReceiver.getCapabilities('video').codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264'),
})`;

const LABEL: Record<LivePath, string> = { webcodecs: 'WebCodecs', webrtc: 'WebRTC', mse: 'MSE', mms: 'MMS' };

/** The live view's state, for a timeout's message. */
const LIVE_PROBE = `(() => {
  const v = document.getElementById('live-video');
  const b = v.buffered;
  const video = { paused: v.paused, readyState: v.readyState, networkState: v.networkState, currentTime: v.currentTime,
    buffered: Array.from({ length: b.length }, (_, i) => [b.start(i), b.end(i)]), error: v.error && v.error.message };
  return JSON.stringify({ ...window.__rearview, latencies: undefined, latenciesRaw: undefined, receiveLatenciesRaw: undefined,
    decodedLatenciesRaw: undefined, video, state: document.getElementById('live-state').textContent,
    note: document.getElementById('path-note').textContent });
})()`;

/** Polls a page expression until it is truthy (a deadline, no sleeps as synchronisation). */
function waitInPage(page: EnginePage, expression: string, what: string, timeoutMs = 40_000): Promise<void> {
  return waitInPageFor(page, expression, what, { timeoutMs, intervalMs: 100, probe: LIVE_PROBE });
}

interface Picture {
  width: number;
  height: number;
  data: Buffer;
}

/** Share of pixels that differ by more than 40 in some channel (0..1). */
function changedShare(a: Picture, b: Picture): number {
  assert.equal(`${a.width}x${a.height}`, `${b.width}x${b.height}`, 'screenshots of one size');
  let changed = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(
      Math.abs((a.data[i] as number) - (b.data[i] as number)),
      Math.abs((a.data[i + 1] as number) - (b.data[i + 1] as number)),
      Math.abs((a.data[i + 2] as number) - (b.data[i + 2] as number)),
    );
    if (d > 40) changed++;
  }
  return changed / (a.width * a.height);
}

/** Mean colour of the rows from y0 to y1 (shares of the height). */
function meanColour(p: Picture, y0: number, y1: number): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = Math.floor(p.height * y0); y < Math.floor(p.height * y1); y++)
    for (let x = 0; x < p.width; x += 2) {
      const i = (y * p.width + x) * 4;
      for (let c = 0; c < 3; c++) sum[c] = (sum[c] as number) + (p.data[i + c] as number);
      n++;
    }
  return sum.map((s) => Math.round(s / n)) as [number, number, number];
}

/**
 * The picture is the sample's (sky blue at the top) and moves: element screenshots are taken
 * as pictures are shown, until one differs from the first (or the deadline).
 */
async function expectMovingPicture(page: EnginePage, selector: string): Promise<number> {
  // The figures overlay changes every second by itself: out of the screenshots.
  await page.evaluate(`(document.getElementById('overlay').hidden = true)`);
  // The picture on screen, sky blue at the top. A counted picture can reach the screen a little
  // later (WebKitGTK's video layer after a new media source, under load): a few more pictures are
  // waited for, with a deadline; a picture that stays black fails.
  let first = PNG.sync.read(await page.screenshot(selector));
  const blueBy = Date.now() + 20_000;
  for (;;) {
    const [r, g, b] = meanColour(first, 0.03, 0.12);
    if (b > r + 30 && b > g && b > 120) break;
    if (Date.now() > blueBy) assert.fail(`the top of the picture is sky blue, got rgb(${r}, ${g}, ${b})`);
    const shown = await page.evaluate<number>('window.__rearview.framesShown');
    await waitInPage(page, `window.__rearview.framesShown >= ${shown + 5}`, '5 more pictures');
    first = PNG.sync.read(await page.screenshot(selector));
  }
  const deadline = Date.now() + 40_000;
  for (;;) {
    const shown = await page.evaluate<number>('window.__rearview.framesShown');
    await waitInPage(page, `window.__rearview.framesShown >= ${shown + 5}`, '5 more pictures');
    const share = changedShare(first, PNG.sync.read(await page.screenshot(selector)));
    if (share > 0.002) return share;
    if (Date.now() > deadline)
      assert.fail(`the picture did not move (${(share * 100).toFixed(2)} % of pixels changed)`);
  }
}

function rideFigures(r: JoinResult): string {
  const at = r.intervalsMs.map((d) => `${d.toFixed(1)} ms`).join(', ');
  const rec = r.recordedMs.map((d) => `${d.toFixed(1)} ms`).join(', ');
  return `ride ${r.path}: ${r.frames} frames at half speed; intervals at the joins ${at} (recorded ${rec}; dropped as late ${r.droppedAtJoins.join(', ')}); largest anywhere ${r.maxIntervalMs.toFixed(1)} ms; the video's events: ${r.events.join(', ')}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** What engineSuite's `extra` tests get. */
export interface SuiteContext {
  /** Opens a page (closed after the file's tests). */
  open(url: string, initScript?: string): Promise<EnginePage>;
  /** The page on the camera's `.local` name, with a query such as `?path=mse`. */
  local(query: string): string;
  /** Plays `path`: moving picture, latency figure, the path in the overlay. */
  expectPlays(page: EnginePage, path: LivePath, t: { diagnostic: (m: string) => void }): Promise<void>;
}

/** The tests of one engine; `launch` starts the browser once for the file; `extra` adds tests of its own. */
export function engineSuite(
  launch: (proxy: () => Promise<InitScriptProxy>) => Promise<Engine>,
  expected: EngineExpectations,
  extra?: (context: SuiteContext) => void,
): void {
  const cleanups: (() => unknown)[] = [];
  let serve: ServeProcess;
  let engine: Engine;
  /** Init-script proxies by the camera port they forward to (the live daemon's, the ride daemon's). */
  const proxies = new Map<number, InitScriptProxy>();
  /** The camera port the next page with an init script is proxied to. */
  let proxyPort = 0;
  const loopback = (query: string, hash = '#live'): string => `http://127.0.0.1:${serve.apiPort}/${query}${hash}`;
  const local = (query: string, hash = '#live'): string => `http://${CAMERA_HOST}:${serve.apiPort}/${query}${hash}`;

  before(async () => {
    ensureWebBuilt();
    mapCameraHost();
    serve = await startServe(['--source', 'sample', '--bind', '127.0.0.1'], { waitForApi: true });
    cleanups.push(() => serve.close());
    proxyPort = serve.apiPort as number;
    engine = await launch(async () => {
      const port = proxyPort;
      let proxy = proxies.get(port);
      if (!proxy) {
        const p = await startInitScriptProxy(port);
        proxies.set(port, p);
        cleanups.push(() => p.close());
        proxy = p;
      }
      return proxy;
    });
    cleanups.push(() => engine.close());
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function open(url: string, initScript?: string): Promise<EnginePage> {
    const page = await engine.open(url, initScript ? { initScript } : {});
    cleanups.push(() => page.close());
    return page;
  }

  /** The page plays `path`: moving picture, latency figure, the path in the overlay. */
  async function expectPlays(page: EnginePage, path: LivePath, t: { diagnostic: (m: string) => void }): Promise<void> {
    await waitInPage(page, `window.__rearview && window.__rearview.path === '${path}'`, `the ${path} path`);
    await waitInPage(page, 'window.__rearview.framesShown >= 5', 'the first pictures');
    // The latency figure: shown once a second passed with pictures (overlay, "N ms").
    await waitInPage(page, `/^-?\\d+ ms$/.test(document.getElementById('ov-latency').textContent)`, 'latency figure');
    assert.equal(await page.evaluate('document.getElementById("ov-path").textContent'), LABEL[path]);
    const share = await expectMovingPicture(page, path === 'webcodecs' ? '#live-canvas' : '#live-video');
    const probe = await page.evaluate<{ latencies: number[]; firstPictureMs: number; framesShown: number }>(
      '({ latencies: window.__rearview.latencies.slice(-60), firstPictureMs: window.__rearview.firstPictureMs, framesShown: window.__rearview.framesShown })',
    );
    assert.ok(probe.latencies.length > 0, 'latency samples');
    if (path === 'mse' || path === 'mms') {
      // One buffered range: the samples follow each other without gaps (WebKit split the buffer at
      // every jittered step and dropped the frames up to the next keyframe).
      const ranges = await page.evaluate<number>(`document.getElementById('live-video').buffered.length`);
      assert.equal(ranges, 1, 'one buffered range');
    }
    t.diagnostic(
      `${engine.version} ${path}: picture moves (${(share * 100).toFixed(1)} % of pixels changed), latency median ` +
        `${median(probe.latencies).toFixed(0)} ms over the last ${probe.latencies.length} pictures, first picture ` +
        `${probe.firstPictureMs.toFixed(0)} ms after navigation, ${probe.framesShown} pictures shown`,
    );
  }

  async function expectMessage(page: EnginePage, message: RegExp): Promise<void> {
    await waitInPage(page, `document.getElementById('live-state').dataset.state === 'unsupported'`, 'the message');
    const text = await page.evaluate<string>(`document.getElementById('live-state').textContent`);
    assert.match(text, message);
    assert.equal(await page.evaluate<number>('window.__rearview?.framesShown ?? 0'), 0);
  }

  describe('the page in this engine', () => {
    it('offers what docs/web.md records, on a secure and a non-secure origin', async (t) => {
      // The recordings section: no live stream while looking.
      const page = await open(loopback('', '#recordings'));
      const onLoopback = await page.evaluate<Findings>(FINDINGS_EXPR);
      const page2 = await open(local('', '#recordings'));
      const onLocal = await page2.evaluate<Findings>(FINDINGS_EXPR);
      t.diagnostic(`${engine.version} on 127.0.0.1: ${JSON.stringify(onLoopback)}`);
      t.diagnostic(`${engine.version} on ${CAMERA_HOST}: ${JSON.stringify(onLocal)}`);
      assert.deepEqual({ loopback: onLoopback, local: onLocal }, expected.findings);
    });

    for (const path of ['webcodecs', 'webrtc', 'mse', 'mms'] as const) {
      const where = path === 'webcodecs' ? '127.0.0.1' : CAMERA_HOST;
      if (expected.plays.includes(path)) {
        it(`plays ?path=${path} on ${where}`, async (t) => {
          const url = path === 'webcodecs' ? loopback(`?path=${path}`) : local(`?path=${path}`);
          await expectPlays(await open(url), path, t);
        });
      } else {
        const message = expected.refuses[path];
        it(`says why it cannot play ?path=${path} on ${where}`, async () => {
          assert.ok(message, `expectations name the message for ${path}`);
          const url = path === 'webcodecs' ? loopback(`?path=${path}`) : local(`?path=${path}`);
          await expectMessage(await open(url), message);
        });
      }
    }

    it(`picks ${expected.auto.path} by itself on ${CAMERA_HOST} (not a secure context)`, async (t) => {
      const page = await open(local(''));
      await expectPlays(page, expected.auto.path, t);
      assert.match(await page.evaluate<string>(`document.getElementById('path-note').textContent`), expected.auto.note);
    });

    const iphone = expected.iphone;
    it(`on an iPhone-like page at ${CAMERA_HOST}: ${'path' in iphone ? `plays through ${iphone.path}` : 'says why it cannot play'}`, async (t) => {
      const page = await open(local(''), iphoneLikeScript(iphone.keepManaged));
      assert.deepEqual(
        await page.evaluate('[typeof VideoDecoder, typeof MediaSource, "ManagedMediaSource" in window]'),
        ['undefined', 'undefined', iphone.keepManaged],
      );
      if (!('path' in iphone)) {
        await expectMessage(page, iphone.message);
        return;
      }
      await expectPlays(page, iphone.path, t);
    });

    if (expected.plays.includes('mse')) {
      it(`?path=mse on ${CAMERA_HOST}: when the media pipeline fails, builds a new source and plays on`, async (t) => {
        const page = await open(local('?path=mse'));
        await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 5', 'the first pictures');
        // A failed pipeline, as WebKitGTK's "Failed to push buffer" under load or a decode error
        // leave it: the element in error, its media source gone.
        await page.evaluate(`(document.getElementById('live-video').src = 'data:,', true)`);
        await waitInPage(
          page,
          `window.__rearview.errors.some((e) => /media pipeline failed/.test(e))`,
          'the failure reported',
        );
        // Pictures of the new source (the element is black until its first one).
        const shown = await page.evaluate<number>('window.__rearview.framesShown');
        await waitInPage(page, `window.__rearview.framesShown >= ${shown + 5}`, 'pictures from the new source');
        await expectPlays(page, 'mse', t);
        const errors = await page.evaluate<string[]>('window.__rearview.errors');
        t.diagnostic(`${engine.version}: ${errors.join(' | ')}`);
      });
    }

    // The rides get their own daemon, recording 2 s segments (the ring of 30 wraps after a minute, as a
    // camera's does after 30 minutes), started for these tests only: beside the live tests, its
    // conversions and thumbnails every 2 s (30 times a camera's rate) starved WebKitGTK's live pictures.
    describe('rides', () => {
      const ride = expected.ride;
      let rides: ServeProcess | undefined;
      let scratch: { cleanup(): void } | undefined;
      before(async () => {
        const dir = scratchDir('rearview-engine-rides-');
        scratch = dir;
        rides = await startServe(
          [
            ...['--source', 'sample', '--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1', '--no-mdns'],
            ...['--recordings', join(dir.dir, 'recordings'), '--segment', '2s', '--max-files', '30'],
          ],
          { rawArgs: true, waitForApi: true },
        );
      });
      after(async () => {
        await rides?.close();
        scratch?.cleanup();
      });
      /** A page on the ride daemon at the camera's `.local` name, closed by the caller. */
      async function openRides(initScript?: string): Promise<EnginePage> {
        proxyPort = rides?.apiPort as number;
        try {
          return await engine.open(
            `http://${CAMERA_HOST}:${rides?.apiPort}/#recordings`,
            initScript ? { initScript } : {},
          );
        } finally {
          proxyPort = serve.apiPort as number;
        }
      }

      it(`plays a ride across joins on ${CAMERA_HOST} through ${ride.path}, no frame interval over 100 ms at a join`, async (t) => {
        const { ride: r, segments } = await rideWith(`http://127.0.0.1:${rides?.apiPort}`, 6);
        const page = await openRides();
        try {
          const result = await playRideAcrossJoins(page, r.id, segments, segments.length - 2);
          t.diagnostic(rideFigures(result));
          assert.equal(result.path, ride.path);
          assertJoins(result);
        } finally {
          await page.close();
        }
      });
      const iphoneRide = ride.iphone;
      it(`on an iPhone-like page at ${CAMERA_HOST}: ${'path' in iphoneRide ? `plays a ride through ${iphoneRide.path}` : 'says why it cannot play a ride'}`, async (t) => {
        const { ride: r, segments } = await rideWith(`http://127.0.0.1:${rides?.apiPort}`, 6);
        const page = await openRides(iphoneLikeScript(iphone.keepManaged));
        try {
          if (!('path' in iphoneRide)) {
            const said = await rideMessage(page, r.id);
            assert.equal(said.path, 'none');
            assert.match(said.message, iphoneRide.message);
            return;
          }
          const result = await playRideAcrossJoins(page, r.id, segments, segments.length - 2);
          t.diagnostic(`iPhone-like: ${rideFigures(result)}`);
          assert.equal(result.path, iphoneRide.path);
          assertJoins(result);
        } finally {
          await page.close();
        }
      });
    });

    extra?.({ open, local: (query) => local(query), expectPlays });
  });
}
