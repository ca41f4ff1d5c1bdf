/**
 * Server-Sent Events: a mode change (exclusive window expiring on a fake
 * clock) reaches a listener as a `mode` event; a listener that stops reading
 * is dropped instead of buffered without bound.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { FakeClock } from '../support/fake-clock.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { startTestApi } from './api-harness.js';

describe('/api/v1/events', () => {
  const scratch = scratchDir('rearview-events-');
  after(() => scratch.cleanup());

  it('delivers a mode event when the exclusive window expires', async () => {
    const clock = new FakeClock();
    const api = await startTestApi(scratch.dir, { config: { mode: 'exclusive', streamWindowMs: '60s' }, clock });
    try {
      const req = request(`${api.url}/api/v1/events`);
      const mode = new Promise<Record<string, unknown>>((resolve, reject) => {
        req.on('response', (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const ev = /^event: (.*)$/m.exec(block)?.[1];
              // The window expires once the feed is open.
              if (ev === 'hello') clock.advance(60_000);
              if (ev === 'mode')
                resolve(JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? '{}') as Record<string, unknown>);
            }
          });
        });
        req.on('error', reject);
      });
      req.end();
      const state = await mode;
      assert.equal(state.activity, 'recording');
      assert.equal(state.reason, 'no stream client within 60 s');
      req.destroy();
    } finally {
      await api.close();
    }
  });

  it('drops a listener that stops reading', async () => {
    const api = await startTestApi(scratch.dir);
    try {
      const req = request(`${api.url}/api/v1/events`);
      const opened = new Promise<void>((resolve) =>
        req.on('response', (res) => {
          res.pause(); // never reads again
          resolve();
        }),
      );
      req.on('error', () => undefined);
      req.end();
      await opened;
      await waitFor(() => api.server.events.clientCount > 0, 'the feed to register', 10_000, 5);
      const big = { name: 'x'.repeat(64 * 1024) };
      for (let i = 0; i < 2000 && api.server.events.clientCount > 0; i++) {
        api.server.events.publish('recording-removed', big);
        // Let the socket flush what the kernel takes, so the backlog is what is really stuck.
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(api.server.events.clientCount, 0, 'the stuck listener was dropped');
      req.destroy();
    } finally {
      await api.close();
    }
  });
});
