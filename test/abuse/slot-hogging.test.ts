/**
 * Slot hogging, end to end against a real daemon: 32 clients on
 * 127.0.0.2..127.0.0.33 that each read about 2 KB/s hold every stream slot
 * (they make "progress", so the hard limit never drops them). A real viewer
 * on 127.0.0.1 must still get its frames: the client behind longest gives
 * way to it; a fifth connection from one address is refused with a reason;
 * and the slow clients are dropped once they were behind for 10 s of 30 s.
 * Once for port 5000, once for the WebSocket viewers (their own pool).
 *
 * The daemon runs in this process with a fake clock and a source the test
 * feeds: each frame carries a 60 KB SEI, so the kernel's socket buffers
 * (about 4 MB per connection on loopback) fill within a few seconds of real
 * time, while the clock moves 1/30 s per frame.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import type { NalUnit } from '../../src/h264/nal-unit.js';
import type { CaptureSource, SourceSink } from '../../src/sources/capture-source.js';
import type { StatusDocument } from '../../src/api/status-document.js';
import { ApiService } from '../../src/api/api-service.js';
import { LIVE_WS_PATH } from '../../src/api/web-mount.js';
import type { WsStreamServer } from '../../src/outputs/ws-stream-server.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { FakeClock } from '../support/fake-clock.js';

const SLOW_CLIENTS = 32;
const SLOW_ADDRESSES = Array.from({ length: SLOW_CLIENTS }, (_, i) => `127.0.0.${i + 2}`);
const FRAME_MS = 1000 / 30;

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A user-data-unregistered SEI of `bytes` payload bytes (0x55: no emulation prevention needed). */
function bigSei(bytes: number): NalUnit {
  let size = 16 + bytes;
  const sizeBytes: number[] = [];
  for (; size >= 255; size -= 255) sizeBytes.push(255);
  sizeBytes.push(size);
  const data = new Uint8Array(1 + 1 + sizeBytes.length + 16 + bytes + 1).fill(0x55);
  data[0] = 0x06;
  data[1] = 5;
  data.set(sizeBytes, 2);
  data[data.length - 1] = 0x80;
  return { data, type: 6, refIdc: 0, offset: 0, startCodeLength: 4 };
}

/** The sample clip with a 60 KB SEI before the first slice of every frame (about 14 Mbit/s). */
const heavyFrames: AccessUnit[] = (() => {
  const sei = bigSei(60_000);
  return accessUnitsOfFile(samplePath).map((au) => {
    const firstSlice = au.nals.findIndex((n) => n.type === 1 || n.type === 5);
    return { ...au, nals: [...au.nals.slice(0, firstSlice), sei, ...au.nals.slice(firstSlice)] };
  });
})();

/** A capture source the test drives frame by frame. */
class FedSource implements CaptureSource {
  readonly name = 'fed';
  private sink: SourceSink | undefined;
  private next = 0;
  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
  }
  onExit(): void {
    // this source never exits on its own
  }
  async close(): Promise<void> {
    this.sink = undefined;
  }
  push(): void {
    const au = heavyFrames[this.next] as AccessUnit;
    this.next = (this.next + 1) % heavyFrames.length;
    this.sink?.accessUnit(au, Date.now());
  }
}

interface Camera {
  daemon: InProcessDaemon;
  clock: FakeClock;
  source: FedSource;
  apiPort: number;
  /** Feeds frames (1/30 s of fake time each, paced a few ms apart in real time) until `done()`. */
  feedUntil(done: () => boolean, what: string, maxFrames?: number): Promise<number>;
  status(): Promise<StatusDocument>;
}

async function startCamera(): Promise<Camera> {
  const clock = new FakeClock(1000);
  const source = new FedSource();
  // The hard limit (no read() at all while behind) is put past the behind limit: it stands for
  // readers that take a little now and then, which the hard limit alone never drops.
  const daemon = await startDaemonInProcess(
    { clientHardLimitMs: '60s' },
    { clock: clock.now, createSource: () => source },
  );
  cleanups.push(() => daemon.close());
  const apiPort = daemon.daemon.apiAddress?.port as number;
  return {
    daemon,
    clock,
    source,
    apiPort,
    async feedUntil(done, what, maxFrames = 3000) {
      for (let frames = 0; frames < maxFrames; frames++) {
        if (done()) return frames;
        source.push();
        clock.advance(FRAME_MS);
        // Pacing, not synchronisation: lets the sockets move bytes between frames.
        await new Promise((resolve) => setImmediate(resolve));
      }
      throw new Error(`${what}: not reached after ${maxFrames} frames`);
    },
    async status() {
      return (await (await fetch(`http://127.0.0.1:${apiPort}/api/v1/status`)).json()) as StatusDocument;
    },
  };
}

