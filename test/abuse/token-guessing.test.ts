/**
 * With `--api-token`: no route answers without it, a bounded run of guesses
 * (random, prefixes, near misses, other schemes and headers) gets nothing
 * but 401 and, after the wrong-token limit, 429 for that address, and path
 * or method tricks do not reach a route past the check. Guesses come from
 * their own loopback addresses, so the limit they trip does not block the
 * other cases.
 * Moved here from test/api/api-security.test.ts and widened.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAbuseDaemon, type AbuseDaemon } from './abuse-daemon.js';

const TOKEN = 'Tk7-s3cret-9QzX';
const UPGRADE =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** Deterministic guesses of the token's length over its alphabet (a fixed-seed LCG). */
function randomGuesses(count: number): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-';
  let seed = 0x2545f491;
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 8;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: TOKEN.length }, () => alphabet[next() % alphabet.length]).join(''),
  );
}

describe('API token guessing', () => {
  let d: AbuseDaemon;
  before(async () => {
    d = await startAbuseDaemon({ recordings: 1, apiToken: TOKEN });
  });
  after(async () => {
    await d?.close();
  });

  it('refuses every documented route and unknown paths without the token (401, WWW-Authenticate: Bearer)', async () => {
    const doc = JSON.parse((await d.http('GET', '/api/v1/openapi.json')).body.toString()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const problems: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      // Pairing is public by design: it checks the token itself (the next case and token-and-pairing.test.ts).
      if (path === '/api/v1/pair') continue;
      for (const method of Object.keys(item).map((m) => m.toUpperCase())) {
        const r = await d.http(method, path.replace('{name}', 'log0001.mkv'), { auth: false, timeoutMs: 5000 });
        if (r.status !== 401 || r.responses[0]?.headers['www-authenticate'] !== 'Bearer')
          problems.push(`${method} ${path}: ${r.status}`);
      }
    }
    for (const path of ['/no-such', '/api/v1/no-such', '/metrics']) {
      const r = await d.http('GET', path, { auth: false });
      if (r.status !== 401) problems.push(`GET ${path}: ${r.status}`);
    }
    assert.deepEqual(problems, []);
    const pairState = await d.http('GET', '/api/v1/pair', { auth: false });
    assert.equal(pairState.status, 200);
    assert.ok(
      !pairState.body.toString().includes(TOKEN),
      'the pairing state never shows the token to a client without it',
    );
    const wrong = await d.http('GET', '/api/v1/status', { headers: { Authorization: 'Bearer nope' } });
    assert.equal((JSON.parse(wrong.body.toString()) as { error: { code: string } }).error.code, 'ERR_API_UNAUTHORIZED');
  });

  it('a bounded run of guesses gets only 401, then 429 once the address passed the wrong-token limit', async () => {
    const near = [
      '',
      'nope',
      TOKEN.slice(0, -1),
      TOKEN.slice(1),
      `${TOKEN}x`,
      `x${TOKEN}`,
      TOKEN.toUpperCase(),
      TOKEN.toLowerCase(),
      TOKEN.slice(0, 1),
      TOKEN.slice(0, TOKEN.length / 2),
      `${TOKEN}\u0000`,
      `${TOKEN}%00`,
      TOKEN.split('').reverse().join(''),
      `${TOKEN.slice(0, -1)}${String.fromCharCode(TOKEN.charCodeAt(TOKEN.length - 1) + 1)}`,
      'null',
      'undefined',
      '*',
      'true',
      TOKEN.repeat(2),
    ];
    const guesses = [...near, ...randomGuesses(150)];
    const problems: string[] = [];
    const expectRefused = async (label: string, promise: ReturnType<AbuseDaemon['http']>): Promise<void> => {
      const r = await promise;
      // 400: the HTTP parser refused a byte no real client sends (NUL); 429: this address is past
      // the wrong-token limit. Either way, no way in.
      if (r.status !== 401 && r.status !== 400 && r.status !== 429) problems.push(`${label}: ${r.status}`);
      if (r.status === 429) limited += 1;
    };
    let limited = 0;
    const guesser = '127.0.0.2';
    for (const g of guesses) {
      await expectRefused(
        `Bearer ${JSON.stringify(g)}`,
        d.http('GET', '/api/v1/status', { headers: { Authorization: `Bearer ${g}` }, localAddress: guesser }),
      );
    }
    for (const g of near) {
      await expectRefused(
        `?token=${JSON.stringify(g)}`,
        d.http('GET', `/api/v1/status?token=${encodeURIComponent(g)}`, { auth: false, localAddress: guesser }),
      );
    }
    // The right token in places that are not the token's.
    const elsewhere: Array<[string, Record<string, string>, string]> = [
      ['Basic', { Authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` }, '/api/v1/status'],
      ['bare Authorization', { Authorization: TOKEN }, '/api/v1/status'],
      ['Token scheme', { Authorization: `Token ${TOKEN}` }, '/api/v1/status'],
      ['empty Bearer', { Authorization: 'Bearer' }, '/api/v1/status'],
      ['X-Api-Token', { 'X-Api-Token': TOKEN }, '/api/v1/status'],
      ['Proxy-Authorization', { 'Proxy-Authorization': `Bearer ${TOKEN}` }, '/api/v1/status'],
      ['token in the middle of a query', {}, `/api/v1/status?a=1&token=${TOKEN}&b=2`],
      ['token as a path segment', {}, `/api/v1/status/${TOKEN}`],
      ['token in the fragment', {}, `/api/v1/status#token=${TOKEN}`],
    ];
    for (const [label, headers, target] of elsewhere) {
      const r = await d.http('GET', target, { headers, auth: false, localAddress: '127.0.0.3' });
      if (r.status !== 401) problems.push(`${label}: ${r.status}`);
    }
    assert.deepEqual(problems, []);
    assert.ok(limited > 100, `the wrong-token limit answered 429 to ${limited} of the guesses`);
  });

  it('path and method tricks do not pass the check', async () => {
    const targets = [
      '//api/v1/status',
      '/api/v1/status/',
      '/API/V1/STATUS',
      '/api/v1/../api/v1/status',
      '/./api/v1/status',
      '/%61pi/v1/status',
      `http://${d.hostHeader}/api/v1/status`,
      '/assets/../api/v1/status',
      '/assets/%2e%2e/api/v1/status',
      '/assets/..%2fapi%2fv1%2fstatus',
      '*',
      '/api/v1/recordings/log0001.mkv',
    ];
    const problems: string[] = [];
    for (const target of targets) {
      for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'DELETE']) {
        const r = await d.http(method, target, { auth: false });
        if (r.status < 400 || (r.status >= 500 && r.status !== 501)) problems.push(`${method} ${target}: ${r.status}`);
        if (r.body.toString().includes('"uptime')) problems.push(`${method} ${target}: status document leaked`);
      }
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(d.segmentNames(), ['log0001.mkv']);
  });

  it('the live WebSocket and the event feed refuse a wrong or missing token', async () => {
    for (const q of ['', '?token=wrong', `?token=${TOKEN.slice(0, -1)}`]) {
      const r = await d.raw(`GET /api/v1/live${q} HTTP/1.1\r\nHost: ${d.hostHeader}\r\n${UPGRADE}\r\n`, {
        untilHead: true,
        timeoutMs: 5000,
      });
      assert.equal(r.status, 401, `live${q}`);
      const feed = await d.http('GET', `/api/v1/events${q}`, { auth: false, timeoutMs: 5000 });
      assert.equal(feed.status, 401, `events${q}`);
    }
    const ok = await d.raw(
      `GET /api/v1/live HTTP/1.1\r\nHost: ${d.hostHeader}\r\nAuthorization: Bearer ${TOKEN}\r\n${UPGRADE}\r\n`,
      { untilHead: true, timeoutMs: 5000 },
    );
    assert.equal(ok.status, 101);
  });

  it('the right token works as Authorization: Bearer or the pairing cookie, never as ?token=, also beside a legacy path query', async () => {
    assert.equal((await d.http('GET', '/api/v1/status')).status, 200);
    assert.equal((await d.http('GET', `/battery-percent?token=${TOKEN}`, { auth: false })).status, 401);
    assert.equal(
      (await d.http('GET', '/battery-percent', { auth: false, headers: { Cookie: `rearview_token=${TOKEN}` } })).status,
      200,
    );
    const list = JSON.parse((await d.http('GET', '/list-local-videos')).body.toString()) as Array<{
      path: string;
      date_updated: string;
    }>;
    const thumb = `${d.recordingsDir}/log0001_${list[0]?.date_updated}.jpg`;
    assert.equal((await d.http('GET', `/download-thumbnail?${thumb}&token=${TOKEN}`, { auth: false })).status, 401);
    assert.equal((await d.http('GET', `/download-thumbnail?${thumb}`)).status, 200);
    await d.assertServing();
  });
});
