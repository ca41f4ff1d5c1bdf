/**
 * The recordings gallery and the status page in headless Chromium, against
 * the real ApiServer (/api/v1 routes) over a folder of real MKV segments
 * made by ffmpeg, with the web mount plugged in as the daemon does: lists
 * recordings with thumbnails, date, duration and size; plays one in the page;
 * deletes one only after the confirmation is accepted (dismissing keeps it);
 * wipes all; shows status values and saves a setting.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createWebMount } from '../../src/api/web-mount.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { makeRecordings, startTestApi, type TestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { ensureWebBuilt, launchChromium, screenshotPath } from './web-fixture.js';

const cleanups: (() => unknown)[] = [];
let browser: Browser;
before(async () => {
  ensureWebBuilt();
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(count = 3, recordingsPollMs?: number): Promise<{ api: TestApi; dir: string; page: Page }> {
  const scratch = scratchDir('rearview-gallery-');
  cleanups.push(scratch.cleanup);
  makeRecordings(scratch.dir, count);
  const hub = new StreamHub();
  const mount = createWebMount({ hub });
  const api = await startTestApi(scratch.dir, {
    api: { web: mount, ...(recordingsPollMs === undefined ? {} : { recordingsPollMs }) },
  });
  cleanups.push(
    () => api.close(),
    () => mount.close(),
    () => hub.close(),
  );
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 }, bypassCSP: true });
  cleanups.push(() => page.close());
  return { api, dir: scratch.dir, page };
}

const cards = (page: Page): Promise<string[]> =>
  page.$$eval('#recording-list li', (lis) => lis.map((li) => (li as HTMLElement).dataset.name ?? ''));

describe('recordings gallery in headless Chromium', () => {
  it('works from the keyboard, and every control has an accessible name', async () => {
    const { api, page } = await setup(1);
    await page.goto(`${api.url}/`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
    await page.keyboard.press('Tab'); // Live
    await page.keyboard.press('Tab'); // Recordings
    assert.equal(await page.evaluate('document.activeElement.id'), 'nav-recordings');
    await page.keyboard.press('Enter');
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 1', undefined, {
      timeout: 15_000,
    });
    assert.equal(await page.getAttribute('#nav-recordings', 'aria-current'), 'page');
    assert.equal(await page.isVisible('#live'), false);
    await page.click('#nav-status');
    await page.waitForSelector('#setting-video-fps', { timeout: 10_000 });
    for (const section of ['#live', '#recordings', '#status']) {
      await page.evaluate(`location.hash = '${section}'`);
      await page.waitForFunction(`!document.querySelector('${section}').hidden`);
      const unnamed =
        (await page.evaluate(`[...document.querySelectorAll('${section} button, ${section} input, ${section} select, ${section} a')]
        .filter((e) => e.offsetParent !== null)
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map((e) => e.outerHTML)`)) as string[];
      assert.deepEqual(unnamed, [], `controls without a name in ${section}`);
    }
  });

  it('lists recordings with thumbnails and facts, plays one, deletes one after confirming', async () => {
    const { api, dir, page } = await setup(3);
    await page.goto(`${api.url}/#recordings`);
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 3', undefined, {
      timeout: 15_000,
    });
    assert.deepEqual((await cards(page)).sort(), ['log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    // Thumbnails decoded (a JPEG from the API, not a broken image).
    await page.waitForFunction(
      '[...document.querySelectorAll("#recording-list img")].every((i) => i.complete && i.naturalWidth === 320)',
      undefined,
      { timeout: 10_000 },
    );
    const meta = await page.textContent('#recording-list li .meta');
    assert.match(meta ?? '', /0:01/, 'duration');
    assert.match(meta ?? '', /\d+(\.\d)? kB/, 'size');
    assert.match(meta ?? '', /320×180/, 'resolution');
    assert.match((await page.textContent('#storage')) ?? '', /Recordings use/);
    const download = await page.getAttribute('#recording-list li a', 'href');
    assert.match(download ?? '', /\/api\/v1\/recordings\/log000\d\.mp4$/);

    assert.ok((await page.screenshot()).length > 10_000, 'a screenshot of the gallery');

    // Play in the page: the MP4 loads and its picture has the recording's size.
    await page.click('#recording-list li:first-child button:has-text("Play")');
    assert.equal(await page.isVisible('#player'), true);
    await page.waitForFunction(
      '(() => { const v = document.getElementById("player-video"); return v.readyState >= 2 && v.videoWidth === 320; })()',
      undefined,
      { timeout: 15_000 },
    );
    assert.equal(await page.evaluate('document.getElementById("player-video").error'), null);
    await page.click('#player-close');
    assert.equal(await page.isVisible('#player'), false);

    // Delete: dismissing the confirmation keeps the file.
    const first = (await cards(page))[0] as string;
    page.once('dialog', (d) => void d.dismiss());
    await page.click('#recording-list li:first-child button:has-text("Delete")');
    await page.waitForFunction('true');
    assert.ok(existsSync(join(dir, first)), 'dismissed: still there');
    // Accepting deletes it, and the list follows.
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.accept();
    });
    await page.click('#recording-list li:first-child button:has-text("Delete")');
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 2', undefined, {
      timeout: 10_000,
    });
    assert.match(asked[0] ?? '', /cannot be undone/);
    assert.equal(existsSync(join(dir, first)), false);
    assert.ok(!(await cards(page)).includes(first));
    assert.match((await page.textContent('#recordings-message')) ?? '', /^Deleted the recording from /);
    assert.equal(await page.evaluate('document.activeElement.id'), 'recordings-message', 'focus stays on the result');
  });

  it('shows a segment that appears, and drops one that goes, without a reload', async () => {
    const { api, dir, page } = await setup(2, 200);
    await page.goto(`${api.url}/#recordings`);
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 2', undefined, {
      timeout: 15_000,
    });
    // As the recorder's cut would: a new segment beside the others (the page is not told otherwise).
    copyFileSync(join(dir, 'log0001.mkv'), join(dir, 'log0003.mkv'));
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 3', undefined, {
      timeout: 15_000,
    });
    assert.ok((await cards(page)).includes('log0003.mkv'));
    rmSync(join(dir, 'log0001.mkv'));
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 2', undefined, {
      timeout: 15_000,
    });
    assert.ok(!(await cards(page)).includes('log0001.mkv'));
  });

  it('wipes all recordings after confirming', async () => {
    const { api, dir, page } = await setup(2);
    await page.goto(`${api.url}/#recordings`);
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 2', undefined, {
      timeout: 15_000,
    });
    page.once('dialog', (d) => void d.accept());
    await page.click('#wipe');
    await page.waitForFunction('document.querySelectorAll("#recording-list li").length === 0', undefined, {
      timeout: 10_000,
    });
    assert.equal(existsSync(join(dir, 'log0001.mkv')), false);
    assert.match((await page.textContent('#recordings-message')) ?? '', /No recordings|deleted/);
  });

  it('shows the device status and saves a setting', async () => {
    const { api, page } = await setup(1);
    await page.goto(`${api.url}/#status`);
    await page.waitForFunction('document.querySelectorAll("#status-list dt").length >= 6', undefined, {
      timeout: 15_000,
    });
    const status = (await page.textContent('#status-list')) ?? '';
    for (const label of ['Mode', 'Battery', 'Charging', 'Temperature', 'Stream clients', 'Recording'])
      assert.ok(status.includes(label), `${label} in ${status}`);
    await page.waitForSelector('#setting-video-fps', { timeout: 10_000 });
    assert.equal(await page.inputValue('#setting-video-fps'), '30');
    await page.fill('#setting-segmentMs', '30');
    await page.click('#settings-form button[type="submit"]');
    await page.waitForFunction('/Saved/.test(document.getElementById("settings-message").textContent)', undefined, {
      timeout: 10_000,
    });
    assert.equal(api.config().segmentMs, 30_000);
    assert.deepEqual(api.applied.at(-1)?.changed, ['segmentMs']);
    await page.evaluate('window.scrollTo(0, 0)');
    assert.ok((await page.screenshot({ path: screenshotPath('status.png') })).length > 10_000);
  });
});
