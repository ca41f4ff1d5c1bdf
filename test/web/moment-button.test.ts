/**
 * The live page's "Keep this moment" button on a real `rearview serve`
 * (sample source, recording 2 s segments), in headless Chromium: a click
 * marks a moment (source "page") and the note under the picture says what
 * was kept; a second click at once says why not, in the camera's words.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { MomentsListDocument } from '../../src/api/wire-types.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { ensureWebBuilt, launchChromium } from './web-fixture.js';

const cleanups: (() => unknown)[] = [];
let browser: Browser;
let serve: ServeProcess;
let base: string;

before(async () => {
  ensureWebBuilt();
  const scratch = scratchDir('rearview-moment-button-');
  cleanups.push(scratch.cleanup);
  serve = await startServe(
    [
      ...['--source', 'sample', '--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1', '--no-mdns'],
      ...['--recordings', join(scratch.dir, 'recordings'), '--segment', '2s', '--device-backend', 'simulated'],
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

describe('the live page keeps a moment', () => {
  it('a click marks one; a second click at once is refused with the reason', async () => {
    const page = await browser.newPage({ bypassCSP: true, viewport: { width: 1280, height: 860 } });
    cleanups.push(() => page.close());
    await page.goto(`${base}/`);
    const button = page.locator('#mark-moment');
    await button.waitFor({ state: 'visible' });
    await page.waitForFunction('!document.getElementById("mark-moment").disabled', undefined, { timeout: 20_000 });
    await button.click();
    await page.waitForFunction('document.getElementById("moment-note").textContent.startsWith("Kept:")', undefined, {
      timeout: 20_000,
      polling: 50,
    });
    const list = (await (await fetch(`${base}/api/v1/moments`)).json()) as MomentsListDocument;
    assert.equal(list.moments.length, 1);
    assert.equal(list.moments[0]?.source, 'page');
    await button.click();
    await page.waitForFunction(
      'document.getElementById("moment-note").textContent.startsWith("Not kept:")',
      undefined,
      { timeout: 20_000, polling: 50 },
    );
    assert.match(String(await page.textContent('#moment-note')), /one mark per 5 s/);
  });
});
