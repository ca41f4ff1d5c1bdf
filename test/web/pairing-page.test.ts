/**
 * Pairing in the web page, in headless Chromium against a real `rearview
 * serve` with an API token: an unpaired page shows only the Pair form; the
 * token typed once gives an HttpOnly, SameSite=Strict cookie and the live
 * view plays; the paired page's QR code (its modules read back) holds the
 * camera address with the token in the fragment; a second browser opening
 * that address is paired and the token leaves its address bar; unpair
 * removes the cookie.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { encode } from 'uqr';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { ensureWebBuilt, launchChromium } from './web-fixture.js';

const TOKEN = '5f1d2c3b4a596877-pairing-test';
const cleanups: (() => unknown)[] = [];
let browser: Browser;
let serve: ServeProcess;
let base: string;
const scratch = scratchDir('rearview-pairing-page-');

before(async () => {
  ensureWebBuilt();
  cleanups.push(scratch.cleanup);
  serve = await startServe(['--bind', '127.0.0.1'], {
    waitForApi: true,
    env: { ...process.env, REARVIEW_API_TOKEN: TOKEN },
  });
  cleanups.push(() => serve.close());
  base = `http://127.0.0.1:${serve.apiPort}`;
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  // bypassCSP: the page's CSP (script-src 'self') forbids the string predicates of waitForFunction.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1000, height: 800 } });
  cleanups.push(() => context.close());
  return { context, page: await context.newPage() };
}

const framesShown = (page: Page, n: number): Promise<unknown> =>
  page.waitForFunction(`window.__rearview && window.__rearview.framesShown >= ${n}`, undefined, {
    timeout: 30_000,
    polling: 50,
  });

describe('pairing in the web page', () => {
  let qrUrl: string | undefined;

  it('shows only the Pair form until the token is typed, then plays with an HttpOnly SameSite=Strict cookie', async () => {
    const { context, page } = await newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('#pair-form:not([hidden])');
    assert.equal(await page.isHidden('#live'), true, 'the live view waits for pairing');
    await page.fill('#pair-token', 'wrong-token');
    await page.click('#pair-form button[type=submit]');
    await page.waitForFunction(`/Not paired/.test(document.getElementById('pair-message').textContent)`);
    await page.fill('#pair-token', TOKEN);
    await page.click('#pair-form button[type=submit]');
    await framesShown(page, 5);
    const cookies = await context.cookies();
    assert.equal(cookies.length, 1);
    assert.deepEqual(
      {
        name: cookies[0]?.name,
        value: cookies[0]?.value,
        httpOnly: cookies[0]?.httpOnly,
        sameSite: cookies[0]?.sameSite,
        secure: cookies[0]?.secure,
      },
      { name: 'rearview_token', value: TOKEN, httpOnly: true, sameSite: 'Strict', secure: false },
    );
    assert.equal(await page.evaluate('document.cookie'), '', 'page scripts cannot read the token');
    assert.ok(!page.url().includes(TOKEN));

    await page.click('#nav-pair');
    await page.waitForSelector('#pair-paired:not([hidden])');
    // The drawn modules, read back from the canvas, are exactly the QR code of the camera
    // address with the token in the fragment (Debian's OpenCV has no QR decoder to read it).
    qrUrl = `${base}/#pair=${TOKEN}`;
    const expected = encode(qrUrl, { ecc: 'M', border: 4 }).data;
    const drawn = (await page.evaluate(`(() => {
      const c = document.getElementById('pair-qr');
      const n = ${expected.length}, px = c.width / n, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const rows = [];
      for (let y = 0; y < n; y++) { const row = []; for (let x = 0; x < n; x++) { const i = (Math.floor((y + 0.5) * px) * c.width + Math.floor((x + 0.5) * px)) * 4; row.push(d[i] < 128); } rows.push(row); }
      return rows;
    })()`)) as boolean[][];
    assert.deepEqual(drawn, expected);

    await page.click('#pair-forget');
    await page.waitForSelector('#pair-form:not([hidden])');
    assert.deepEqual(await context.cookies(), []);
  });

  it('pairs a second browser that opens the QR code address, and takes the token out of its address bar', async () => {
    const { context, page } = await newPage();
    await page.goto(qrUrl ?? `${base}/#pair=${TOKEN}`);
    await framesShown(page, 5);
    assert.equal(page.url(), `${base}/#live`);
    assert.equal((await context.cookies())[0]?.value, TOKEN);
  });
});