/** A raw TCP client that reads about 2 KB/s: it never stalls, it only falls behind. */
function slowTcpClient(port: number, localAddress: string): Socket {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {
    // the server may drop a client that falls behind: that is what is tested
  });
  socket.on('data', () => undefined);
  socket.pause();
  const timer = setInterval(() => socket.read(2048), 1000);
  socket.once('close', () => clearInterval(timer));
  cleanups.push(() => socket.destroy());
  return socket;
}

/** A raw TCP viewer that reads everything; counts frames by their trailing AUD. */
function tcpViewer(port: number): {
  socket: Socket;
  frames: () => number;
  firstFrameMs: () => number | undefined;
  closed: () => boolean;
} {
  const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
  const startedMs = performance.now();
  let firstFrameMs: number | undefined;
  let frames = 0;
  let tail = Buffer.alloc(0);
  let closed = false;
  socket.on('error', () => {
    // a dropped client is seen through 'close'
  });
  socket.on('close', () => (closed = true));
  socket.on('data', (chunk: Buffer) => {
    const data = Buffer.concat([tail, chunk]);
    // The AUD the server appends after every frame: 00 00 00 01 09.
    for (let at = data.indexOf(AUD); at >= 0; at = data.indexOf(AUD, at + AUD.length)) {
      frames++;
      firstFrameMs ??= performance.now() - startedMs;
    }
    tail = data.subarray(Math.max(0, data.length - AUD.length + 1));
  });
  cleanups.push(() => socket.destroy());
  return { socket, frames: () => frames, firstFrameMs: () => firstFrameMs, closed: () => closed };
}
const AUD = Buffer.from([0, 0, 0, 1, 9]);

function report(t: TestContext, figures: Record<string, number | string>): void {
  t.diagnostic(
    Object.entries(figures)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  );
}

