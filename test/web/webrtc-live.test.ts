/**
 * The WebRTC live view against a real `rearview serve` (in process, the
 * sample source in real time):
 * - WHEP by the book with a non-browser peer (node-datachannel as the
 *   viewer): 201 with Location and an SDP answer, RTP arriving, the viewer
 *   in /api/v1/status, DELETE ending it; refusals (wrong content type, a
 *   garbage offer, an offer without the stream's profile, too many viewers).
 * - Real headless Chromium: `?path=webrtc` shows a moving picture with a
 *   latency figure; an iPhone-like page (no MediaSource, no VideoDecoder)
 *   on the camera's non-secure `.local` name picks WebRTC by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ndc from 'node-datachannel';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseWhepOffer, chooseH264, WhepOfferError, profileOfCodec } from '../../src/outputs/whep-offer.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_ARGS, ensureWebBuilt } from './web-fixture.js';

const CAMERA_HOST = 'velovision-rearview.local';
const cleanups: (() => unknown)[] = [];
let daemon: InProcessDaemon;
let apiPort: number;
let browser: Browser;

before(async () => {
  ensureWebBuilt();
  daemon = await startDaemonInProcess({ webrtcMaxViewers: 3 });
  cleanups.push(() => daemon.close());
  apiPort = (daemon.daemon.apiAddress as { port: number }).port;
  await waitFor(() => daemon.daemon.hub.params !== undefined, 'the first keyframe');
  browser = await chromium.launch({
    executablePath: requireTool('chromium'),
    headless: true,
    // The camera's name resolves to this machine: a non-secure origin, as a phone on the camera's Wi-Fi has.
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${CAMERA_HOST} 127.0.0.1`],
  });
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  // node-datachannel's threads keep the process alive after every peer is closed (its cleanup()
  // crashes here), so this file ends itself once its tests are done; the exit code is the runner's.
  setTimeout(() => process.exit(), 1000).unref();
});

const base = (): string => `http://127.0.0.1:${apiPort}`;

/** A WHEP viewer without a browser: node-datachannel makes a recvonly H.264 offer. */
async function nodeViewer(profileLevelId: string | 'vp8' = '42e01f'): Promise<{
  offer: string;
  accept: (answer: string) => void;
  packets: () => number;
  close: () => void;
}> {
  const pc = new ndc.PeerConnection('test-viewer', { iceServers: [] });
  const video = new ndc.Video('0', 'RecvOnly');
  if (profileLevelId === 'vp8') video.addVP8Codec(96);
  else video.addH264Codec(102, `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profileLevelId}`);
  const track = pc.addTrack(video);
  let packets = 0;
  track.onMessage(() => packets++);
  const gathered = new Promise<void>((resolve) =>
    pc.onGatheringStateChange((state) => {
      if (state === 'complete') resolve();
    }),
  );
  pc.setLocalDescription();
  if (pc.gatheringState() !== 'complete') await gathered;
  return {
    offer: pc.localDescription()?.sdp ?? '',
    accept: (answer) => pc.setRemoteDescription(answer, 'answer'),
    packets: () => packets,
    close: () => pc.close(),
  };
}

async function postOffer(offer: string, contentType = 'application/sdp'): Promise<Response> {
  return fetch(`${base()}/api/v1/whep`, { method: 'POST', headers: { 'content-type': contentType }, body: offer });
}

async function webrtcClients(): Promise<{ kind: string; state?: string }[]> {
  const status = (await (await fetch(`${base()}/api/v1/status`)).json()) as {
    stream: { clients: { kind: string; state?: string }[] };
  };
  return status.stream.clients.filter((c) => c.kind === 'webrtc');
}

