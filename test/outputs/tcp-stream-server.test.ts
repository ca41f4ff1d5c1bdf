import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { StreamHub, TRAILING_AUD } from '../../src/hub/stream-hub.js';
import { TcpStreamServer } from '../../src/outputs/tcp-stream-server.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { FakeClock } from '../support/fake-clock.js';
import { PacedFeeder, RawClient } from './tcp-feed.js';
import { waitFor } from '../support/wait.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

const sample = accessUnitsOfFile(samplePath);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(options: Partial<ConstructorParameters<typeof TcpStreamServer>[0]> = {}, clock?: FakeClock) {
  const hub = new StreamHub(clock ? { clock: clock.now } : {});
  const server = new TcpStreamServer({
    hub,
    host: '127.0.0.1',
    port: 0,
    ...options,
    ...(clock ? { clock: clock.now } : {}),
  });
  const { port } = await server.start();
  const feeder = new PacedFeeder(hub, sample);
  cleanups.push(
    () => server.close(),
    () => hub.close(),
    () => feeder.close(),
  );
  return { hub, server, port, feeder };
}

describe('TcpStreamServer', () => {
  it('sends each client the hub frames as Annex-B, starting with SPS, PPS, IDR', async () => {
    const { server, port, feeder } = await setup();
    feeder.step(45); // a client joining now gets the cached GOP from frame 30
    const client = new RawClient(port);
    cleanups.push(() => client.close());
    await client.connected;
    feeder.step(30);
    await waitFor(() => server.stats().clients[0]?.framesSent === 45, '45 frames sent');
    await waitFor(() => client.bytes === server.stats().clients[0]!.bytesSent, 'all bytes received');
    const types = splitAnnexB(client.data()).map((n) => n.type);
    assert.deepEqual(types.slice(0, 3), [7, 8, 5]);
    assert.ok(types.includes(5));
    assert.equal(types.filter((t) => t === 9).length, 45, 'one AUD after every frame');
    const s = server.stats();
    assert.equal(s.clients.length, 1);
    assert.equal(s.clients[0]!.framesDropped, 0);
    assert.equal(
      s.serverLatency.count,
      30,
      'only live frames are latency samples, not the 15 replayed from the join cache',
    );
  });

  it('refuses clients over maxClients by closing the connection', async () => {
    const { server, port, feeder } = await setup({ maxClients: 2 });
    feeder.step(5);
    const a = new RawClient(port);
    const b = new RawClient(port);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await Promise.all([a.connected, b.connected]);
    await waitFor(() => server.clientCount === 2, 'two clients');
    const c = new RawClient(port);
    cleanups.push(() => c.close());
    await c.ended;
    assert.equal(c.bytes, 0);
    assert.equal(server.stats().refused, 1);
    assert.equal(server.clientCount, 2);
  });

  it('listens on IPv6', async () => {
    const { port, feeder, server } = await setup({ host: '::1' });
    const client = new RawClient(port, '::1');
    cleanups.push(() => client.close());
    await client.connected;
    feeder.step(31);
    await waitFor(() => client.bytes > 0, 'data over IPv6');
    assert.equal(server.address?.host, '::1');
  });

  it('a client that falls behind skips to the next keyframe: what it receives still decodes with zero errors (ffmpeg)', async () => {
    const clock = new FakeClock(1000);
    const { server, port, feeder } = await setup(
      { softLimitBytes: 100_000, softLimitMs: 300, hardLimitMs: 600_000 },
      clock,
    );
    const slow = new RawClient(port);
    cleanups.push(() => slow.close());
    await slow.connected;
    await waitFor(() => server.clientCount === 1, 'client connected');
    slow.socket.pause(); // stop reading until the server had to skip
    for (let i = 0; (server.stats().clients[0]?.dropEvents ?? 0) < 2; i++) {
      feeder.step();
      clock.advance(1000 / 30);
      await new Promise((r) => setImmediate(r));
      if (i > 20_000) assert.fail('the client never fell behind');
    }
    slow.socket.resume();
    feeder.step(60);
    await waitFor(() => slow.bytes === server.stats().clients[0]!.bytesSent, 'everything sent was received');
    const st = server.stats().clients[0]!;
    assert.ok(st.framesDropped > 0);
    const scratch = scratchDir();
    cleanups.push(scratch.cleanup);
    const file = join(scratch.dir, 'slow-client.h264');
    // The capture ends with the trailing AUD, the start of an access unit that never came; FFmpeg
    // would report that unfinished unit at end of file (docs/protocol.md), so it is cut off here.
    const data = slow.data();
    assert.deepEqual([...data.subarray(data.length - 6)], [...TRAILING_AUD]);
    writeFileSync(file, data.subarray(0, data.length - 6));
    const r = spawnSync(requireTool('ffmpeg'), ['-v', 'error', '-f', 'h264', '-i', file, '-f', 'framemd5', '-'], {
      maxBuffer: 1 << 26,
    });
    assert.equal(r.stderr.toString().trim(), '', 'no decoding errors: no frame arrived without its reference');
    const decoded = r.stdout
      .toString()
      .split('\n')
      .filter((l) => l && !l.startsWith('#')).length;
    assert.equal(decoded, st.framesSent);
  });

  it('disconnects a client that stops reading once past the hard limit, and keeps serving the others', async () => {
    const clock = new FakeClock(1000);
    const { server, port, feeder } = await setup(
      { softLimitBytes: 100_000, softLimitMs: 300, hardLimitMs: 2000 },
      clock,
    );
    const stalled = new RawClient(port);
    const good = new RawClient(port);
    cleanups.push(
      () => stalled.close(),
      () => good.close(),
    );
    await Promise.all([stalled.connected, good.connected]);
    await waitFor(() => server.clientCount === 2, 'two clients');
    stalled.socket.pause(); // never reads: kernel buffers fill, then the server's queue
    // Feed 30 frames per fake second, yielding to the event loop so sockets flush,
    // until the stalled client is dropped (kernel buffers hold a few MB first).
    for (let i = 0; server.stats().stalledDisconnects === 0; i++) {
      feeder.step();
      clock.advance(1000 / 30);
      await new Promise((r) => setImmediate(r));
      if (i > 20_000) assert.fail(`stalled client was never disconnected: ${JSON.stringify(server.stats())}`);
    }
    assert.equal(server.stats().stalledDisconnects, 1);
    assert.equal(server.clientCount, 1);
    const g = server.stats().clients[0]!;
    assert.equal(g.framesDropped, 0, 'the reading client lost nothing');
  });
});