describe('slot hogging (security issue 4)', () => {
  it('port 5000: a viewer on 127.0.0.1 gets frames although 32 slow readers hold every slot; the 5th connection from one address is refused; the slow ones are dropped', async (t) => {
    const cam = await startCamera();
    const port = cam.daemon.streamPort;
    const tcp = cam.daemon.daemon.tcpServer;
    await cam.feedUntil(() => true, 'start');
    const slow = SLOW_ADDRESSES.map((address) => slowTcpClient(port, address));
    await cam.feedUntil(() => tcp.clientCount === SLOW_CLIENTS, `${SLOW_CLIENTS} slow clients connected`);
    // Their kernel buffers fill, the server stops writing to them, their backlog goes over the soft limit.
    await cam.feedUntil(
      () => tcp.stats().clients.filter((c) => c.behindMs >= 1500).length === SLOW_CLIENTS,
      'every slow client behind for 1.5 s',
    );
    assert.equal(tcp.stats().slots.refused.full, 0);

    const viewer = tcpViewer(port);
    await cam.feedUntil(() => viewer.frames() >= 30, 'the viewer received 30 frames');
    const firstFrameMs = viewer.firstFrameMs() as number;
    assert.equal(tcp.clientCount, SLOW_CLIENTS, 'one slow client gave way');
    assert.equal(tcp.stats().slots.evicted, 1);
    assert.equal(tcp.stats().clients.filter((c) => c.remote.startsWith('127.0.0.1:')).length, 1);

    // Three more from 127.0.0.1 push out three more slow clients; a fifth is refused.
    const more = [1, 2, 3].map(() => tcpViewer(port));
    await cam.feedUntil(() => more.every((v) => v.frames() > 0), 'three more viewers get frames');
    const fifth = tcpViewer(port);
    await cam.feedUntil(() => fifth.closed(), 'the fifth connection from 127.0.0.1 closed');
    assert.equal(fifth.frames(), 0);
    const s = tcp.stats().slots;
    assert.equal(s.evicted, 4);
    assert.equal(s.refused['per-address'], 1);
    const status = await cam.status();
    assert.equal(status.stream.slots.tcp?.refused['per-address'], 1, 'counted in /api/v1/status');
    const metrics = await (await fetch(`http://127.0.0.1:${cam.apiPort}/metrics`)).text();
    assert.match(metrics, /rearview_stream_clients_refused_total\{kind="tcp",reason="per-address"\} 1/);
    assert.match(metrics, /rearview_stream_clients_evicted_total\{kind="tcp"\} 4/);

    // The slow clients left are dropped when they reach 10 s behind out of 30 s; the viewers stay.
    await cam.feedUntil(() => tcp.clientCount === 4, 'slow clients dropped for being behind');
    assert.equal(tcp.stats().slots.droppedBehind, SLOW_CLIENTS - 4);
    assert.ok(
      tcp.stats().clients.every((c) => c.remote.startsWith('127.0.0.1:')),
      'only the viewers are left',
    );
    assert.equal(slow.length, SLOW_CLIENTS);
    assert.ok(
      [viewer, ...more].every((v) => !v.closed()),
      'the viewers are still connected',
    );
    report(t, {
      slowClients: SLOW_CLIENTS,
      viewerFirstFrameMs: Math.round(firstFrameMs),
      evicted: s.evicted,
      refusedPerAddress: 1,
      droppedBehind: tcp.stats().slots.droppedBehind,
    });
  });

  it('WebSocket viewers: the same rules in their own pool (429 for the 5th connection from one address)', async (t) => {
    const cam = await startCamera();
    const url = `ws://127.0.0.1:${cam.apiPort}${LIVE_WS_PATH}`;
    const open = (localAddress: string): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(url, { localAddress });
        cleanups.push(() => socket.terminate());
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
    await cam.feedUntil(() => true, 'start');
    const api = cam.daemon.daemon.services.find((s): s is ApiService => s instanceof ApiService);
    const clients = (): WsStreamServer => api?.webMount?.ws as WsStreamServer;
    const slow = await Promise.all(SLOW_ADDRESSES.map((a) => open(a)));
    for (const socket of slow) {
      const raw = (socket as unknown as { _socket: Socket })._socket;
      socket.on('message', () => undefined);
      raw.pause();
      const timer = setInterval(() => raw.read(2048), 1000);
      socket.once('close', () => clearInterval(timer));
    }
    await cam.feedUntil(
      () =>
        clients()
          .clients()
          .filter((c) => c.behindMs >= 1500).length === SLOW_CLIENTS,
      'every slow WebSocket client behind for 1.5 s',
    );

    const startedMs = performance.now();
    const viewer = await open('127.0.0.1');
    let frames = 0;
    let firstFrameMs: number | undefined;
    viewer.on('message', (_data, isBinary) => {
      if (!isBinary) return;
      frames++;
      firstFrameMs ??= performance.now() - startedMs;
    });
    await cam.feedUntil(() => frames >= 30, 'the WebSocket viewer received 30 frames');
    assert.equal(clients().slotStats().evicted, 1);
    await Promise.all([1, 2, 3].map(() => open('127.0.0.1')));
    const refused = await new Promise<number>((resolve) => {
      const fifth = new WebSocket(url, { localAddress: '127.0.0.1' });
      fifth.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      fifth.once('open', () => resolve(101));
      fifth.on('error', () => {
        // a refusal arrives as 'unexpected-response'
      });
    });
    assert.equal(
      refused,
      429,
      'the fifth connection from 127.0.0.1 is refused: Too Many Connections From This Address',
    );
    assert.equal(clients().slotStats().evicted, 4);
    const status = await cam.status();
    assert.equal(status.stream.slots.ws?.refused['per-address'], 1);
    await cam.feedUntil(() => clients().clientCount === 4, 'slow WebSocket clients dropped for being behind');
    assert.equal(clients().slotStats().droppedBehind, SLOW_CLIENTS - 4);
    assert.equal(viewer.readyState, WebSocket.OPEN);
    report(t, {
      slowClients: SLOW_CLIENTS,
      viewerFirstFrameMs: Math.round(firstFrameMs as number),
      evicted: 4,
      refusedPerAddress: 1,
      droppedBehind: clients().slotStats().droppedBehind,
    });
  });
});
