/**
 * The web app served by a real `rearview serve` child (sample source,
 * recording 2-second segments into a scratch folder, ports 0), in headless
 * Chromium: the live page on the API port decodes the camera's frames with
 * WebCodecs and the daemon's status lists the page as a `ws` client; `curl /`
 * keeps the device's greeting; the gallery shows the recorder's own
 * segments with thumbnails, plays one through the daemon's MP4 conversion,
 * and deletes one after confirming.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { ensureWebBuilt, launchChromium, screenshotPath } from './web-fixture.js';

const cleanups: (() => unknown)[] = [];
let browser: Browser;
let serve: ServeProcess;
let recordings: string;
let base: string;

before(async () => {
  ensureWebBuilt();
  const scratch = scratchDir('rearview-daemon-web-');
  cleanups.push(scratch.cleanup);
  recordings = join(scratch.dir, 'recordings');
  serve = await startServe(
    [
      '--source',
      'sample',
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--bind',
      '127.0.0.1',
      '--no-mdns',
      '--recordings',
      recordings,
      '--segment',
      '2s',
    ],
    { rawArgs: true, waitForApi: true },
  );
  cleanups.push(() => serve.close());
  base = `http://127.0.0.1:${serve.apiPort}`;
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('web app on rearview serve', () => {
  it('shows the live stream from the API port with WebCodecs and appears in the status', async () => {
    const page = await browser.newPage({ bypassCSP: true, viewport: { width: 1280, height: 860 } });
    cleanups.push(() => page.close());
    await page.goto(`${base}/`);
    await page.waitForFunction('window.__rearview && window.__rearview.framesShown >= 30', undefined, {
      timeout: 30_000,
      polling: 50,
    });
    assert.equal(await page.evaluate('__rearview.path'), 'webcodecs');
    assert.equal(await page.evaluate('__rearview.config.codec'), 'avc1.42c01e');
    const latencies = (await page.evaluate('__rearview.latencies.slice(-30)')) as number[];
    assert.ok(
      latencies.every((l) => Number.isFinite(l) && l < 5000),
      `latency figures ${latencies.join(',')}`,
    );
    const status = (await (await fetch(`${base}/api/v1/status`)).json()) as {
      stream: { clients: Array<{ kind: string }> };
    };
    assert.ok(
      status.stream.clients.some((c) => c.kind === 'ws'),
      'the page is listed as a ws client',
    );
    await page.waitForFunction(
      `/\\d+ ms/.test(document.getElementById('ov-latency').textContent) && document.getElementById('clock-note').textContent.length > 0`,
      undefined,
      { timeout: 10_000 },
    );
    assert.ok((await page.screenshot({ path: screenshotPath('live-view.png') })).length > 10_000);
    const greeting = await (await fetch(`${base}/`, { headers: { accept: '*/*' } })).text();
    assert.equal(greeting, 'Welcome to Velovision Rearview', 'curl / keeps the greeting');
  });

  it("lists the recorder's segments, plays one, deletes one after confirming", async () => {
    // Wait for two finished segments with thumbnails.
    let list: Array<{ name: string; inProgress: boolean; thumbnailUrl: string | null }> = [];
    await waitFor(
      async () => {
        const body = (await (await fetch(`${base}/api/v1/recordings`)).json()) as { recordings: typeof list };
        list = body.recordings.filter((r) => !r.inProgress && r.thumbnailUrl);
        return list.length >= 2;
      },
      'two finished segments with thumbnails',
      30_000,
      200,
    );
    const page = await browser.newPage({ bypassCSP: true, viewport: { width: 1100, height: 700 } });
    cleanups.push(() => page.close());
    await page.goto(`${base}/#recordings`);
    await page.waitForFunction(`document.querySelectorAll('#recording-list li').length >= 2`, undefined, {
      timeout: 15_000,
    });
    await page.waitForFunction(
      `[...document.querySelectorAll('#recording-list img')].every((i) => i.complete && i.naturalWidth > 0)`,
      undefined,
      { timeout: 15_000 },
    );
    assert.ok((await page.screenshot({ path: screenshotPath('gallery.png') })).length > 10_000);
    const target = list[0]!.name;
    const card = `#recording-list li[data-name="${target}"]`;
    await page.waitForFunction(
      `(() => { const i = document.querySelector('${card} img'); return i && i.complete && i.naturalWidth === 1280; })()`,
      undefined,
      { timeout: 15_000 },
    );
    await page.click(`${card} button:has-text("Play")`);
    await page.waitForFunction(
      '(() => { const v = document.getElementById("player-video"); return v.readyState >= 2 && v.videoWidth === 1280 && v.duration > 1; })()',
      undefined,
      { timeout: 60_000 },
    );
    // Seek inside the MP4 (the daemon serves it with Range support).
    await page.evaluate('document.getElementById("player-video").currentTime = 1');
    await page.waitForFunction(
      '(() => { const v = document.getElementById("player-video"); return !v.seeking && v.currentTime >= 1 && v.readyState >= 2; })()',
      undefined,
      { timeout: 15_000 },
    );
    await page.click('#player-close');
    page.once('dialog', (d) => void d.accept());
    await page.click(`${card} button:has-text("Delete")`);
    await page.waitForFunction(`!document.querySelector('${card}')`, undefined, { timeout: 15_000 });
    assert.equal(existsSync(join(recordings, target)), false, 'the segment file is gone');
  });
});
