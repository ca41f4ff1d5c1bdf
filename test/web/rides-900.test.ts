/**
 * The recordings page with a full ring: 900 real (copied) MKV segments in 15
 * rides of 60, served by the real ApiServer with the web mount, in headless
 * Chromium. The rides list is one closed row per ride with no segment element
 * built before a ride is opened; the gallery below shows its newest page of
 * cards, the rest behind "Show more"; thumbnails load only for cards that
 * exist. How long the page took is printed (not asserted: the machine is shared).
 */
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, renameSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { createWebMount } from '../../src/api/web-mount.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { CARDS_PER_PAGE } from '../../src/web/gallery.js';
import { makeRecordings, startTestApi, type TestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { ensureWebBuilt, launchChromium } from './web-fixture.js';

const RIDES = 15;
const PER_RIDE = 60;
const T0 = 1_780_000_000;

const cleanups: (() => unknown)[] = [];
let browser: Browser;
let api: TestApi;

before(async () => {
  ensureWebBuilt();
  const scratch = scratchDir('rearview-rides-900-');
  cleanups.push(scratch.cleanup);
  // One real 1 s segment (and its thumbnail), copied to the ring's 900 names. A ride's segments
  // follow each other (each ends a second after the previous one); rides are 9 minutes apart.
  makeRecordings(scratch.dir, 1);
  const thumb = readdirSync(scratch.dir).find((n) => n.endsWith('.jpg')) as string;
  renameSync(join(scratch.dir, 'log0001.mkv'), join(scratch.dir, 'seed.mkv.tmp'));
  for (let i = 0; i < RIDES * PER_RIDE; i++) {
    const name = `log${String(i).padStart(4, '0')}`;
    const end = T0 + Math.floor(i / PER_RIDE) * 600 + (i % PER_RIDE) + 1;
    copyFileSync(join(scratch.dir, 'seed.mkv.tmp'), join(scratch.dir, `${name}.mkv`));
    copyFileSync(join(scratch.dir, thumb), join(scratch.dir, `${name}_${end - 1}.jpg`));
    utimesSync(join(scratch.dir, `${name}.mkv`), end, end);
  }
  const hub = new StreamHub();
  const mount = createWebMount({ hub });
  api = await startTestApi(scratch.dir, { api: { web: mount } });
  cleanups.push(
    () => api.close(),
    () => mount.close(),
    () => hub.close(),
  );
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('the recordings page with 900 segments', () => {
  it('lists 15 closed ride rows and one page of cards, builds segments only for an opened ride', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    try {
      const thumbs = new Set<string>();
      page.on('request', (r) => {
        if (/\.jpg(\?|$)/.test(r.url())) thumbs.add(r.url());
      });
      const started = Date.now();
      await page.goto(`${api.url}/#recordings`);
      await page.waitForFunction(
        (n) =>
          document.querySelectorAll('#ride-list > li').length === n &&
          document.querySelectorAll('#recording-list > li').length > 0,
        RIDES,
      );
      const shownMs = Date.now() - started;
      const counts = await page.evaluate(() => ({
        rides: document.querySelectorAll('#ride-list > li').length,
        segmentItems: document.querySelectorAll('.rv-ride-segments li').length,
        cards: document.querySelectorAll('#recording-list > li').length,
        more: (document.getElementById('more-recordings') as HTMLButtonElement).hidden
          ? ''
          : (document.getElementById('more-recordings')?.textContent ?? ''),
        elements: document.querySelectorAll('#recordings *').length,
        label: document.getElementById('ride-list')?.getAttribute('aria-label'),
        firstRow: document.querySelector('#ride-list > li summary')?.textContent ?? '',
      }));
      t.diagnostic(
        `900 segments: ${counts.rides} ride rows and ${counts.cards} cards shown ${shownMs} ms after navigation, ` +
          `${counts.elements} elements in the section, ${thumbs.size} thumbnails requested`,
      );
      assert.equal(counts.rides, RIDES);
      assert.equal(counts.label, `${RIDES} rides`);
      assert.equal(counts.segmentItems, 0, 'no segment element before a ride is opened');
      assert.match(counts.firstRow, /1:00 · 60 segments/);
      assert.equal(counts.cards, CARDS_PER_PAGE);
      assert.equal(counts.more, `Show ${CARDS_PER_PAGE} more (${RIDES * PER_RIDE - CARDS_PER_PAGE} older not shown)`);
      assert.ok(counts.elements < 2000, `${counts.elements} elements for 900 segments`);
      assert.ok(thumbs.size <= CARDS_PER_PAGE, `${thumbs.size} thumbnails requested`);
      // Newest first: the first row is the last ride; opening it lists its 60 segments, newest ride's names.
      await page.click('#ride-list > li:first-child summary');
      const names = await page.$$eval('#ride-list > li:first-child .rv-ride-segments li a', (as) =>
        as.map((a) => a.textContent),
      );
      assert.equal(names.length, PER_RIDE);
      assert.equal(names[0], `log${String((RIDES - 1) * PER_RIDE).padStart(4, '0')}.mkv`);
      assert.equal(await page.locator('.rv-ride-segments li').count(), PER_RIDE, 'only the opened ride');
      await page.click('#more-recordings');
      assert.equal(await page.locator('#recording-list > li').count(), 2 * CARDS_PER_PAGE);
    } finally {
      await page.close();
    }
  });
});
