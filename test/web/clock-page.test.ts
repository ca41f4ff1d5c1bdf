/**
 * The page gives a camera whose clock is not set the time of the device it
 * runs on (headless Chromium against a real daemon with no real-time clock
 * and no network time), and says "Camera clock not set" while it is not,
 * with the reason when the camera refuses this page's time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { CameraClock } from '../../src/util/camera-clock.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';
import { ensureWebBuilt, launchChromium } from './web-fixture.js';

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

/** A daemon on the system clock whose time cannot be believed: no real-time clock, no network time. */
async function unsetDaemon(overrides: Record<string, unknown> = {}): Promise<{ d: InProcessDaemon; base: string }> {
  const cameraClock = new CameraClock({ probe: async () => ({ ntpSynchronized: false, hasRtc: false }) });
  const d = await startDaemonInProcess({ source: 'sample', ...overrides }, { cameraClock });
  cleanups.push(() => d.close());
  assert.equal(cameraClock.isSet, false);
  return { d, base: `http://127.0.0.1:${d.daemon.apiAddress?.port}` };
}

const banner = `document.getElementById('clock-banner')`;

describe('the page and the camera clock', () => {
  it('sets the clock from the browser and shows where the time came from', async () => {
    const { d, base } = await unsetDaemon();
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(`${base}/#status`);
    await waitFor(() => d.daemon.cameraClock.isSet, 'the page to set the clock', 20_000);
    assert.equal(d.daemon.cameraClock.state.source, 'client');
    assert.ok(Math.abs(d.daemon.cameraClock.wallNow() - Date.now()) < 5000, 'the browser time');
    await page.waitForFunction(`${banner}.hidden`, undefined, { timeout: 20_000, polling: 100 });
    await page.waitForFunction(`document.body.textContent.includes('from a phone or computer')`, undefined, {
      timeout: 20_000,
      polling: 100,
    });
  });

  it('says why when the camera refuses the time (not a trusted network, no token)', async () => {
    const { d, base } = await unsetDaemon({ trustedNetworks: ['10.99.0.0/16'] });
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(`${base}/`);
    await page.waitForFunction(
      `!${banner}.hidden && ${banner}.textContent.includes('could not give it the time')`,
      undefined,
      {
        timeout: 20_000,
        polling: 100,
      },
    );
    const text = (await page.evaluate(`${banner}.textContent`)) as string;
    assert.match(text, /^Camera clock not set: this page could not give it the time \(.*trusted network/);
    assert.equal(d.daemon.cameraClock.isSet, false);
  });
});
