/**
 * Cross-site request forgery: a page on another site makes the visitor's
 * browser send a state-changing request to the camera. Every route the
 * daemon's OpenAPI document marks `x-refused-cross-site` gets each hostile
 * combination of Origin / Sec-Fetch-Site / Referer and must answer 403
 * with nothing changed; our own page and direct clients (curl, the app:
 * no browser headers) keep working. Also the route coverage check of the
 * suite (see abuse-daemon.ts). Moved here from test/api/api-security.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COVERED_ROUTES, startAbuseDaemon, type AbuseDaemon, type RawExchange } from './abuse-daemon.js';

interface Operation {
  method: string;
  path: string;
  destructive: boolean;
}

async function operations(d: AbuseDaemon): Promise<Operation[]> {
  const r = await d.http('GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200);
  const doc = JSON.parse(r.body.toString()) as {
    paths: Record<string, Record<string, { 'x-refused-cross-site'?: boolean }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      destructive: op['x-refused-cross-site'] === true,
    })),
  );
}

/** A request for `op` against the fixture recordings (log0001.mkv for `{name}`). */
function send(d: AbuseDaemon, op: Operation, headers: Record<string, string>): Promise<RawExchange> {
  const target = op.path.replace('{name}', 'log0001.mkv');
  const body = op.method === 'PATCH' ? '{"segmentMs":"30s"}' : undefined;
  return d.http(op.method, target, {
    headers: body ? { ...headers, 'Content-Type': 'application/json' } : headers,
    ...(body ? { body } : {}),
  });
}

describe('cross-site requests to state-changing routes', () => {
  let d: AbuseDaemon;
  let ops: Operation[];
  before(async () => {
    d = await startAbuseDaemon({ recordings: 3 });
    ops = await operations(d);
  });
  after(async () => {
    await d?.close();
  });

  it('every route of the OpenAPI document is in the abuse suite, with the right kind', () => {
    const documented = ops.map((o) => `${o.method} ${o.path}`).sort();
    assert.deepEqual(
      documented,
      Object.keys(COVERED_ROUTES).sort(),
      'a route was added or removed: list it in COVERED_ROUTES (test/abuse/abuse-daemon.ts) and give it its abuse cases',
    );
    for (const op of ops) {
      assert.equal(
        COVERED_ROUTES[`${op.method} ${op.path}`] === 'destructive',
        op.destructive,
        `${op.method} ${op.path}: destructive in the document and in COVERED_ROUTES must agree`,
      );
    }
  });

  it('refuses each hostile header combination on each destructive route with 403; nothing changes', async () => {
    const port = d.apiPort;
    const hostile: Array<Record<string, string>> = [
      { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'CROSS-SITE' },
      { Origin: 'http://evil.example' },
      { Origin: 'null' },
      { Origin: 'not a url' },
      { 'Sec-Fetch-Site': 'same-site' },
      { 'Sec-Fetch-Site': 'same-site', Origin: 'http://other.local:8000' },
      { 'Sec-Fetch-Site': 'same-origin', Origin: 'http://evil.example' },
      { Origin: `http://127.0.0.1:${port + 1}` },
      { Origin: `http://127.0.0.1:${port}@evil.example` },
      { Origin: `http://127.0.0.1:${port}.evil.example` },
      { Referer: 'http://evil.example/page' },
      { Referer: `http://127.0.0.1:${port}.evil.example/` },
      { Referer: ':::: not a url' },
    ];
    const settingsBefore = (await d.http('GET', '/api/v1/settings')).body.toString();
    const ledBefore = (JSON.parse((await d.http('GET', '/api/v1/status')).body.toString()) as { led: string }).led;
    const destructive = ops.filter((o) => o.destructive);
    assert.ok(destructive.length >= 7, `only ${destructive.length} destructive routes in the document`);
    const problems: string[] = [];
    for (const op of destructive) {
      for (const headers of hostile) {
        const r = await send(d, op, headers);
        if (r.status !== 403) problems.push(`${op.method} ${op.path} ${JSON.stringify(headers)}: ${r.status}`);
        else if (op.path.startsWith('/api/') && !r.body.toString().includes('ERR_API_CROSS_SITE'))
          problems.push(`${op.method} ${op.path}: ${r.body.toString()}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(d.segmentNames(), ['log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    assert.equal((await d.http('GET', '/api/v1/settings')).body.toString(), settingsBefore);
    assert.equal(
      (JSON.parse((await d.http('GET', '/api/v1/status')).body.toString()) as { led: string }).led,
      ledBefore,
    );
    d.secretsIntact();
  });

  it('refuses a WebRTC offer (WHEP) from another site, as the WebSocket upgrade is, before reading the offer', async () => {
    const offer = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n';
    const hostile: Array<Record<string, string>> = [
      { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' },
      { Origin: 'null' },
      { Referer: 'http://evil.example/page' },
      { Origin: `http://127.0.0.1:${d.apiPort}.evil.example` },
    ];
    for (const headers of hostile) {
      const r = await d.http('POST', '/api/v1/whep', {
        headers: { ...headers, 'Content-Type': 'application/sdp' },
        body: offer,
      });
      assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.body.toString()}`);
      const del = await d.http('DELETE', `/api/v1/whep/${'a'.repeat(24)}`, { headers });
      assert.equal(del.status, 403, `DELETE ${JSON.stringify(headers)}`);
    }
    // Our own page's offer is read (and this one refused for what it is, not for where it came from).
    const own = await d.http('POST', '/api/v1/whep', {
      headers: { Origin: `http://${d.hostHeader}`, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.ok(own.status === 400 || own.status === 503, `own page: ${own.status} ${own.body.toString()}`);
  });

  it('allows reads cross-site, and state changes from our own page and from clients without browser headers', async () => {
    const evil = { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' };
    assert.equal((await d.http('GET', '/battery-percent', { headers: evil })).status, 200, 'reads are not destructive');
    const own = { Origin: `http://${d.hostHeader}`, 'Sec-Fetch-Site': 'same-origin' };
    assert.equal((await d.http('PUT', '/blink-on', { headers: own })).status, 200);
    assert.equal(
      (await d.http('PUT', '/blink-off', { headers: { 'Sec-Fetch-Site': 'none' } })).status,
      200,
      'typed into the address bar',
    );
    assert.equal((await d.http('DELETE', '/api/v1/recordings/log0001.mkv', { headers: own })).status, 200);
    assert.equal(
      (await d.http('DELETE', '/api/v1/recordings/log0002.mkv', { headers: { Referer: `http://${d.hostHeader}/` } }))
        .status,
      200,
    );
    const wipe = await d.http('GET', '/wipe-local-videos');
    assert.equal(wipe.status, 200);
    assert.deepEqual(d.segmentNames(), []);
    d.secretsIntact();
    await d.assertServing();
  });
});
