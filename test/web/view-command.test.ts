/**
 * `rearview view` end to end: a real `rearview serve` child (sample source,
 * port 0), a real `rearview view tcp://127.0.0.1:PORT --no-open` child
 * bridging its port-5000 stream, and headless Chromium loading the printed
 * URL: the page decodes the camera's frames with WebCodecs (localhost is a
 * secure context), shows the sample's colours and a latency figure, and
 * hides the gallery and status tabs (viewer only). Plus the pure helpers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ffplayArgs, openBrowser } from '../../src/cli/view-command.js';
import { startServe } from '../support/daemon.js';
import { cliPath } from '../support/paths.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { TcpStreamServer } from '../../src/outputs/tcp-stream-server.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { waitFor } from '../support/wait.js';
import { requireTool } from '../support/tools.js';
import { launchChromium, RealtimeFeeder } from './web-fixture.js';

const cleanups: (() => unknown)[] = [];
let browser: Browser;
before(async () => {
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A TCP port that was free a moment ago (for a peer that cannot bind port 0 and report it). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts `rearview view ARGS` and resolves with the URL it prints. */
async function startView(
  args: string[],
): Promise<{ url: string; exited: Promise<number | null>; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [cliPath, 'view', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => output.push(l));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no URL from rearview view within 20 s:\n${output.join('\n')}`)),
      20_000,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line);
      const m = /^viewer on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`rearview view exited (${code}):\n${output.join('\n')}`));
    });
  });
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  cleanups.push(stop);
  return { url, exited, stop };
}

describe('rearview view', () => {
  it('shows a real rearview serve stream in the browser with WebCodecs', async () => {
    const serve = await startServe(['--source', 'sample']);
    cleanups.push(() => serve.close());
    const view = await startView([`tcp://127.0.0.1:${serve.streamPort}`, '--no-open', '--log-level', 'warn']);
    assert.match(view.url, /^http:\/\/localhost:\d+\/$/);
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(view.url);
    await page.waitForFunction('window.__rearview && window.__rearview.framesShown >= 30', undefined, {
      timeout: 30_000,
      polling: 50,
    });
    assert.equal(await page.evaluate('__rearview.path'), 'webcodecs');
    assert.equal(await page.evaluate('window.isSecureContext'), true);
    const latencies = (await page.evaluate('__rearview.latencies.slice(-30)')) as number[];
    assert.ok(latencies.length === 30 && latencies.every((l) => Number.isFinite(l)), 'a latency figure per picture');
    const top = (await page.evaluate(`(() => {
      const c = document.getElementById('live-canvas');
      const d = c.getContext('2d').getImageData(0, 10, c.width, 20).data;
      let r = 0, g = 0, b = 0;
      for (let i = 0; i < d.length; i += 4) { r += d[i]; g += d[i + 1]; b += d[i + 2]; }
      const n = d.length / 4;
      return [r / n, g / n, b / n];
    })()`)) as number[];
    assert.ok(top[2]! > top[0]! + 40, `sky blue at the top, got ${top.map(Math.round)}`);
    assert.equal(await page.isVisible('#nav-recordings'), false, 'viewer only: no gallery');
    assert.equal(await view.stop(), 0, 'exits cleanly on SIGTERM');
  });

  it("shows another camera's stream (FFmpeg serving raw H.264 over TCP, no AUDs, no capture stamps)", async () => {
    const port = await freePort();
    // Like rpicam-vid --listen: one TCP client, raw Annex-B paced at 30 fps.
    const camera = spawn(
      requireTool('ffmpeg'),
      [
        '-v',
        'error',
        '-re',
        '-framerate',
        '30',
        '-stream_loop',
        '-1',
        '-f',
        'h264',
        '-i',
        samplePath,
        '-c',
        'copy',
        '-f',
        'h264',
        `tcp://127.0.0.1:${port}?listen=1`,
      ],
      { stdio: 'ignore' },
    );
    cleanups.push(() => {
      camera.kill('SIGKILL');
    });
    const view = await startView([`tcp://127.0.0.1:${port}`, '--no-open', '--log-level', 'warn']);
    const page = await browser.newPage({ bypassCSP: true });
    cleanups.push(() => page.close());
    await page.goto(view.url);
    await page.waitForFunction('window.__rearview && window.__rearview.framesShown >= 30', undefined, {
      timeout: 30_000,
      polling: 50,
    });
    assert.equal(await page.evaluate('__rearview.path'), 'webcodecs');
    assert.equal(await page.evaluate('__rearview.config.width'), 640);
    assert.equal(await view.stop(), 0);
  });

  it('refuses a malformed source with the usage exit code', async () => {
    const child = spawn(process.execPath, [cliPath, 'view', 'bogus://x', '--no-open'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /source/);
  });

  it('--player ffplay plays the stream with ffplay and stops cleanly', async () => {
    requireTool('ffmpeg'); // ffplay comes in the same Debian package; a missing one fails below
    const hub = new StreamHub();
    const tcp = new TcpStreamServer({ hub, host: '127.0.0.1', port: 0 });
    const { port } = await tcp.start();
    const feeder = new RealtimeFeeder(hub, accessUnitsOfFile(samplePath)).start();
    cleanups.push(
      () => hub.close(),
      () => tcp.close(),
      () => feeder.close(),
    );
    // SDL's dummy drivers: ffplay decodes and "shows" without a display.
    const child = spawn(process.execPath, [cliPath, 'view', '--player', 'ffplay', `tcp://127.0.0.1:${port}`], {
      env: { ...process.env, SDL_VIDEODRIVER: 'dummy', SDL_AUDIODRIVER: 'dummy' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    await waitFor(() => (tcp.stats().clients[0]?.framesSent ?? 0) >= 30, 'ffplay reading 30 frames', 20_000);
    assert.match(out, /^ffplay .*-fflags nobuffer -flags low_delay -framedrop/m);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('builds the ffplay low-latency command line', () => {
    const args = ffplayArgs('tcp://cam:5000', 30);
    for (const flag of ['nobuffer', 'low_delay', '-framedrop', '-probesize', '-analyzeduration'])
      assert.ok(args.includes(flag), flag);
    assert.deepEqual(args.slice(args.indexOf('-f'), args.indexOf('-f') + 4), ['-f', 'h264', '-framerate', '30']);
    assert.equal(args.at(-1), 'tcp://cam:5000');
  });

  it('does not try to open a browser without a display', () => {
    assert.equal(openBrowser('http://localhost:1/', {}, 'linux'), false);
  });
});
