/**
 * The WebSocket stream at the protocol level, in Node: a real StreamHub fed
 * with the sample clip, a real HTTP server on 127.0.0.1:0 with the web mount,
 * and the `ws` client. Proves the framing round trip (server encoder ->
 * page parser), the config message, SPS+PPS+IDR in key messages, no AUD,
 * ping/pong, the client cap, and that the page and assets are served.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import type { StreamFrame } from '../../src/hub/stream-frame.js';
import { createWebMount, LIVE_WS_PATH } from '../../src/api/web-mount.js';
import { compileAllowList } from '../../src/api/network-allow-list.js';
import { encodeWsFrame, WS_HEADER_BYTES, WsFrameFlags } from '../../src/outputs/ws-stream-server.js';
import { parseLiveFrame, parseLiveText, type LiveConfig } from '../../src/outputs/ws-protocol.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { FakeClock } from '../support/fake-clock.js';
import { PacedFeeder } from '../outputs/tcp-feed.js';
import { waitFor } from '../support/wait.js';
import { ensureWebBuilt } from './web-fixture.js';

const sample = accessUnitsOfFile(samplePath);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(
  options: {
    maxClients?: number;
    apiToken?: string;
    allowNetworks?: string[];
    softLimitBytes?: number;
    softLimitMs?: number;
    hardLimitMs?: number;
  } = {},
  clock?: FakeClock,
) {
  ensureWebBuilt();
  const hub = new StreamHub(clock ? { clock: clock.now } : {});
  const { allowNetworks, ...rest } = options;
  const mount = createWebMount({
    hub,
    cameraName: 'test-cam',
    ...rest,
    ...(allowNetworks ? { allowList: compileAllowList(allowNetworks) } : {}),
  });
  const server: Server = createServer((req, res) => {
    void mount.handleRequest(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end('not web');
      }
    });
  });
  mount.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const feeder = new PacedFeeder(hub, sample);
  const frames: StreamFrame[] = [];
  const tap = hub.addReader({ name: 'test tap', join: 'next-keyframe' });
  tap.onReadable(() => {
    for (let f = tap.read(); f; f = tap.read()) frames.push(f);
  });
  cleanups.push(
    () => feeder.close(),
    () => mount.close(),
    () => new Promise((r) => server.close(r)),
    () => hub.close(),
  );
  return { hub, mount, server, port, feeder, frames };
}

interface Received {
  texts: string[];
  binaries: Uint8Array[];
  ws: WebSocket;
}

async function connect(port: number, query = '', headers: Record<string, string> = {}): Promise<Received> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${LIVE_WS_PATH}${query}`, { headers });
  const got: Received = { texts: [], binaries: [], ws };
  ws.on('error', () => {
    // closed by the server in some tests
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) got.binaries.push(new Uint8Array(data as Buffer));
    else got.texts.push(String(data));
  });
  cleanups.push(() => ws.terminate());
  await once(ws, 'open');
  return got;
}

function get(port: number, path: string, accept: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { accept } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('WsStreamServer', () => {
  it('sends a config message, then one binary message per access unit that the page parser reads back', async () => {
    const { port, feeder, frames, mount } = await setup();
    feeder.step(40); // a client joining now starts at the keyframe of frame 30
    const client = await connect(port);
    feeder.step(30);
    await waitFor(() => client.binaries.length >= 40, '40 frame messages');
    await waitFor(() => client.texts.some((t) => parseLiveText(t)?.type === 'config'), 'config message');

    const config = parseLiveText(client.texts[0] as string) as LiveConfig;
    assert.equal(config.type, 'config', 'config comes before any frame');
    assert.equal(config.codec, 'avc1.42c01e');
    assert.deepEqual([config.width, config.height, config.fps], [640, 360, 30]);
    assert.equal(config.cameraName, 'test-cam');

    const parsed = client.binaries.map((b) => parseLiveFrame(b));
    const first = parsed[0]!;
    assert.ok(
      first.isKey && first.hasConfig && first.discontinuity,
      'starts with a keyframe flagged config + discontinuity',
    );
    assert.deepEqual(
      splitAnnexB(first.payload)
        .map((n) => n.type)
        .slice(0, 2),
      [7, 8],
    );
    assert.ok(
      splitAnnexB(first.payload).some((n) => n.type === 5),
      'key message carries the IDR',
    );
    for (let i = 1; i < parsed.length; i++) {
      assert.equal(parsed[i]!.seq, parsed[i - 1]!.seq + 1, 'consecutive sequence numbers');
      assert.equal(parsed[i]!.discontinuity, false);
    }
    // Every message equals the hub frame: same times, same NALs minus the trailing AUD.
    for (const p of parsed) {
      const frame = frames.find((f) => f.seq === p.seq);
      if (!frame) continue; // joined from the GOP cache before the tap's first keyframe
      assert.equal(p.pts90k, frame.pts90k);
      assert.equal(p.capturedAtMs, frame.capturedAtMs);
      assert.equal(p.generation, frame.params.generation);
      assert.equal(p.isKey, frame.isKey);
      const types = splitAnnexB(p.payload).map((n) => n.type);
      assert.ok(!types.includes(9), 'no AUD in WebSocket payloads');
      assert.deepEqual(
        types,
        frame.nals.map((n) => n.type),
      );
      assert.equal(p.payload.length, frame.annexB.length - 6);
    }
    assert.equal(mount.streamClients().length, 1);
    assert.equal(mount.streamClients()[0]!.kind, 'ws');
  });

  it('?join=live-edge: the cached GOP at once, every frame but the newest flagged CATCH_UP', async () => {
    const { port, feeder } = await setup();
    feeder.step(40); // cache: keyframe 30 and frames 31..39
    const edge = await connect(port, '?join=live-edge');
    const latest = await connect(port, '?join=latest-keyframe');
    const next = await connect(port, '?join=next-keyframe');
    await waitFor(() => edge.binaries.length >= 10 && latest.binaries.length >= 10, 'the join bursts');
    feeder.step(25); // frames 40..64: 60 is the next keyframe
    await waitFor(() => edge.binaries.length >= 35 && next.binaries.length >= 5, 'live frames');
    const e = edge.binaries.map((b) => parseLiveFrame(b));
    assert.deepEqual(
      e.slice(0, 12).map((f) => [f.seq, f.catchUp]),
      Array.from({ length: 12 }, (_, i) => [30 + i, 30 + i < 39]),
    );
    assert.ok(e.slice(12).every((f) => !f.catchUp));
    assert.ok(latest.binaries.map((b) => parseLiveFrame(b)).every((f) => !f.catchUp));
    const n = next.binaries.map((b) => parseLiveFrame(b));
    assert.equal(n[0]?.seq, 60, 'next-keyframe waits for the next keyframe');
    assert.equal(n[0]?.isKey, true);
  });

  it('refuses an unknown ?join= with 400', async () => {
    const { port } = await setup();
    for (const query of ['?join=oldest', '?join=live-edge&join=next-keyframe']) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${LIVE_WS_PATH}${query}`);
      ws.on('error', () => {
        // the refused handshake
      });
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; resume(): void }];
      assert.equal(res.statusCode, 400, query);
      res.resume();
      ws.terminate();
    }
  });

  it('encodes the documented 32-byte big-endian header', () => {
    const nal = (
      type: number,
      len: number,
    ): { data: Uint8Array; type: number; refIdc: number; offset: number; startCodeLength: 4 } => {
      const data = new Uint8Array(len).fill(0xaa);
      data[0] = 0x60 | type;
      return { data, type, refIdc: 3, offset: 0, startCodeLength: 4 };
    };
    const nals = [nal(7, 10), nal(8, 4), nal(5, 100)];
    const annexB = new Uint8Array(nals.reduce((n, x) => n + 4 + x.data.length, 0) + 6);
    let at = 0;
    for (const n of nals) {
      annexB.set([0, 0, 0, 1], at);
      annexB.set(n.data, at + 4);
      at += 4 + n.data.length;
    }
    annexB.set([0, 0, 0, 1, 9, 0xf0], at);
    const frame = {
      seq: 0xfffffffe,
      isKey: true,
      pts90k: 2 ** 40 + 3000,
      dts90k: 0,
      capturedAtMs: 1_764_000_000_123,
      deliveredAtMono: 0,
      nals,
      annexB,
      params: { generation: 7 },
    } as unknown as StreamFrame;
    const msg = encodeWsFrame(frame);
    const view = new DataView(msg.buffer, msg.byteOffset);
    assert.equal(view.getUint8(0), 1);
    assert.equal(view.getUint8(1), WsFrameFlags.KEY | WsFrameFlags.CONFIG);
    assert.equal(view.getUint16(2), WS_HEADER_BYTES);
    assert.equal(view.getUint32(4), 0xfffffffe);
    assert.equal(view.getUint32(8), 7);
    assert.equal(view.getFloat64(16), 2 ** 40 + 3000);
    assert.equal(view.getFloat64(24), 1_764_000_000_123);
    assert.equal(msg.length, 32 + annexB.length - 6);
    assert.equal(encodeWsFrame(frame), msg, 'encoded once, shared by every client');
    const back = parseLiveFrame(msg);
    assert.deepEqual(
      [back.isKey, back.hasConfig, back.discontinuity, back.seq, back.generation],
      [true, true, false, 0xfffffffe, 7],
    );
    // A future, longer header is skipped by today's parser.
    const longer = new Uint8Array(msg.length + 8);
    longer.set(msg.subarray(0, 32));
    new DataView(longer.buffer).setUint16(2, 40);
    longer.set(msg.subarray(32), 40);
    assert.deepEqual(parseLiveFrame(longer).payload, back.payload);
    assert.throws(() => parseLiveFrame(new Uint8Array([2, 0, 0, 32])), /version 2/);
  });

  it('answers clock pings with the server time', async () => {
    const { port } = await setup();
    const client = await connect(port);
    const before = Date.now();
    client.ws.send(JSON.stringify({ type: 'ping', id: 42, clientTimeMs: 5 }));
    await waitFor(() => client.texts.some((t) => t.includes('"pong"')), 'pong');
    const pong = parseLiveText(client.texts.find((t) => t.includes('"pong"')) as string);
    assert.equal(pong?.type, 'pong');
    if (pong?.type !== 'pong') return;
    assert.equal(pong.id, 42);
    assert.equal(pong.clientTimeMs, 5);
    assert.ok(pong.serverTimeMs >= before && pong.serverTimeMs <= Date.now());
  });

  it('refuses clients over maxClients with 503 and frees the slot on disconnect', async () => {
    const { port, mount } = await setup({ maxClients: 1 });
    const a = await connect(port);
    const refused = new WebSocket(`ws://127.0.0.1:${port}${LIVE_WS_PATH}`);
    refused.on('error', () => {
      // the refusal itself
    });
    cleanups.push(() => refused.terminate());
    const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(res.statusCode, 503);
    a.ws.close();
    await waitFor(() => mount.ws.clientCount === 0, 'slot freed');
    const b = await connect(port);
    assert.equal(b.ws.readyState, WebSocket.OPEN);
  });

  it('serves the page to browsers only, the assets, and 404 for unknown or unsafe asset names', async () => {
    const { port } = await setup();
    const page = await get(port, '/', 'text/html,application/xhtml+xml');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /assets\/app\.js/);
    const curl = await get(port, '/', '*/*');
    assert.equal(curl.status, 404, 'curl / is left to the legacy greeting route');
    const js = await get(port, '/assets/app.js', '*/*');
    assert.equal(js.status, 200);
    assert.match(js.type, /javascript/);
    assert.equal((await get(port, '/assets/app.css', '*/*')).status, 200);
    assert.equal((await get(port, '/assets/nope.js', '*/*')).status, 404);
    assert.equal((await get(port, '/assets/..%2F..%2Fpackage.json', '*/*')).status, 404);
    assert.equal((await get(port, '/assets/%2e%2e/index.html', '*/*')).status, 404);
  });

  it('asks for the API token when one is set, and refuses other sites and other networks', async () => {
    const refusedWith = async (url: string, headers: Record<string, string> = {}): Promise<number> => {
      const ws = new WebSocket(url, { headers });
      ws.on('error', () => {
        // the refusal itself; the status comes from 'unexpected-response'
      });
      cleanups.push(() => ws.terminate());
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
      return res.statusCode;
    };
    const { port } = await setup({ apiToken: 's3cret' });
    const url = `ws://127.0.0.1:${port}${LIVE_WS_PATH}`;
    assert.equal(await refusedWith(url), 401);
    assert.equal(await refusedWith(`${url}?token=s3cret`), 401, 'never a token in the URL');
    assert.equal(await refusedWith(url, { cookie: 'rearview_token=wrong' }), 401);
    assert.equal((await connect(port, '', { cookie: 'rearview_token=s3cret' })).ws.readyState, WebSocket.OPEN);
    assert.equal((await connect(port, '', { authorization: 'Bearer s3cret' })).ws.readyState, WebSocket.OPEN);
    // Another site's page in a visitor's browser must not watch the camera.
    assert.equal(await refusedWith(url, { cookie: 'rearview_token=s3cret', origin: 'http://evil.example' }), 403);
    assert.equal(
      (await connect(port, '', { cookie: 'rearview_token=s3cret', origin: `http://127.0.0.1:${port}` })).ws.readyState,
      WebSocket.OPEN,
    );
    const other = await setup({ allowNetworks: ['10.0.0.0/8'] });
    assert.equal(await refusedWith(`ws://127.0.0.1:${other.port}${LIVE_WS_PATH}`), 403);
  });

  it('skips a slow client to the next keyframe (flagged DISCONTINUITY) and closes a stalled one with 1013', async () => {
    const clock = new FakeClock(1000);
    const { port, feeder, mount } = await setup(
      { softLimitBytes: 100_000, softLimitMs: 10_000, hardLimitMs: 1000 },
      clock,
    );
    feeder.step(1);
    const client = await connect(port);
    await waitFor(() => client.binaries.length >= 1, 'first frame');
    const socket = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    // Far more than the kernel's socket buffers hold: the server stops reading
    // from the hub, whose queue goes over the soft limit and skips to keyframes.
    feeder.step(3000);
    await waitFor(() => (mount.streamClients()[0]?.framesDropped ?? 0) > 0, 'frames dropped by the slow-reader policy');
    socket.resume();
    await waitFor(() => client.binaries.some((b, i) => i > 0 && parseLiveFrame(b).discontinuity), 'a discontinuity');
    const frames = client.binaries.map((b) => parseLiveFrame(b));
    const gapAt = frames.findIndex((f, i) => i > 0 && f.discontinuity);
    assert.ok(frames[gapAt]!.isKey, 'after a skip the client restarts at a keyframe');
    assert.ok(frames[gapAt]!.seq > frames[gapAt - 1]!.seq + 1, 'sequence numbers show the gap');
    for (let i = gapAt + 1; i < frames.length; i++) assert.equal(frames[i]!.seq, frames[i - 1]!.seq + 1);

    // Stalled: over the soft limit and no progress for hardLimitMs.
    socket.pause();
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    feeder.step(3000);
    clock.advance(1500);
    feeder.step(30);
    await waitFor(() => mount.ws.clientCount === 0, 'stalled client dropped');
    socket.resume();
    assert.equal(await closed, 1013);
  });

  it('closes clients and is idempotent on close()', async () => {
    const { port, mount } = await setup();
    const a = await connect(port);
    const closed = once(a.ws, 'close');
    await mount.close();
    await mount.close();
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
  });
});
