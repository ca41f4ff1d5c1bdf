/**
 * Connection storms: 500 connects and disconnects on each port (a clean
 * close right away, a reset, a reset after reading, a reset half-way
 * through a request or before reading its answer), 50 at a time. The
 * daemon must stay up, forget every client, and keep its memory bounded.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.js';
import { startAbuseDaemon, type AbuseDaemon } from './abuse-daemon.js';

type Ending = 'close' | 'reset' | 'read-then-reset' | 'half-request-then-reset' | 'request-then-reset';

/** One connection that ends as `ending` says; resolves when it is gone. */
function hitAndRun(port: number, ending: Ending, request: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.on('error', () => {
      // a reset is one of the outcomes a storm expects; 'close' follows
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => {
      switch (ending) {
        case 'close':
          // Reads (and drops) what comes until the daemon closes its side too.
          socket.resume();
          socket.end();
          break;
        case 'reset':
          socket.resetAndDestroy();
          break;
        case 'read-then-reset':
          socket.once('data', () => socket.resetAndDestroy());
          break;
        case 'half-request-then-reset':
          socket.write(request.slice(0, request.length >> 1), () => socket.resetAndDestroy());
          break;
        case 'request-then-reset':
          socket.write(request, () => socket.resetAndDestroy());
          break;
      }
    });
  });
}

async function storm(port: number, count: number, endings: Ending[], request: string): Promise<void> {
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) =>
        hitAndRun(port, endings[(i + j) % endings.length] as Ending, request),
      ),
    );
  }
}

describe('connection storms', () => {
  let d: AbuseDaemon;
  let rssBeforeKiB: number;
  before(async () => {
    d = await startAbuseDaemon({ recordings: 0 });
    rssBeforeKiB = d.rssKiB();
  });
  after(async () => {
    await d?.close();
  });

  const streamClients = async (): Promise<number> => {
    const r = await d.http('GET', '/api/v1/status');
    return (JSON.parse(r.body.toString()) as { stream: { clients: unknown[] } }).stream.clients.length;
  };

  it('500 connects and disconnects on the stream port', async () => {
    await storm(d.streamPort, 500, ['close', 'reset', 'read-then-reset'], '');
    await waitFor(async () => (await streamClients()) === 0, 'every stream client to be forgotten', 10_000, 50);
    assert.equal(d.serve.process.exitCode, null);
  });

  it('500 connects and disconnects on the API port', async () => {
    const request = `GET /api/v1/recordings HTTP/1.1\r\nHost: ${d.hostHeader}\r\n\r\n`;
    await storm(d.apiPort, 500, ['close', 'reset', 'half-request-then-reset', 'request-then-reset'], request);
    const upgrade = `GET /api/v1/live HTTP/1.1\r\nHost: ${d.hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    await storm(d.apiPort, 100, ['request-then-reset', 'half-request-then-reset'], upgrade);
    await waitFor(async () => (await streamClients()) === 0, 'every live-view client to be forgotten', 10_000, 50);
  });

  it('stays up with bounded memory', async () => {
    await d.assertServing();
    const grownMiB = (d.rssKiB() - rssBeforeKiB) / 1024;
    assert.ok(grownMiB < 64, `RSS grew by ${grownMiB.toFixed(0)} MiB`);
    assert.ok(
      !d.serve.stderrLines.some((l) => /ECONNRESET|EPIPE/.test(l) && /uncaught|unhandled/i.test(l)),
      d.serve.stderrLines.join('\n'),
    );
  });
});
