/**
 * The live page in real headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core), streaming the sample clip in real time from a StreamHub
 * through the web mount's WebSocket: WebCodecs decodes it, the canvas shows
 * the clip's colours and changes over time, a latency figure is reported;
 * the MSE fallback works when VideoDecoder is removed and on a non-local
 * address (not a secure context); the page shows "Camera offline" when the
 * server goes away and comes back by itself.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { launchChromium, RealtimeFeeder, startLiveServer, type LiveServer } from './web-fixture.js';

const sample = accessUnitsOfFile(samplePath);
const cleanups: (() => unknown)[] = [];
let browser: Browser;

before(async () => {
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function liveServer(
  listen: { host?: string; port?: number } = {},
): Promise<{ live: LiveServer; feeder: RealtimeFeeder }> {
  const live = await startLiveServer(undefined, listen);
  const feeder = new RealtimeFeeder(live.hub, sample).start();
  cleanups.push(
    () => live.close(),
    () => feeder.close(),
  );
  return { live, feeder };
}

/** Polls a page expression until it is truthy (deadline, no fixed sleeps). Pages need bypassCSP: the app's CSP forbids eval. */
async function waitInPage(page: Page, expr: string, what: string, timeoutMs = 20_000): Promise<void> {
  try {
    await page.waitForFunction(expr, undefined, { timeout: timeoutMs, polling: 50 });
  } catch (err) {
    const probe = await page
      .evaluate('JSON.stringify({ ...window.__rearview, latencies: undefined })')
      .catch(() => '?');
    throw new Error(
      `timed out waiting for ${what} (${(err as Error).message.split('\n')[0]}); page state: ${String(probe)}`,
      { cause: err },
    );
  }
}

interface Colours {
  top: [number, number, number];
  bottom: [number, number, number];
  redPixels: number;
  checksum: number;
}

/** Mean colour of the top and bottom bands, count of the red box's pixels, and a checksum, of the canvas or video. */
async function colours(page: Page, selector: string): Promise<Colours> {
  return page.evaluate((sel) => {
    const src = document.querySelector(sel) as HTMLCanvasElement | HTMLVideoElement;
    const w = src instanceof HTMLVideoElement ? src.videoWidth : src.width;
    const h = src instanceof HTMLVideoElement ? src.videoHeight : src.height;
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(src, 0, 0);
    const d = ctx.getImageData(0, 0, w, h).data;
    const mean = (y0: number, y1: number): [number, number, number] => {
      let r = 0,
        g = 0,
        b = 0,
        n = 0;
      for (let y = y0; y < y1; y++)
        for (let x = 0; x < w; x += 4) {
          const i = (y * w + x) * 4;
          r += d[i]!;
          g += d[i + 1]!;
          b += d[i + 2]!;
          n++;
        }
      return [r / n, g / n, b / n];
    };
    let red = 0;
    let checksum = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i]! > 140 && d[i + 1]! < 90 && d[i + 2]! < 90) red++;
      checksum = (checksum * 31 + d[i]! + d[i + 1]! * 3 + d[i + 2]! * 7) >>> 0;
    }
    return { top: mean(5, Math.floor(h * 0.15)), bottom: mean(Math.floor(h * 0.85), h - 5), redPixels: red, checksum };
  }, selector);
}

/** The sample clip: sky blue above, grey road below, a red box somewhere. */
function assertSampleColours(c: Colours, what: string): void {
  const [tr, tg, tb] = c.top;
  assert.ok(tb > tr + 40 && tb > tg + 20 && tb > 150, `${what}: top is sky blue, got ${c.top.map(Math.round)}`);
  const [br, bg, bb] = c.bottom;
  assert.ok(
    Math.max(br, bg, bb) - Math.min(br, bg, bb) < 25,
    `${what}: bottom is grey, got ${c.bottom.map(Math.round)}`,
  );
  assert.ok(c.redPixels > 500, `${what}: the red box is visible (${c.redPixels} red pixels)`);
}

