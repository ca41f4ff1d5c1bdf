/**
 * WsStreamServer's gate for exclusive mode: `accepting = false` refuses
 * upgrades with 503 and the reason, `disconnectAll` closes every client with
 * 1013 and the reason, and `onClients` reports each client joining and
 * leaving exactly once (the mode controller counts them). A real hub (no
 * frames needed) and a real HTTP server on 127.0.0.1:0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { WsStreamServer } from '../../src/outputs/ws-stream-server.js';
import { waitFor } from '../support/wait.js';

describe('WsStreamServer gate', () => {
  const hub = new StreamHub({});
  const server = createServer((_req, res) => res.end());
  const ws = new WsStreamServer({ hub });
  const events: string[] = [];
  const unsubscribe = ws.onClients((event) => events.push(event));
  after(async () => {
    unsubscribe();
    await ws.close();
    await new Promise((r) => server.close(r));
    await hub.close();
  });

  async function port(): Promise<number> {
    if (!server.listening) {
      ws.attach(server, '/live');
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      await hub.start();
    }
    return (server.address() as AddressInfo).port;
  }

  it('reports clients, closes them all with 1013 and the reason, and refuses new ones with 503', async () => {
    const p = await port();
    const a = new WebSocket(`ws://127.0.0.1:${p}/live`);
    const b = new WebSocket(`ws://127.0.0.1:${p}/live`);
    await Promise.all([once(a, 'open'), once(b, 'open')]);
    // 'open' on the client can precede the server's accept callback by a tick: wait for the count.
    await waitFor(() => ws.clientCount >= 2, 'both clients to be counted', 5000, 1);
    assert.deepEqual(events, ['connected', 'connected']);

    ws.accepting = false;
    ws.refusalReason = 'Camera Recording';
    const closes = [once(a, 'close'), once(b, 'close')];
    ws.disconnectAll('camera recording (test)');
    const [[codeA, reasonA], [codeB]] = (await Promise.all(closes)) as [[number, Buffer], [number, Buffer]];
    assert.equal(codeA, 1013);
    assert.equal(codeB, 1013);
    assert.equal(String(reasonA), 'camera recording (test)');
    assert.deepEqual(events, ['connected', 'connected', 'disconnected', 'disconnected']);
    assert.equal(ws.clientCount, 0);

    const refused = new WebSocket(`ws://127.0.0.1:${p}/live`);
    refused.on('error', () => undefined);
    const [, res] = (await once(refused, 'unexpected-response')) as [
      unknown,
      { statusCode: number; statusMessage: string },
    ];
    assert.equal(res.statusCode, 503);
    assert.equal(res.statusMessage, 'Camera Recording');
    refused.terminate();
    assert.equal(events.length, 4, 'a refused client is never reported');

    ws.accepting = true;
    const c = new WebSocket(`ws://127.0.0.1:${p}/live`);
    await once(c, 'open');
    c.close();
    await once(c, 'close');
    await waitFor(() => events.length >= 6, 'connect/disconnect to be reported', 5000, 1);
    assert.deepEqual(events.slice(4), ['connected', 'disconnected']);
  });
});
