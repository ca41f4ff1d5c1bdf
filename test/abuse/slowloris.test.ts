/**
 * Slowloris: many connections that start a request and never finish it
 * (headers cut off, a body that stops, nothing at all), and event feeds
 * that hold their socket forever. Bounded to 200 slow connections; a
 * normal request and the live stream must still answer while they hang.
 * The event-feed cap moved here from test/api/api-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MAX_EVENT_CLIENTS } from '../../src/api/api-events.js';
import { waitFor } from '../support/wait.js';
import { startAbuseDaemon, streamBytes, type AbuseDaemon } from './abuse-daemon.js';

/** Opens a connection and writes `start`; resolves once connected. */
function openSlow(port: number, start: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {
      // the server cuts slow clients: the tests look for that through 'close'
    });
    socket.once('connect', () => {
      if (start) socket.write(start);
      resolve(socket);
    });
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

describe('slowloris', () => {
  let d: AbuseDaemon;
  const open: Socket[] = [];
  before(async () => {
    d = await startAbuseDaemon({ recordings: 0 });
  });
  after(async () => {
    for (const s of open) s.destroy();
    await d?.close();
  });

  it('200 unfinished requests do not keep a normal request or the stream from answering', async () => {
    const h = d.hostHeader;
    const starts = [
      ...Array<string>(80).fill(`GET /api/v1/status HTTP/1.1\r\nHost: ${h}\r\n`),
      ...Array<string>(40).fill(`POST /download-video HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 4096\r\n\r\n/tmp`),
      ...Array<string>(40).fill(`PATCH /api/v1/settings HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 65536\r\n\r\n{`),
      ...Array<string>(40).fill(''),
    ];
    for (let i = 0; i < starts.length; i += 50)
      open.push(...(await Promise.all(starts.slice(i, i + 50).map((s) => openSlow(d.apiPort, s)))));
    assert.equal(open.length, 200);
    const answered = await d.http('GET', '/api/v1/status', { timeoutMs: 5000 });
    assert.ok(!answered.timedOut, 'no answer within 5 s while 200 requests hang');
    assert.equal(answered.status, 200);
    assert.ok((await streamBytes(d.streamPort, 1, 5000)) > 0, 'the stream answers too');
    // One more byte on each: they stay slow, the daemon stays responsive.
    for (const s of open) if (!s.destroyed) s.write('X');
    assert.equal((await d.http('GET', '/battery-percent', { timeoutMs: 5000 })).status, 200);
  });

  it(`event feeds are capped at ${DEFAULT_MAX_EVENT_CLIENTS} (429 ERR_API_TOO_MANY_CLIENTS), and a closed one frees its place`, async () => {
    const feeds: Socket[] = [];
    const openFeed = (): Promise<{ status: number; text: string; socket: Socket }> =>
      new Promise((resolve) => {
        const socket = connect(d.apiPort, '127.0.0.1');
        let text = '';
        socket.on('error', () => {
          // the server cuts slow clients: the tests look for that through 'close'
        });
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
          // A refusal is complete at close; an accepted feed at its first event.
          if (m && m[1] === '200' && text.includes('\r\n\r\n')) resolve({ status: 200, text, socket });
        });
        socket.once('close', () =>
          resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, socket }),
        );
        socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\n\r\n`);
      });
    try {
      for (let i = 0; i < DEFAULT_MAX_EVENT_CLIENTS; i++) {
        const f = await openFeed();
        assert.equal(f.status, 200, `feed ${i + 1}`);
        feeds.push(f.socket);
      }
      const refused = await openFeed();
      assert.equal(refused.status, 429);
      assert.match(refused.text, /ERR_API_TOO_MANY_CLIENTS/);
      feeds.shift()?.destroy();
      await waitFor(
        async () => {
          const f = await openFeed();
          if (f.status === 200) feeds.push(f.socket);
          return f.status === 200;
        },
        'a feed to be taken again after one closed',
        10_000,
        50,
      );
    } finally {
      for (const s of feeds) s.destroy();
    }
  });

  it('still serves once the slow clients give up', async () => {
    for (const s of open) s.destroy();
    await d.assertServing();
  });
});
