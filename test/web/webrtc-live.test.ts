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
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import ndc from 'node-datachannel';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { StatusDocument } from '../../src/api/wire-types.js';
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

/** One picture received over RTP: its RTP time and whether it holds an IDR slice. */
interface RtpPicture {
  timestamp: number;
  key: boolean;
}

/** True when an RFC 6184 payload holds an IDR slice (single NAL unit, STAP-A or FU-A). */
function carriesIdr(payload: Buffer): boolean {
  const type = (payload[0] ?? 0) & 0x1f;
  if (type === 5) return true;
  if (type === 28) return ((payload[1] ?? 0) & 0x1f) === 5;
  if (type === 24) {
    for (let at = 1; at + 2 < payload.length; at += 2 + payload.readUInt16BE(at))
      if (((payload[at + 2] ?? 0) & 0x1f) === 5) return true;
  }
  return false;
}

/** A WHEP viewer without a browser: node-datachannel makes a recvonly H.264 offer. */
async function nodeViewer(
  profileLevelId: string | 'vp8' = '42e01f',
  /** Send receiver reports and allow requestKeyframe() (libdatachannel's RtcpReceivingSession). */
  rtcp = false,
): Promise<{
  offer: string;
  accept: (answer: string) => void;
  packets: () => number;
  /** Pictures received, in order of their first packet. */
  pictures: RtpPicture[];
  /** Sends a picture loss indication. */
  requestKeyframe: () => boolean;
  close: () => void;
}> {
  const pc = new ndc.PeerConnection('test-viewer', { iceServers: [] });
  const video = new ndc.Video('0', 'RecvOnly');
  if (profileLevelId === 'vp8') video.addVP8Codec(96);
  else video.addH264Codec(102, `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profileLevelId}`);
  const track = pc.addTrack(video);
  if (rtcp) track.setMediaHandler(new ndc.RtcpReceivingSession());
  let packets = 0;
  const pictures: RtpPicture[] = [];
  track.onMessage((packet) => {
    packets++;
    const type = packet[1] ?? 0;
    if (packet.length < 12 || (type >= 200 && type <= 207)) return; // RTCP
    const csrcs = (packet[0] ?? 0) & 0x0f;
    let at = 12 + 4 * csrcs;
    if ((packet[0] ?? 0) & 0x10) at += 4 + 4 * packet.readUInt16BE(at + 2);
    const timestamp = packet.readUInt32BE(4);
    let picture = pictures[pictures.length - 1];
    if (!picture || picture.timestamp !== timestamp) {
      picture = { timestamp, key: false };
      pictures.push(picture);
    }
    if (carriesIdr(packet.subarray(at))) picture.key = true;
  });
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
    pictures,
    requestKeyframe: () => track.requestKeyframe(),
    close: () => pc.close(),
  };
}

/**
 * A STUN/TURN server just real enough to see what the camera's ICE agent
 * sends: Binding requests are answered (XOR-MAPPED-ADDRESS); an Allocate
 * without credentials gets the 401 challenge, one with them is refused 403
 * after its USERNAME is noted.
 */
