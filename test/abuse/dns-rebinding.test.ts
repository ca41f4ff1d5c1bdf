/**
 * DNS rebinding: a page on evil.example whose name is re-pointed at the
 * camera is same-origin with it, so Origin checks pass; only its Host
 * header gives it away. Without a token, every route of the OpenAPI
 * document (reads too: a rebound page could copy every recording out) and
 * the live WebSocket refuse a Host that is not an IP literal, localhost,
 * a .local name or the camera's name. Moved here from
 * test/api/api-security.test.ts and widened.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAbuseDaemon, type AbuseDaemon } from './abuse-daemon.js';

const UPGRADE =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

describe('DNS rebinding (no token set)', () => {
  let d: AbuseDaemon;
  before(async () => {
    d = await startAbuseDaemon({ args: ['--name', 'bike-cam'] });
  });
  after(async () => {
    await d?.close();
  });

  const foreignHosts = (port: number): string[] => [
    'evil.example',
    `evil.example:${port}`,
    'evil.example.',
    '127.0.0.1.evil.example',
    `127.0.0.1.nip.io:${port}`,
    'localhost.evil.example',
    'bike-cam.evil.example',
    'bike-cam.local.evil.example',
    'local',
    '[evil]:80',
    '[::1]x',
    '[::1]:80x',
  ];

  it('every documented route refuses every foreign Host with 403; nothing changes', async () => {
    const doc = JSON.parse((await d.http('GET', '/api/v1/openapi.json')).body.toString()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const problems: string[] = [];
    let sent = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).map((m) => m.toUpperCase())) {
        for (const host of foreignHosts(d.apiPort)) {
          const target =
            path.replace('{name}', 'log0001.mkv') +
            (path === '/download-video' || path === '/download-thumbnail' ? `?${d.recordingsDir}/log0001.mkv` : '');
          const r = await d.http(method, target, {
            headers: { Host: host, Origin: `http://${host}` },
            ...(method === 'PATCH' || method === 'POST' ? { body: '{}' } : {}),
            timeoutMs: 5000,
          });
          sent++;
          if (r.status !== 403) problems.push(`${method} ${path} Host ${host}: ${r.status}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(sent > 200);
    assert.deepEqual(d.segmentNames(), ['log0001.mkv', 'log0002.mkv']);
  });

  it('a Referer from a foreign host without Origin or Fetch Metadata is refused on a destructive route', async () => {
    const r = await d.http('GET', '/wipe-local-videos', { headers: { Referer: 'http://evil.example/page' } });
    assert.equal(r.status, 403);
    assert.deepEqual(d.segmentNames(), ['log0001.mkv', 'log0002.mkv']);
  });

  it('the live WebSocket refuses a foreign Host, and upgrades a trusted one', async () => {
    for (const host of ['evil.example', `evil.example:${d.apiPort}`]) {
      const r = await d.raw(`GET /api/v1/live HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\n${UPGRADE}\r\n`, {
        untilHead: true,
        timeoutMs: 5000,
      });
      assert.equal(r.status, 403, host);
    }
    const ok = await d.raw(
      `GET /api/v1/live HTTP/1.1\r\nHost: ${d.hostHeader}\r\nOrigin: http://${d.hostHeader}\r\n${UPGRADE}\r\n`,
      { untilHead: true, timeoutMs: 5000 },
    );
    assert.equal(ok.status, 101);
  });

  it('keeps IP literals, localhost, .local names and the camera name working', async () => {
    for (const host of [
      '192.168.9.1:8000',
      '192.168.9.1',
      'bike-cam.local',
      'bike-cam.local.:8000',
      'localhost:8000',
      'a.localhost',
      'bike-cam',
      'Bike-Cam:8000',
      '[fe80::1]:8000',
      '[::1]',
    ]) {
      assert.equal((await d.http('GET', '/battery-percent', { headers: { Host: host } })).status, 200, host);
      assert.equal((await d.http('PUT', '/blink-on', { headers: { Host: host } })).status, 200, host);
    }
    assert.equal(
      (await d.http('DELETE', '/api/v1/recordings/log0001.mkv', { headers: { Host: '192.168.9.1:8000' } })).status,
      200,
    );
    assert.deepEqual(d.segmentNames(), ['log0002.mkv']);
    d.secretsIntact();
    await d.assertServing();
  });
});
