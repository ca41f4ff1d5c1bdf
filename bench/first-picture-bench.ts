/**
 * Where the live page's first picture time goes, in headless Chromium against
 * a real `rearview serve` child (720p 8 Mbit/s Constrained Baseline file
 * played in real time, or `--source` as given), on each path Chromium plays.
 *
 * For `--loads` fresh page loads per path, every phase is stamped on the
 * page's own clock (ms since navigation start), by the navigation and
 * resource timing entries and by an init script that wraps RTCPeerConnection
 * and WebSocket (the page's code is not changed for the bench):
 *   - html: the page's HTML received (responseEnd);
 *   - script: app.js received; dom: DOMContentLoaded;
 *   - WebRTC: pc (peer connection made), offer (local description set),
 *     gathered (ICE gathering complete; the page no longer waits for it),
 *     whep (the WHEP POST answered, its resource timing), ice (ICE connected),
 *     dtls (connectionState connected), track (the track event);
 *   - WebCodecs, MSE: ws (WebSocket open), firstMessage (first binary frame);
 *   - picture: the page's own first-picture figure (`__rearview.firstPictureMs`).
 * Prints the median of each phase and of the step before it.
 *
 * `--ab`: WebRTC only, the page as it is against the page as it was (the WHEP
 * POST held until ICE gathering completed), loads alternating in one run.
 *
 * Run: npm run build && node dist/bench/first-picture-bench.js [--loads 5] [--paths webrtc,webcodecs,mse] [--ab]
 * Goal (issue 15): first picture < 300 ms.
 */
import { loadavg } from 'node:os';
import type { Browser } from 'playwright-core';
import { startServe } from '../test/support/daemon.js';
import { ensureWebBuilt, launchChromium } from '../test/web/web-fixture.js';
import { percentile } from './percentile.js';
import { make720p } from './stream-720p.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

const LOADS = Number(arg('loads', '5'));
const PATHS = arg('paths', 'webrtc,webcodecs,mse').split(',');

/** Stamps phases into window.__phases (ms since navigation start) without touching the page's code. */
const INIT_SCRIPT = `(() => {
  const phases = (window.__phases = {});
  const stamp = (name) => { if (phases[name] === undefined) phases[name] = performance.now(); };
  const PC = window.RTCPeerConnection;
  if (PC) {
    window.RTCPeerConnection = function (...args) {
      const pc = new PC(...args);
      stamp('pc');
      window.__lastPc = pc;
      const setLocal = pc.setLocalDescription.bind(pc);
      pc.setLocalDescription = async (...a) => { const r = await setLocal(...a); stamp('offer'); return r; };
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') stamp('gathered'); });
      pc.addEventListener('iceconnectionstatechange', () => {
        if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') stamp('ice');
      });
      pc.addEventListener('connectionstatechange', () => { if (pc.connectionState === 'connected') stamp('dtls'); });
      pc.addEventListener('track', () => stamp('track'));
      return pc;
    };
    window.RTCPeerConnection.prototype = PC.prototype;
  }
  // --ab: the page as it was, waiting for ICE gathering to complete (at most 2 s) before the WHEP POST.
  if (window.__waitGathering) {
    const fetch0 = window.fetch.bind(window);
    window.fetch = async (url, init) => {
      const pc = window.__lastPc;
      if (pc && String(url).includes('/whep') && init && init.method === 'POST' && pc.iceGatheringState !== 'complete') {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 2000);
          pc.addEventListener('icegatheringstatechange', () => {
            if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
          });
        });
        init = { ...init, body: pc.localDescription.sdp };
      }
      return fetch0(url, init);
    };
  }
  const WS = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new WS(...args);
    stamp('wsCreated');
    ws.addEventListener('open', () => stamp('ws'));
    ws.addEventListener('message', (e) => { if (typeof e.data !== 'string') stamp('firstMessage'); });
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();`;