describe('live page in headless Chromium', () => {
  it('decodes with WebCodecs: picture matches the sample, changes over time, reports latency', async () => {
    const { live } = await liveServer();
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(live.url);
    await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 30', '30 pictures');
    const probe = (await page.evaluate(
      '({ path: __rearview.path, state: __rearview.state, n: __rearview.latencies.length, p: __rearview.latencies.slice(-30) })',
    )) as {
      path: string;
      state: string;
      n: number;
      p: number[];
    };
    assert.equal(probe.path, 'webcodecs');
    assert.equal(probe.state, 'live');
    assert.ok(probe.n >= 30);
    const sorted = [...probe.p].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    // Same machine, same clock: capture-to-display must be positive and small (not a timing benchmark; a sanity bound).
    assert.ok(median > -5 && median < 1000, `median latency ${median} ms`);
    const a = await colours(page, '#live-canvas');
    assertSampleColours(a, 'WebCodecs canvas');
    await waitInPage(page, `window.__rearview.framesShown >= ${30 + 15}`, '15 more pictures');
    const b = await colours(page, '#live-canvas');
    assert.notEqual(a.checksum, b.checksum, 'the picture changes over time');
    // The overlay shows the figures once the first second has passed.
    await waitInPage(
      page,
      `/\\d+ ms/.test(document.getElementById('ov-latency').textContent)`,
      'latency in the overlay',
    );
    assert.match((await page.textContent('#ov-path')) ?? '', /WebCodecs/);
    assert.match((await page.textContent('#path-note')) ?? '', /WebCodecs/);
    assert.equal(await page.textContent('#ov-size'), '640×360');
    assert.equal(await page.isChecked('#mirror'), true, 'mirrored by default');
    assert.match((await page.getAttribute('#live-canvas', 'class')) ?? '', /mirrored/);
    await waitInPage(page, `document.getElementById('clock-note').textContent.length > 0`, 'clock note');
    assert.ok((await page.screenshot()).length > 10_000, 'a screenshot of the live view');
    await page.click('#mirror');
    assert.doesNotMatch((await page.getAttribute('#live-canvas', 'class')) ?? '', /mirrored/);
  });

  it('decodes nothing while the tab is hidden and resumes at a fresh keyframe when visible', async () => {
    const { live, feeder } = await liveServer();
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(live.url);
    await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 10', '10 pictures');
    const setVisibility = (state: string): Promise<unknown> =>
      page.evaluate(`(() => {
        Object.defineProperty(document, 'visibilityState', { value: '${state}', configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      })()`);
    await setVisibility('hidden');
    const hiddenAt = (await page.evaluate('__rearview.framesShown')) as number;
    const fedAt = (await page.evaluate('__rearview.framesFed')) as number;
    // Wait (on the camera side) for more than a GOP to be published while hidden.
    const target = feeder.delivered + 45;
    while (feeder.delivered < target) await new Promise((r) => setTimeout(r, 20));
    // Nothing new reaches the decoder while hidden. (Counting pictures shown instead was flaky:
    // on a loaded machine more than a few frames were still inside the decoder when it hid.)
    assert.equal(
      (await page.evaluate('__rearview.framesFed')) as number,
      fedAt,
      'no frame fed to the decoder while hidden',
    );
    const whileHidden = ((await page.evaluate('__rearview.framesShown')) as number) - hiddenAt;
    const samplesBefore = (await page.evaluate('__rearview.latenciesRaw.length')) as number;
    await setVisibility('visible');
    await waitInPage(
      page,
      `__rearview.framesShown >= ${hiddenAt + whileHidden + 10}`,
      'pictures after becoming visible',
    );
    const after = (await page.evaluate(`__rearview.latenciesRaw.slice(${samplesBefore})`)) as number[];
    assert.ok(
      after.every((l) => l < 1000),
      `no stale frames after resuming: ${after.map(Math.round).join(',')}`,
    );
  });

  it('falls back to Media Source Extensions when VideoDecoder is missing', async () => {
    const { live } = await liveServer();
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, bypassCSP: true });
    cleanups.push(() => context.close());
    await context.addInitScript('delete window.VideoDecoder; delete window.VideoEncoder;');
    const page = await context.newPage();
    await page.goto(live.url);
    await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 20', '20 pictures via MSE');
    assert.equal(await page.evaluate('__rearview.path'), 'mse');
    assert.match((await page.textContent('#path-note')) ?? '', /Media Source Extensions/);
    assert.equal(await page.isVisible('#live-video'), true);
    assert.equal(await page.isVisible('#live-canvas'), false);
    assertSampleColours(await colours(page, '#live-video'), 'MSE video');
    const n = (await page.evaluate('__rearview.latencies.length')) as number;
    assert.ok(n >= 20, 'latency samples from requestVideoFrameCallback');
    // Keeps to the live edge: the playhead is within a second of the buffered end.
    const behind = (await page.evaluate(
      '(() => { const v = document.getElementById("live-video"); return v.buffered.end(v.buffered.length - 1) - v.currentTime; })()',
    )) as number;
    assert.ok(behind < 1, `playhead ${behind} s behind the buffered end`);
  });

  it('loses no GOP on MSE when a frame comes late (capture-time steps past twice a frame)', async () => {
    // A frame 120 ms late every 45 frames: its pts step is over twice a frame's duration, a
    // discontinuity to MSE that made the browser throw frames away up to the next keyframe.
    const live = await startLiveServer();
    cleanups.push(() => live.close());
    const feeder = new RealtimeFeeder(live.hub, sample, 30, { every: 45, ms: 120 }).start();
    cleanups.push(() => feeder.close());
    const context = await browser.newContext({ bypassCSP: true });
    cleanups.push(() => context.close());
    await context.addInitScript('delete window.VideoDecoder;');
    const page = await context.newPage();
    await page.goto(live.url);
    await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 150', '150 pictures via MSE', 60_000);
    assert.equal(await page.evaluate('__rearview.path'), 'mse');
    const ranges = (await page.evaluate(
      '(() => { const b = document.getElementById("live-video").buffered; return Array.from({ length: b.length }, (_, i) => [b.start(i), b.end(i)]); })()',
    )) as [number, number][];
    assert.equal(
      ranges.length,
      1,
      `one buffered range, no hole where a GOP was thrown away: ${JSON.stringify(ranges)}`,
    );
    assert.equal(await page.evaluate('__rearview.stats.drops'), 0);
  });

  it('switches to MSE when WebCodecs cannot decode the stream', async () => {
    const { live } = await liveServer();
    const context = await browser.newContext({ bypassCSP: true });
    cleanups.push(() => context.close());
    // A WebCodecs that supports no H.264 at all (as some browsers ship it): HEVC is unsupported here.
    await context.addInitScript(`{
      const Real = window.VideoDecoder;
      const hevc = (c) => ({ ...c, codec: 'hev1.1.6.L93.B0' });
      window.VideoDecoder = class extends Real {
        configure(c) { return super.configure(hevc(c)); }
        static isConfigSupported(c) { return Real.isConfigSupported(hevc(c)); }
      };
    }`);
    const page = await context.newPage();
    await page.goto(live.url);
    await waitInPage(
      page,
      'window.__rearview && window.__rearview.path === "mse" && window.__rearview.framesShown >= 10',
      'pictures via MSE after the switch',
    );
    assert.match((await page.textContent('#path-note')) ?? '', /cannot decode this stream/);
    assert.equal(await page.isVisible('#live-video'), true);
  });

  it('uses the fallback on a non-local address (no secure context there)', async () => {
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    assert.ok(lan, 'this test needs a non-loopback IPv4 address');
    const { live } = await liveServer({ host: lan.address });
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(live.url);
    assert.equal(await page.evaluate('window.isSecureContext'), false);
    await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 10', '10 pictures on a LAN address');
    assert.equal(await page.evaluate('__rearview.path'), 'mse');
  });

  it('says so when connected but the camera sends no video', async () => {
    const live = await startLiveServer();
    cleanups.push(() => live.close());
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(live.url);
    await waitInPage(page, `__rearview.state === 'no-video'`, 'no-video state');
    assert.match((await page.textContent('#live-state')) ?? '', /not sending video/);
  });

  it('shows "Camera offline" when the server goes away and reconnects when it is back', async () => {
    const first = await liveServer();
    const port = first.live.port;
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(first.live.url);
    await waitInPage(page, 'window.__rearview && window.__rearview.framesShown >= 5', 'first pictures');
    first.feeder.close();
    await first.live.close();
    await waitInPage(page, `__rearview.state === 'offline'`, 'offline state');
    assert.match((await page.textContent('#live-state')) ?? '', /Camera offline/);
    const shown = (await page.evaluate('__rearview.framesShown')) as number;
    await liveServer({ port });
    await waitInPage(
      page,
      `__rearview.state === 'live' && __rearview.framesShown >= ${shown + 10}`,
      'reconnected',
      30_000,
    );
  });
});
