/**
 * Web live-view latency benchmark, in headless Chromium on this machine.
 *
 * For the sample stream (640x360, 1 Mbps) and for 720p at 8 Mbps (made here
 * with ffmpeg into the OS temp folder), played in real time into a
 * StreamHub and served by the web mount's WebSocket:
 *   - capture-to-decoded latency p50/p95/p99 with WebCodecs (decoder
 *     output callback entry, and after drawing the canvas in it) and with
 *     the MSE fallback (frames presented by the video element, from
 *     requestVideoFrameCallback), plus capture-to-received for both;
 *   - page load to first picture (navigation start to first drawn frame,
 *     median of several loads);
 *   - the peer in the same run: FFmpeg decoding the same hub's raw TCP
 *     stream with its low-latency flags (`-fflags nobuffer -flags low_delay
 *     -probesize 32 -analyzeduration 0`), capture to decoded frame (its
 *     showinfo line, matched by the capture-time SEI); printed as a ratio
 *     against WebCodecs.
 * Capture time = when the feeder hands the frame to the hub (Date.now()),
 * so every figure includes hub, socket and decoder. Browser and server run
 * on the same clock here, so the raw (uncorrected) figures are reported.
 *
 * Run: node dist/bench/web-latency-bench.js [--seconds 60] [--loads 5] [--only sample|720p]
 * Goals (issue 6): WebCodecs p95 < 20 ms at 720p, first picture < 500 ms.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Browser } from 'playwright-core';
import type { AccessUnit } from '../src/h264/access-unit.js';
import { buildCaptureTimeSei } from '../src/h264/capture-time-sei.js';
import { TcpStreamServer } from '../src/outputs/tcp-stream-server.js';
import { accessUnitsOf, samplePath } from '../test/hub/access-units.js';
import { launchChromium, RealtimeFeeder, startLiveServer } from '../test/web/web-fixture.js';
import { requireTool } from '../test/support/tools.js';
import { percentile } from './percentile.js';
import { make720p } from './stream-720p.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

const SECONDS = Number(arg('seconds', '60'));
const LOADS = Number(arg('loads', '5'));
const ONLY = arg('only', '');

interface Case {
  name: string;
  aus: AccessUnit[];
  width: number;
  height: number;
}

interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
}

function summarise(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
}

const fmt = (s: Summary): string =>
  `p50 ${s.p50.toFixed(1)} ms  p95 ${s.p95.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  (n=${s.n})`;

/** Streams `c` for SECONDS into a page using `path`; returns latency samples and first-picture times. */
async function runBrowser(
  browser: Browser,
  c: Case,
  path: 'webcodecs' | 'mse',
): Promise<{ latency: Summary; decoded: Summary; received: Summary; firstPicture: Summary; drops: number }> {
  const live = await startLiveServer(undefined, {}, { captureTimeSei: buildCaptureTimeSei });
  const feeder = new RealtimeFeeder(live.hub, c.aus).start();
  try {
    // First picture: fresh pages, the hub already running (as when a rider opens the page).
    const firsts: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await browser.newPage({ bypassCSP: true });
      await page.goto(`${live.url}?path=${path}`);
      await page.waitForFunction('window.__rearview && window.__rearview.firstPictureMs !== undefined', undefined, {
        timeout: 20_000,
        polling: 10,
      });
      firsts.push((await page.evaluate('__rearview.firstPictureMs')) as number);
      await page.close();
    }
    const page = await browser.newPage({ bypassCSP: true });
    await page.goto(`${live.url}?path=${path}`);
    await page.waitForFunction('window.__rearview && window.__rearview.framesShown > 0', undefined, {
      timeout: 20_000,
    });
    // Skip the join burst (the cached GOP is old by design), then measure.
    await page.waitForTimeout(1500);
    const skip = (await page.evaluate('__rearview.latenciesRaw.length')) as number;
    const skipReceived = (await page.evaluate('__rearview.receiveLatenciesRaw.length')) as number;
    const skipDecoded = (await page.evaluate('__rearview.decodedLatenciesRaw.length')) as number;
    await page.waitForTimeout(SECONDS * 1000);
    const samples = (await page.evaluate(`__rearview.latenciesRaw.slice(${skip})`)) as number[];
    const received = (await page.evaluate(`__rearview.receiveLatenciesRaw.slice(${skipReceived})`)) as number[];
    const decoded = (await page.evaluate(`__rearview.decodedLatenciesRaw.slice(${skipDecoded})`)) as number[];
    const drops = (await page.evaluate('__rearview.stats ? __rearview.stats.drops : 0')) as number;
    await page.close();
    return {
      latency: summarise(samples),
      decoded: summarise(decoded),
      received: summarise(received),
      firstPicture: summarise(firsts),
      drops,
    };
  } finally {
    feeder.close();
    await live.close();
  }
}

