/**
 * "Not recording" is never silent. A real `rearview serve` child whose
 * recordings folder cannot exist (its parent is a regular file: tests run as
 * root, so permissions would not stop it) streams but cannot record: the
 * status document carries `recording.error`, `rearview status` prints NOT
 * RECORDING, the page shows the red banner on every section, and the log
 * says it once. When the daemon stops under the page, the page says the
 * camera is offline, greys what it shows and disables Delete and Save.
 * With `--no-record` the same places say "recording off", not an alarm, and
 * never "recording". `/favicon.ico` answers with an icon.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { runCli } from '../cli/cli-run.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { ensureWebBuilt, launchChromium } from './web-fixture.js';

interface RecordingSection {
  active: boolean;
  state: string;
  reason: string | null;
  error: string | null;
  errorCode: string | null;
}

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

async function recordingOf(base: string): Promise<RecordingSection & { activity: string }> {
  const status = (await (await fetch(`${base}/api/v1/status`)).json()) as {
    recording: RecordingSection;
    activity: string;
  };
  return { ...status.recording, activity: status.activity };
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ bypassCSP: true, viewport: { width: 1100, height: 800 } });
  cleanups.push(() => page.close());
  return page;
}

const bannerText = `document.getElementById('recording-banner').textContent`;

describe('recording folder that cannot be written', () => {
  let serve: ServeProcess;
  let base: string;

  before(async () => {
    const scratch = scratchDir('rearview-alarm-');
    cleanups.push(scratch.cleanup);
    const notAFolder = join(scratch.dir, 'card');
    writeFileSync(notAFolder, 'a file where the card should be mounted\n');
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
        join(notAFolder, 'recordings'),
      ],
      { rawArgs: true, waitForApi: true },
    );
    cleanups.push(() => serve.close());
    base = `http://127.0.0.1:${serve.apiPort}`;
  });

  it('says NOT RECORDING in the status document, in `rearview status` and in the log', async () => {
    let rec = await recordingOf(base);
    await waitFor(async () => {
      rec = await recordingOf(base);
      return rec.error !== null;
    }, 'recording.error in /api/v1/status');
    assert.equal(rec.state, 'failed');
    assert.equal(rec.active, false);
    assert.equal(rec.errorCode, 'ENOTDIR');
    assert.match(rec.error ?? '', /recordings folder is not a folder/);
    const cli = await runCli(['status', '--camera', `127.0.0.1:${serve.apiPort}`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^recording +NOT RECORDING: the recordings folder is not a folder \(ENOTDIR\)/m);
    assert.match(
      cli.stdout,
      /^mode +simultaneous \(streaming, not recording/m,
      'the mode line does not claim recording',
    );
    await waitFor(() => serve.stderrLines.some((l) => l.includes('NOT RECORDING')), 'the NOT RECORDING log line');
  });

  it('shows the red banner on every section; the favicon answers', async () => {
    const page = await newPage();
    for (const section of ['live', 'recordings', 'status']) {
      await page.goto(`${base}/#${section}`);
      await page.waitForFunction(`${bannerText}.startsWith('NOT RECORDING: ')`, undefined, { timeout: 15_000 });
      assert.ok(await page.isVisible('#recording-banner'), `banner visible on #${section}`);
      assert.equal(await page.getAttribute('#recording-banner', 'data-level'), 'error');
    }
    const colour = await page.evaluate(`getComputedStyle(document.getElementById('recording-banner')).backgroundColor`);
    assert.equal(colour, 'rgb(176, 0, 32)', 'red');
    const icon = await fetch(`${base}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('content-type'), 'image/x-icon');
    const bytes = Buffer.from(await icon.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 6)], [0, 0, 1, 0, 1, 0], 'an ICO with one image');
  });

  it('when the camera stops answering: offline, stale values greyed, Delete and Save disabled, sentences', async () => {
    const page = await newPage();
    await page.goto(`${base}/#status`);
    await page.waitForFunction(
      `document.querySelectorAll('#status-list dd').length > 3 && document.querySelectorAll('#settings-fields input').length > 3`,
      undefined,
      { timeout: 15_000 },
    );
    assert.equal(await page.isDisabled('#settings-form button[type=submit]'), false);
    const logLines = serve.stderrLines.filter((l) => l.includes('NOT RECORDING')).length;
    assert.equal(logLines, 1, 'logged once per change, not once per retry');
    await serve.close();
    await page.waitForFunction(`document.body.dataset.offline === '1'`, undefined, { timeout: 15_000 });
    await page.waitForFunction(
      `/^Camera offline: last seen \\d+ s ago/.test(document.getElementById('offline-banner').textContent)`,
      undefined,
      { timeout: 15_000 },
    );
    assert.ok(await page.isVisible('#offline-banner'));
    assert.equal(await page.isDisabled('#settings-form button[type=submit]'), true, 'Save disabled');
    assert.equal(
      await page.evaluate(`getComputedStyle(document.getElementById('status-list')).filter`),
      'grayscale(1)',
      'stale values greyed',
    );
    assert.ok((await page.textContent('#status-list'))!.length > 0, 'the last values stay on screen');
    await page.goto(`${base}/#recordings`).catch(() => undefined); // the page cannot load any more: stay on the loaded app
    await page.evaluate(`location.hash = '#recordings'`);
    await page.waitForFunction(
      `document.getElementById('recordings-message').textContent.includes('the camera did not answer')`,
      undefined,
      { timeout: 10_000 },
    );
    assert.doesNotMatch((await page.textContent('#recordings-message'))!, /Failed to fetch/);
    assert.equal(await page.isDisabled('#wipe'), true, 'Delete all disabled');
  });
});

describe('--no-record', () => {
  it('says "recording off" (amber) in status, CLI and page, never "recording"', async () => {
    const serve = await startServe(['--source', 'sample', '--bind', '127.0.0.1'], { waitForApi: true });
    cleanups.push(() => serve.close());
    const base = `http://127.0.0.1:${serve.apiPort}`;
    const rec = await recordingOf(base);
    assert.equal(rec.state, 'off');
    assert.equal(rec.error, null);
    assert.equal(rec.active, false);
    assert.match(rec.reason ?? '', /--no-record/);
    const cli = await runCli(['status', '--camera', `127.0.0.1:${serve.apiPort}`]);
    assert.match(cli.stdout, /^recording +off: recording is off \(--no-record\)/m);
    assert.doesNotMatch(cli.stdout, /NOT RECORDING|streaming and recording/);
    const page = await newPage();
    await page.goto(`${base}/#status`);
    await page.waitForFunction(`${bannerText}.startsWith('Recording off: ')`, undefined, { timeout: 15_000 });
    assert.equal(await page.getAttribute('#recording-banner', 'data-level'), 'off');
    await page.waitForFunction(
      `document.getElementById('status-list').textContent.includes('streaming, not recording')`,
      undefined,
      { timeout: 15_000 },
    );
    assert.doesNotMatch((await page.textContent('#status-list'))!, /streaming and recording/);
    await serve.close();
  });
});