async function fakeStunTurnServer(): Promise<{
  port: number;
  bindings: () => number;
  usernames: string[];
  close: () => void;
}> {
  const socket = createSocket('udp4');
  let bindings = 0;
  const usernames: string[] = [];
  const attribute = (type: number, value: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(value.length, 2);
    return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
  };
  const errorCode = (code: number, reason: string): Buffer =>
    attribute(0x0009, Buffer.concat([Buffer.from([0, 0, Math.floor(code / 100), code % 100]), Buffer.from(reason)]));
  socket.on('message', (msg, from) => {
    if (msg.length < 20 || msg.readUInt32BE(4) !== 0x2112a442) return;
    const type = msg.readUInt16BE(0);
    const attrs = new Map<number, Buffer>();
    for (let at = 20; at + 4 <= msg.length; ) {
      const t = msg.readUInt16BE(at);
      const len = msg.readUInt16BE(at + 2);
      attrs.set(t, msg.subarray(at + 4, at + 4 + len));
      at += 4 + len + ((4 - (len % 4)) % 4);
    }
    const reply = (replyType: number, body: Buffer[]): void => {
      const payload = Buffer.concat(body);
      const head = Buffer.alloc(20);
      head.writeUInt16BE(replyType, 0);
      head.writeUInt16BE(payload.length, 2);
      head.writeUInt32BE(0x2112a442, 4);
      msg.copy(head, 8, 8, 20);
      socket.send(Buffer.concat([head, payload]), from.port, from.address);
    };
    if (type === 0x0001) {
      bindings++;
      const mapped = Buffer.alloc(8);
      mapped.writeUInt16BE(0x0001, 0);
      mapped.writeUInt16BE(from.port ^ 0x2112, 2);
      mapped.writeUInt32BE((from.address.split('.').reduce((a, b) => a * 256 + Number(b), 0) ^ 0x2112a442) >>> 0, 4);
      reply(0x0101, [attribute(0x0020, mapped)]);
    } else if (type === 0x0003) {
      const user = attrs.get(0x0006);
      if (user) {
        usernames.push(user.toString('utf8'));
        reply(0x0113, [errorCode(403, 'Forbidden')]);
      } else {
        reply(0x0113, [
          errorCode(401, 'Unauthorized'),
          attribute(0x0014, Buffer.from('test')),
          attribute(0x0015, Buffer.from('nonce123')),
        ]);
      }
    }
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { port: socket.address().port, bindings: () => bindings, usernames, close: () => socket.close() };
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

  it('answers a picture loss indication from the GOP cache: a keyframe at once, RTP time never going back', async () => {
    const viewer = await nodeViewer('42e01f', true);
    cleanups.push(viewer.close);
    const res = await postOffer(viewer.offer);
    assert.equal(res.status, 201);
    viewer.accept(await res.text());
    const keyIndexes = (): number[] => viewer.pictures.flatMap((p, i) => (p.key ? [i] : []));
    // Past the join (the cached keyframe and GOP, then the stream's next keyframe) and just after the
    // stream's keyframe a GOP later: over KEYFRAME_RESEND_MIN_INTERVAL_MS since the join, and the
    // stream's next keyframe is a whole GOP (30 pictures in the sample) away.
    await waitFor(() => keyIndexes().length >= 3, 'three keyframes at the viewer', 20_000);
    const natural = keyIndexes()[2] as number;
    assert.equal(natural - (keyIndexes()[1] as number), 30, 'the sample has a keyframe every 30 pictures');
    await waitFor(() => viewer.pictures.length > natural + 2, 'pictures after the keyframe', 5000);
    const before = ((await (await fetch(`${base()}/api/v1/status`)).json()) as StatusDocument).stream.webrtc;
    assert.ok(viewer.requestKeyframe(), 'the viewer sent a PLI');
    await waitFor(
      async () =>
        ((await (await fetch(`${base()}/api/v1/status`)).json()) as StatusDocument).stream.webrtc?.keyframesResent ===
        (before?.keyframesResent ?? 0) + 1,
      'the PLI answered',
    );
    await waitFor(() => keyIndexes().length >= 4, 'the keyframe answering it', 5000);
    const resent = keyIndexes()[3] as number;
    assert.ok(
      resent - natural < 30,
      `a keyframe ${resent - natural} pictures after the last one, before the stream's next`,
    );
    // RTP time never goes back (32-bit serial-number order), resent pictures included.
    for (let i = 1; i < viewer.pictures.length; i++) {
      const step =
        ((viewer.pictures[i] as RtpPicture).timestamp - (viewer.pictures[i - 1] as RtpPicture).timestamp) | 0;
      assert.ok(step > 0, `RTP time step ${step} at picture ${i}`);
    }
    const status = (await (await fetch(`${base()}/api/v1/status`)).json()) as StatusDocument;
    const me = status.stream.clients.find((c) => c.kind === 'webrtc' && (c.keyframeRequests ?? 0) > 0);
    assert.ok(me, 'the viewer shows its keyframe request');
    // The viewer's own candidate is host, or peer-reflexive when its check came before its SDP.
    assert.equal(me.route?.local, 'host');
    assert.equal(me.route?.transport, 'udp');
    assert.match(me.route?.remote ?? '', /^(host|prflx)$/);
    const metrics = await (await fetch(`${base()}/metrics`)).text();
    assert.match(metrics, /^rearview_stream_clients\{kind="webrtc"\} [1-9]/m);
    assert.match(metrics, /^rearview_stream_client_sent_bytes\{kind="webrtc"\} [1-9]/m);
    assert.match(metrics, /^rearview_webrtc_keyframes_resent_total [1-9]/m);
    assert.match(metrics, /^rearview_webrtc_sessions_total [1-9]/m);
    viewer.close();
  });

  it('gathers through the configured STUN and TURN servers, with credentials from the config file only, shown masked', async () => {
    const server = await fakeStunTurnServer();
    cleanups.push(server.close);
    const secret = 'rider-secret-42';
    const other = await startDaemonInProcess({
      webrtcMaxViewers: 1,
      webrtcIceServers: [
        `stun:127.0.0.1:${server.port}`,
        { urls: `turn:127.0.0.1:${server.port}`, username: 'rider', credential: secret },
      ],
    });
    cleanups.push(() => other.close());
    const otherBase = `http://127.0.0.1:${(other.daemon.apiAddress as { port: number }).port}`;
    await waitFor(() => other.daemon.hub.params !== undefined, 'the first keyframe');
    const viewer = await nodeViewer();
    cleanups.push(viewer.close);
    const res = await fetch(`${otherBase}/api/v1/whep`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: viewer.offer,
    });
    assert.equal(res.status, 201, await res.clone().text());
    await waitFor(() => server.bindings() > 0 && server.usernames.length > 0, 'STUN and TURN requests from the camera');
    assert.ok(
      server.usernames.every((u) => u === 'rider'),
      `TURN usernames ${server.usernames.join(',')}`,
    );
    const settingsText = await (await fetch(`${otherBase}/api/v1/settings`)).text();
    assert.ok(!settingsText.includes(secret), 'the credential is never shown');
    assert.deepEqual((JSON.parse(settingsText) as { webrtcIceServers: unknown }).webrtcIceServers, [
      { urls: `stun:127.0.0.1:${server.port}` },
      { urls: `turn:127.0.0.1:${server.port}`, username: '***', credential: '***' },
    ]);
    const patch = await fetch(`${otherBase}/api/v1/settings`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webrtcIceServers: [`stun:127.0.0.1:${server.port}`] }),
    });
    assert.equal(patch.status, 400, 'not settable over HTTP');
    const status = (await (await fetch(`${otherBase}/api/v1/status`)).json()) as StatusDocument;
    assert.equal(status.stream.webrtc?.iceServers, 2);
    assert.ok(!JSON.stringify(status).includes(secret));
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
    // A browser that keeps up is never taken for a slow viewer (its receiver reports, webrtc-catch-up.ts):
    // 5 s more of stream, never skipped to keyframes.
    const viewer = async (): Promise<StatusDocument['stream']['clients'][number] | undefined> =>
      ((await (await fetch(`${base()}/api/v1/status`)).json()) as StatusDocument).stream.clients
        .filter((c) => c.kind === 'webrtc')
        .at(-1);
    const connectedAt = (await viewer())?.connectedMs ?? 0;
    await waitFor(
      async () => ((await viewer())?.connectedMs ?? 0) >= connectedAt + 5000,
      '5 s more of stream',
      20_000,
      250,
    );
    const chromiumViewer = await viewer();
    t.diagnostic(
      `Chromium viewer after ${chromiumViewer?.connectedMs} ms: lag ${chromiumViewer?.lagMs} ms, skips ${chromiumViewer?.skips}, behind ${chromiumViewer?.behind}`,
    );
    assert.equal(chromiumViewer?.skips, 0, 'a browser that keeps up is never skipped');
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