const ORDER: Record<string, string[]> = {
  webrtc: ['html', 'script', 'dom', 'pc', 'offer', 'gathered', 'whep', 'ice', 'dtls', 'track', 'picture'],
  webcodecs: ['html', 'script', 'dom', 'wsCreated', 'ws', 'firstMessage', 'picture'],
  mse: ['html', 'script', 'dom', 'wsCreated', 'ws', 'firstMessage', 'picture'],
};

async function load(
  browser: Browser,
  base: string,
  path: string,
  waitGathering = false,
): Promise<Record<string, number>> {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 800 } });
  try {
    if (waitGathering) await context.addInitScript('window.__waitGathering = true;');
    await context.addInitScript(INIT_SCRIPT);
    const page = await context.newPage();
    await page.goto(`${base}/?path=${path}#live`);
    await page.waitForFunction('window.__rearview && window.__rearview.firstPictureMs !== undefined', undefined, {
      timeout: 30_000,
      polling: 20,
    });
    return (await page.evaluate(`(() => {
      const out = { ...window.__phases, picture: window.__rearview.firstPictureMs };
      const nav = performance.getEntriesByType('navigation')[0];
      if (nav) { out.html = nav.responseEnd; out.dom = nav.domContentLoadedEventEnd; }
      for (const r of performance.getEntriesByType('resource')) {
        if (/app\\.js/.test(r.name)) out.script = r.responseEnd;
        if (/\\/whep/.test(r.name) && out.whep === undefined) out.whep = r.responseEnd;
      }
      return out;
    })()`)) as Record<string, number>;
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  ensureWebBuilt();
  const source = arg('source', '') || `file:${make720p('baseline')}`;
  const serve = await startServe(
    ['--source', source, '--bind', '127.0.0.1', '--webrtc-max-viewers', '16', '--max-clients-per-address', '16'],
    { waitForApi: true },
  );
  const browser = await launchChromium();
  const base = `http://127.0.0.1:${serve.apiPort}`;
  console.log(
    `first-picture-bench: ${LOADS} loads per path, source ${source.startsWith('file:') ? 'a 720p file' : source}`,
  );
  try {
    if (process.argv.includes('--ab')) {
      // WebRTC as the page is, against the page as it was (waiting for ICE gathering), loads alternating.
      const now: number[] = [];
      const before: number[] = [];
      for (let i = 0; i < LOADS; i++) {
        now.push((await load(browser, base, 'webrtc')).picture ?? Number.NaN);
        before.push((await load(browser, base, 'webrtc', true)).picture ?? Number.NaN);
      }
      const med = (v: number[]): string => percentile(v.filter(Number.isFinite), 50).toFixed(0);
      console.log(
        `webrtc first picture, median of ${LOADS} alternating loads (load ${loadavg()[0]?.toFixed(1)}): ` +
          `offer at once ${med(now)} ms, after ICE gathering ${med(before)} ms`,
      );
      return;
    }
    for (const path of PATHS) {
      const runs: Record<string, number>[] = [];
      const loads: string[] = [];
      for (let i = 0; i < LOADS; i++) {
        runs.push(await load(browser, base, path));
        loads.push(loadavg()[0]?.toFixed(1) ?? '?');
      }
      console.log(`\n${path} (load ${loads.join(' ')}): phase, median ms since navigation start, median step`);
      let previous: string | undefined;
      for (const phase of ORDER[path] ?? []) {
        const at = runs.map((r) => r[phase]).filter((v): v is number => typeof v === 'number');
        if (at.length === 0) {
          console.log(`  ${phase.padEnd(13)} -`);
          continue;
        }
        const steps = previous
          ? runs
              .map((r) => (r[phase] ?? Number.NaN) - (r[previous as string] ?? Number.NaN))
              .filter((v) => Number.isFinite(v))
          : [];
        const step = steps.length > 0 ? `  +${percentile(steps, 50).toFixed(0)}` : '';
        console.log(
          `  ${phase.padEnd(13)} ${percentile(at, 50).toFixed(0).padStart(5)}${step}   (min ${Math.min(...at).toFixed(0)}, max ${Math.max(...at).toFixed(0)})`,
        );
        previous = phase;
      }
    }
  } finally {
    await browser.close();
    await serve.close();
  }
}

await main();