describe('WHEP offers', () => {
  it('picks the stream profile, refuses what the viewer cannot receive', () => {
    const offer = (fmtps: string[]): string =>
      [
        'v=0',
        'o=- 1 1 IN IP4 127.0.0.1',
        's=-',
        't=0 0',
        `m=video 9 UDP/TLS/RTP/SAVPF ${fmtps.map((_, i) => 100 + i).join(' ')}`,
        'a=mid:v0',
        ...fmtps.flatMap((f, i) => [`a=rtpmap:${100 + i} ${f ? 'H264' : 'VP8'}/90000`, `a=fmtp:${100 + i} ${f}`]),
        '',
      ].join('\r\n');
    const parsed = parseWhepOffer(
      offer([
        'packetization-mode=0;profile-level-id=42e01f',
        'packetization-mode=1;profile-level-id=42001f',
        'packetization-mode=1;profile-level-id=42e01f',
        'packetization-mode=1;profile-level-id=640c1f',
      ]),
    );
    assert.equal(parsed.videoMid, 'v0');
    assert.equal(chooseH264(parsed, profileOfCodec('avc1.42c01e')).payloadType, 102, 'constrained baseline: 42e0');
    assert.equal(chooseH264(parsed, profileOfCodec('avc1.64001f')).payloadType, 103, 'High: 64');
    assert.throws(() => chooseH264(parsed, profileOfCodec('avc1.4d401f')), /Main profile/);
    assert.throws(() => chooseH264(parseWhepOffer(offer([''])), profileOfCodec('avc1.42c01e')), WhepOfferError);
    assert.throws(() => parseWhepOffer('GET / HTTP/1.1'), /not an SDP offer/);
    assert.throws(() => parseWhepOffer('v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n'), /no video/);
    assert.throws(() => parseWhepOffer('v=0\r\nm=video 9 RTP/AVP 96\r\na=mid:$(reboot)\r\n'), /a=mid/);
  });
});