/**
 * FFmpeg reading the same hub over raw TCP. Each frame carries the hub's
 * capture-time SEI; FFmpeg's showinfo filter prints it (UUID + microseconds)
 * as soon as the frame is decoded, so frames are matched by identity, not by
 * counting (FFmpeg skips the first GOP while it probes the stream).
 */
async function runFfmpeg(c: Case): Promise<Summary> {
  const live = await startLiveServer(undefined, {}, { captureTimeSei: buildCaptureTimeSei });
  const tcp = new TcpStreamServer({ hub: live.hub, host: '127.0.0.1', port: 0 });
  const { port } = await tcp.start();
  const ffmpeg = spawn(
    requireTool('ffmpeg'),
    [
      '-hide_banner',
      '-loglevel',
      'info',
      '-nostats',
      '-fflags',
      'nobuffer',
      '-flags',
      'low_delay',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'h264',
      '-i',
      `tcp://127.0.0.1:${port}`,
      '-vf',
      'showinfo',
      '-f',
      'null',
      '-',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const samples: number[] = [];
  let measureFromMs = Infinity;
  let buffered = '';
  ffmpeg.stderr.on('data', (chunk: Buffer) => {
    const now = Date.now();
    buffered += chunk.toString('latin1');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const m = / User Data=([0-9a-f]{16})/.exec(line);
      if (!m) continue;
      const capturedAtMs = Number(BigInt(`0x${m[1]}`)) / 1000;
      if (capturedAtMs >= measureFromMs) samples.push(now - capturedAtMs);
    }
  });
  const deadline = Date.now() + 10_000;
  while (tcp.clientCount === 0) {
    if (Date.now() > deadline) throw new Error('ffmpeg did not connect');
    await new Promise((r) => setTimeout(r, 5));
  }
  const feeder = new RealtimeFeeder(live.hub, c.aus).start();
  measureFromMs = Date.now() + 1500; // as the browser runs: skip the start
  await new Promise((r) => setTimeout(r, (SECONDS + 1.5) * 1000));
  feeder.close();
  ffmpeg.kill('SIGKILL');
  await tcp.close();
  await live.close();
  return summarise(samples);
}

async function main(): Promise<void> {
  const cases: Case[] = [];
  if (ONLY !== '720p')
    cases.push({
      name: 'sample 640x360 1 Mbps',
      aus: accessUnitsOf(readFileSync(samplePath)),
      width: 640,
      height: 360,
    });
  if (ONLY !== 'sample')
    cases.push({ name: '720p 8 Mbps', aus: accessUnitsOf(readFileSync(make720p())), width: 1280, height: 720 });
  console.log(
    `web-latency-bench: ${SECONDS} s per run, ${LOADS} page loads for first picture, Chromium ${requireTool('chromium')}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const browser = await launchChromium();
  try {
    for (const c of cases) {
      console.log(`\n== ${c.name}`);
      const wc = await runBrowser(browser, c, 'webcodecs');
      console.log(`WebCodecs  capture->decoded  ${fmt(wc.decoded)}  (decoder output, before drawing)`);
      console.log(`           capture->drawn    ${fmt(wc.latency)}  drops ${wc.drops}`);
      console.log(`           capture->received ${fmt(wc.received)}  (server + WebSocket + page event loop)`);
      console.log(
        `WebCodecs  first picture     p50 ${wc.firstPicture.p50.toFixed(0)} ms  max ${Math.max(wc.firstPicture.p99, wc.firstPicture.p95).toFixed(0)} ms (n=${wc.firstPicture.n})`,
      );
      const mse = await runBrowser(browser, c, 'mse');
      console.log(`MSE        capture->shown    ${fmt(mse.latency)}  drops ${mse.drops}`);
      console.log(`           capture->received ${fmt(mse.received)}`);
      console.log(
        `MSE        first picture     p50 ${mse.firstPicture.p50.toFixed(0)} ms  max ${mse.firstPicture.p99.toFixed(0)} ms (n=${mse.firstPicture.n})`,
      );
      const ff = await runFfmpeg(c);
      console.log(`FFmpeg tcp capture->decoded  ${fmt(ff)}`);
      console.log(
        `ratio WebCodecs decoded/FFmpeg decoded: p50 ${(wc.decoded.p50 / ff.p50).toFixed(2)}  p95 ${(wc.decoded.p95 / ff.p95).toFixed(2)}; MSE shown/WebCodecs drawn p50 ${(mse.latency.p50 / wc.latency.p50).toFixed(1)}`,
      );
    }
  } finally {
    await browser.close();
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (2 cores shared with everything else running)`,
  );
}

await main();
