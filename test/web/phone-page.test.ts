/**
 * The page on a phone, in real headless Chromium (a touch viewport of
 * 390x844 and 844x390 CSS px) against a real `rearview serve` child that
 * records 2-second segments (so the gallery has cards): on every section
 * the camera's name is in the header, nothing scrolls sideways and every
 * control is at least 44x44 CSS px; the live picture fills the width in
 * portrait and fits the screen in landscape (the bottom, the road, on
 * screen); the figures overlay is off by default and the developer notes
 * sit closed in a <details>.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { ensureWebBuilt, launchChromium, screenshotPath } from './web-fixture.js';

const CAMERA_NAME = 'annas-bike';
const cleanups: (() => unknown)[] = [];
let browser: Browser;
let serve: ServeProcess;
let base: string;

before(async () => {
  ensureWebBuilt();
  const scratch = scratchDir('rearview-phone-page-');
  cleanups.push(scratch.cleanup);
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
      '--name',
      CAMERA_NAME,
      '--recordings',
      join(scratch.dir, 'recordings'),
      '--segment',
      '2s',
    ],
    { rawArgs: true, waitForApi: true },
  );
  cleanups.push(() => serve.close());
  base = `http://127.0.0.1:${serve.apiPort}`;
  // A finished segment, so the gallery shows a card with its buttons.
  await waitFor(
    async () => {
      // Finished: the card of the segment being recorded has no buttons, and the page lists once, on load.
      const list = (await (await fetch(`${base}/api/v1/recordings`)).json()) as {
        recordings: { inProgress: boolean }[];
      };
      return list.recordings.some((r) => !r.inProgress);
    },
    'a finished recording',
    30_000,
    200,
  );
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Box {
  what: string;
  width: number;
  height: number;
}

/** Every visible control's tap target: links, buttons, fields, summaries; a checkbox counts with its label. */
async function tapTargets(page: Page): Promise<Box[]> {
  return page.evaluate(() => {
    const out: { what: string; width: number; height: number }[] = [];
    for (const el of Array.from(document.querySelectorAll('a, button, input, select, textarea, summary'))) {
      // The skip link is off screen until focused.
      if (el.classList.contains('skip')) continue;
      const target = (el as HTMLInputElement).type === 'checkbox' ? (el.closest('label') ?? el) : el;
      const r = target.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // not displayed (hidden section, closed dialog)
      const name = el.id || el.textContent?.trim().slice(0, 24) || el.tagName;
      out.push({ what: `${el.tagName.toLowerCase()} ${name}`, width: r.width, height: r.height });
    }
    return out;
  });
}

async function pageWidths(page: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
}

async function openAt(width: number, height: number, hash: string, phone = true): Promise<Page> {
  const context = await browser.newContext({
    bypassCSP: true,
    viewport: { width, height },
    isMobile: phone,
    hasTouch: phone,
    deviceScaleFactor: phone ? 2 : 1,
  });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/${hash}`);
  return page;
}

for (const [width, height, orientation] of [
  [390, 844, 'portrait'],
  [844, 390, 'landscape'],
] as const) {
  describe(`the page on a phone in ${orientation} (${width}x${height})`, () => {
    for (const section of ['live', 'recordings', 'status', 'pair']) {
      it(`#${section}: the camera's name in the header, no sideways scroll, controls at least 44x44`, async () => {
        // A fresh load on this section: the name must come from the camera, not from an earlier live view.
        const page = await openAt(width, height, `#${section}`);
        await page.waitForFunction(
          `document.getElementById('camera-name').textContent === ${JSON.stringify(CAMERA_NAME)}`,
        );
        if (section === 'recordings') await page.waitForSelector('#recording-list .card button');
        if (section === 'status') await page.waitForSelector('#settings-fields input');
        if (section === 'live') await page.waitForFunction('(window.__rearview?.framesShown ?? 0) >= 10');
        assert.equal(await page.isVisible('#camera-name'), true);
        const widths = await pageWidths(page);
        assert.ok(
          widths.scrollWidth <= widths.clientWidth,
          `scrollWidth ${widths.scrollWidth} > ${widths.clientWidth}`,
        );
        const targets = await tapTargets(page);
        assert.ok(targets.length >= 4, 'the header tabs at least');
        const small = targets.filter((t) => t.width < 44 - 0.01 || t.height < 44 - 0.01);
        assert.deepEqual(
          small.map((t) => `${t.what} ${t.width.toFixed(1)}x${t.height.toFixed(1)}`),
          [],
          'controls under 44x44 CSS px',
        );
        await page.close();
      });
    }

    it('live: the whole picture on screen, figures off, developer notes closed', async () => {
      const page = await openAt(width, height, '#live');
      await page.waitForFunction('(window.__rearview?.framesShown ?? 0) >= 10');
      // After the first status: any banner it brings is in place above the picture.
      await page.waitForFunction(
        `document.getElementById('camera-name').textContent === ${JSON.stringify(CAMERA_NAME)}`,
      );
      const rect = (await page.evaluate(() => {
        const r = (document.getElementById('live-canvas') as HTMLCanvasElement).getBoundingClientRect();
        return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
      })) as { left: number; top: number; right: number; bottom: number; width: number; height: number };
      if (orientation === 'portrait') {
        assert.ok(Math.abs(rect.width - width) <= 1, `picture ${rect.width} px wide in a ${width} px window`);
        assert.ok(rect.left >= -0.5 && rect.right <= width + 0.5, `picture from ${rect.left} to ${rect.right}`);
      } else {
        // Fits the screen: all of it visible without scrolling, bottom included.
        assert.ok(rect.top >= 0 && rect.bottom <= height, `picture from y=${rect.top} to ${rect.bottom} in ${height}`);
        assert.ok(rect.left >= 0 && rect.right <= width, `picture from x=${rect.left} to ${rect.right} in ${width}`);
        assert.ok(rect.height >= height * 0.6, `the picture uses the height: ${rect.height} of ${height}`);
      }
      assert.ok(Math.abs(rect.width / rect.height - 16 / 9) < 0.02, 'the 16:9 picture is not distorted');
      assert.equal(await page.isVisible('#overlay'), false, 'figures off by default on a phone');
      assert.equal(await page.isChecked('#show-overlay'), false);
      await page.click('label:has(#show-overlay)');
      assert.equal(await page.isVisible('#overlay'), true, 'one tap shows them');
      // Developer notes: closed in a <details>, open on a tap.
      assert.equal(await page.evaluate("document.getElementById('path-note').closest('details')?.open"), false);
      assert.equal(await page.isVisible('#path-note'), false);
      await page.click('#dev-notes summary');
      assert.equal(await page.isVisible('#path-note'), true);
      await page.click('label:has(#show-overlay)');
      await page.click('#dev-notes summary');
      assert.ok(
        (await page.screenshot({ path: screenshotPath(`live-phone-${orientation}.png`) })).length > 10_000,
        'a screenshot',
      );
      await page.close();
    });
  });
}

describe('the page on a wide screen', () => {
  it('keeps the figures on by default', async () => {
    const page = await openAt(1280, 800, '#live', false);
    await page.waitForFunction('(window.__rearview?.framesShown ?? 0) >= 5');
    assert.equal(await page.isVisible('#overlay'), true);
    await page.close();
  });
});