describe('WebRTC live view (WHEP)', () => {
  it('answers an offer, sends RTP, lists the viewer in status, and ends it on DELETE', async () => {
    const viewer = await nodeViewer();
    cleanups.push(viewer.close);
    const res = await postOffer(viewer.offer);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/sdp');
    const location = res.headers.get('location') ?? '';
    assert.match(location, /^\/api\/v1\/whep\/[0-9a-f]{24}$/);
    const answer = await res.text();
    assert.match(answer, /a=sendonly/);
    assert.match(answer, /a=candidate:.* typ host/);
    assert.match(answer, /a=rtpmap:102 H264\/90000/);
    viewer.accept(answer);
    await waitFor(() => viewer.packets() > 100, 'RTP packets at the viewer', 20_000);
    await waitFor(async () => (await webrtcClients()).some((c) => c.state === 'connected'), 'the viewer in status');
    // Trickle ICE is not needed: every candidate is in the answer.
    assert.equal((await fetch(base() + location, { method: 'PATCH' })).status, 405);
    assert.equal((await fetch(base() + location, { method: 'DELETE' })).status, 200);
    assert.equal((await webrtcClients()).length, 0);
    assert.equal((await fetch(base() + location, { method: 'DELETE' })).status, 404);
    viewer.close();
  });

  it('refuses a wrong content type, a garbage offer, a profile the viewer lacks, and viewers over the limit', async () => {
    const viewer = await nodeViewer();
    cleanups.push(viewer.close);
    assert.equal((await postOffer(viewer.offer, 'text/plain')).status, 415);
    const garbage = await postOffer('hello');
    assert.equal(garbage.status, 400);
    assert.equal(((await garbage.json()) as { error: { code: string } }).error.code, 'ERR_WEBRTC_OFFER');
    const vp8 = await nodeViewer('vp8');
    cleanups.push(vp8.close);
    const vp8Res = await postOffer(vp8.offer);
    assert.equal(vp8Res.status, 400);
    assert.match(((await vp8Res.json()) as { error: { message: string } }).error.message, /packetization-mode=1/);
    const high = await nodeViewer('640c1f'); // the sample is Constrained Baseline; High receivers decode it
    cleanups.push(high.close);
    const highRes = await postOffer(high.offer);
    assert.equal(highRes.status, 201);
    await fetch(base() + (highRes.headers.get('location') ?? ''), { method: 'DELETE' });
    const main = await nodeViewer('4d001f');
    cleanups.push(main.close);
    const mainRes = await postOffer(main.offer);
    assert.equal(mainRes.status, 201, 'Main receivers decode Constrained Baseline too');
    await fetch(base() + (mainRes.headers.get('location') ?? ''), { method: 'DELETE' });
    // webrtcMaxViewers is 3 here.
    const locations: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = await nodeViewer();
      cleanups.push(v.close);
      const r = await postOffer(v.offer);
      assert.equal(r.status, 201);
      locations.push(r.headers.get('location') ?? '');
    }
    const over = await nodeViewer();
    cleanups.push(over.close);
    const full = await postOffer(over.offer);
    assert.equal(full.status, 503);
    for (const l of locations) await fetch(base() + l, { method: 'DELETE' });
    viewer.close();
  });

  async function openPage(url: string, iphoneLike: boolean): Promise<Page> {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 390, height: 844 } });
    cleanups.push(() => context.close());
    if (iphoneLike) {
      // iOS Safari on plain http: no WebCodecs, no MediaSource (before the page's scripts run).
      await context.addInitScript(() => {
        const w = window as unknown as Record<string, unknown>;
        delete w.MediaSource;
        delete w.ManagedMediaSource;
        delete w.VideoDecoder;
      });
    }
    const page = await context.newPage();
    await page.goto(url);
    return page;
  }

  async function videoChecksum(page: Page): Promise<number> {
    return page.evaluate(() => {
      const v = document.getElementById('live-video') as HTMLVideoElement;
      const c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const ctx = c.getContext('2d') as CanvasRenderingContext2D;
      ctx.drawImage(v, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 97) sum = (sum * 31 + (d[i] as number)) >>> 0;
      return sum;
    });
  }

  async function expectMovingPicture(page: Page): Promise<void> {
    await page.waitForFunction('(window.__rearview?.framesShown ?? 0) > 30', undefined, { timeout: 20_000 });
    const first = await videoChecksum(page);
    await page.waitForFunction(`(window.__rearview?.framesShown ?? 0) > ${30 + 20}`, undefined, { timeout: 20_000 });
    assert.notEqual(await videoChecksum(page), first, 'the picture moves');
    const size = await page.evaluate(() => {
      const v = document.getElementById('live-video') as HTMLVideoElement;
      return `${v.videoWidth}x${v.videoHeight}`;
    });
    assert.equal(size, '640x360');
  }

  it('plays in Chromium with ?path=webrtc, with a latency figure from the capture time', async (t) => {
    const page = await openPage(`${base()}/?path=webrtc#live`, false);
    await expectMovingPicture(page);
    assert.equal(await page.evaluate('window.__rearview.path'), 'webrtc');
    await page.waitForFunction('window.__rearview.latencies.length > 10', undefined, { timeout: 10_000 });
    const latencies = (await page.evaluate('window.__rearview.latencies')) as number[];
    const median = [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length / 2)] as number;
    assert.ok(median > 0 && median < 1000, `capture-to-screen latency ${median} ms`);
    t.diagnostic(
      `Chromium over WebRTC, loopback: capture to screen median ${median.toFixed(1)} ms over ${latencies.length} pictures`,
    );
    await page.waitForFunction(
      "document.getElementById('ov-path').textContent === 'WebRTC' && /ms$/.test(document.getElementById('ov-latency').textContent)",
      undefined,
      { timeout: 10_000 },
    );
    await page.close();
  });

  it('picks WebRTC by itself on an iPhone-like page at the camera’s non-secure .local address', async () => {
    const page = await openPage(`http://${CAMERA_HOST}:${apiPort}/#live`, true);
    assert.equal(await page.evaluate('window.isSecureContext'), false);
    assert.deepEqual(
      await page.evaluate(
        "[typeof RTCPeerConnection, typeof VideoDecoder, typeof MediaSource, 'ManagedMediaSource' in window]",
      ),
      ['function', 'undefined', 'undefined', false],
    );
    await expectMovingPicture(page);
    assert.equal(await page.evaluate('window.__rearview.path'), 'webrtc');
    await page.close();
  });
});
