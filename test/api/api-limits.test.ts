/**
 * Per-connection limits of the API server. Regression: a download armed an
 * idle-timeout listener on the keep-alive socket that stayed after the
 * download and could cut a later request on the same connection. (The
 * event-feed cap is tested against a real daemon in test/abuse/slowloris.)
 */
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { scratchDir } from '../support/paths.js';
import { makeRecordings, startTestApi } from './api-harness.js';

describe('API limits', () => {
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
        })
          .on('error', reject)
          .end();
      });
    try {
      assert.equal(await get('/battery-percent'), 200);
      assert.equal(serverSockets.length, 1);
      const socket = serverSockets[0]!;
      const before = socket.listenerCount('timeout');
      for (const path of ['/api/v1/recordings/log0001.mkv', '/api/v1/recordings/log0001.mkv', '/battery-percent'])
        assert.equal(await get(path), 200, path);
      assert.equal(serverSockets.length, 1, 'one keep-alive connection throughout');
      assert.equal(socket.listenerCount('timeout'), before, 'no download listener left on the socket');
    } finally {
      agent.destroy();
      await api.close();
      dir.cleanup();
    }
  });
});
