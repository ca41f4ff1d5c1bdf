/**
 * Per-connection limits of the API server. Regressions: event feeds had no
 * cap (each holds a socket forever), and a download armed an idle-timeout
 * listener on the keep-alive socket that stayed after the download and could
 * cut a later request on the same connection.
 */
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { DEFAULT_MAX_EVENT_CLIENTS } from '../../src/api/api-events.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { makeRecordings, startTestApi } from './api-harness.js';

describe('API limits', () => {
  const scratch = scratchDir('rearview-limits-');
  after(() => scratch.cleanup());

  it('answers 429 ERR_API_TOO_MANY_CLIENTS beyond 16 event feeds, and takes one again after one closes', async () => {
    const api = await startTestApi(scratch.dir);
    const open: Array<ReturnType<typeof request>> = [];
    const openFeed = (): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(`${api.url}/api/v1/events`, (res) => {
          if (res.statusCode === 200) {
            open.push(req);
            resolve({ status: 200, body: '' });
            return;
          }
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', (err) => (open.includes(req) ? undefined : reject(err)));
        req.end();
      });
    try {
      for (let i = 0; i < DEFAULT_MAX_EVENT_CLIENTS; i++) assert.equal((await openFeed()).status, 200);
      const refused = await openFeed();
      assert.equal(refused.status, 429);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'ERR_API_TOO_MANY_CLIENTS');
      const first = open.shift();
      first?.destroy();
      await waitFor(() => api.server.events.clientCount < DEFAULT_MAX_EVENT_CLIENTS, 'the closed feed to be forgotten', 10_000, 1);
      assert.equal((await openFeed()).status, 200);
    } finally {
      for (const r of open) r.destroy();
      await api.close();
    }
  });

  it('a finished download leaves no idle-timeout listener on the keep-alive socket', async () => {
    const dir = scratchDir('rearview-keepalive-');
    makeRecordings(dir.dir, 1);
    const api = await startTestApi(dir.dir);
    const serverSockets: Socket[] = [];
    api.server.server.on('connection', (s: Socket) => serverSockets.push(s));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        request(`${api.url}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject).end();
      });
    try {
      assert.equal(await get('/battery-percent'), 200);
      assert.equal(serverSockets.length, 1);
      const socket = serverSockets[0]!;
      const before = socket.listenerCount('timeout');
      for (const path of ['/api/v1/recordings/log0001.mkv', '/api/v1/recordings/log0001.mkv', '/battery-percent']) assert.equal(await get(path), 200, path);
      assert.equal(serverSockets.length, 1, 'one keep-alive connection throughout');
      assert.equal(socket.listenerCount('timeout'), before, 'no download listener left on the socket');
    } finally {
      agent.destroy();
      await api.close();
      dir.cleanup();
    }
  });
});
