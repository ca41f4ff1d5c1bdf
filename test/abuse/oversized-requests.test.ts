/**
 * Oversized and hostile requests: huge header sections, many headers, long
 * URLs, bodies far over the routes' limits (declared, chunked, or a lie in
 * Content-Length), bodies on routes that take none, and JSON built to hurt
 * a parser. Each gets a 4xx (or a closed connection) without the daemon
 * holding the bytes: its memory stays bounded and it keeps serving.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startAbuseDaemon, type AbuseDaemon, type RawExchange } from './abuse-daemon.js';

const MiB = 1024 * 1024;

/**
 * Streams `head` then up to `totalBytes` of filler to the API port,
 * stopping early when the server answers or closes; resolves with what
 * came back and how much was written.
 */
function pushBytes(
  port: number,
  head: string,
  totalBytes: number,
  filler = 'a',
): Promise<{ answer: string; written: number }> {
  const socket = connect(port, '127.0.0.1');
  const block = Buffer.alloc(64 * 1024, filler);
  let answer = '';
  let written = 0;
  let stopped = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), 20_000);
    const pump = (): void => {
      while (!stopped && written < totalBytes) {
        written += block.length;
        if (!socket.write(block)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!stopped) socket.end();
    };
    socket.on('error', () => {
      stopped = true;
    });
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      stopped = true;
    });
    socket.once('close', () => {
      stopped = true;
      clearTimeout(timer);
      resolve({ answer, written });
    });
    socket.once('connect', () => {
      socket.write(head);
      pump();
    });
  });
}

describe('oversized and hostile requests', () => {
  let d: AbuseDaemon;
  let rssBeforeKiB: number;
  before(async () => {
    d = await startAbuseDaemon();
    rssBeforeKiB = d.rssKiB();
  });
  after(async () => {
    await d?.close();
  });

  /**
   * The server answered `status` and closed, or closed first: when it closes
   * while bytes are still arriving, the kernel resets the connection and the
   * answer in flight may be lost. Either way it stopped reading early.
   */
  const cutShort = (r: { answer: string; written: number }, status: number, total: number, label: string): void => {
    assert.ok(r.answer === '' || r.answer.startsWith(`HTTP/1.1 ${status} `), `${label}: ${r.answer.slice(0, 40)}`);
    assert.ok(r.written < total, `${label}: the daemon read all ${r.written} bytes`);
  };

  const refusedWith = (r: RawExchange, statuses: number[], label: string): void => {
    assert.ok(!r.timedOut, `${label}: connection left open`);
    assert.ok(statuses.includes(r.status), `${label}: status ${r.status}`);
  };

  it('header sections over the limit: one huge header, thousands of headers, a long URL', async () => {
    refusedWith(
      await d.http('GET', '/api/v1/status', { headers: { 'X-Big': 'a'.repeat(64 * 1024) } }),
      [431],
      'one 64 KiB header',
    );
    const many: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) many[`X-H${i}`] = 'v';
    refusedWith(await d.http('GET', '/api/v1/status', { headers: many }), [431], '3000 headers');
    refusedWith(await d.http('GET', `/api/v1/status?${'a=1&'.repeat(20_000)}`), [414, 431], '80 KB URL');
    refusedWith(
      await d.http('GET', `/download-video?/${'a/'.repeat(40_000)}log0001.mkv`),
      [414, 431],
      '80 KB legacy path',
    );
  });

  it('an endless header line is cut off long before it ends', async () => {
    const r = await pushBytes(
      d.apiPort,
      `GET /api/v1/status HTTP/1.1\r\nHost: ${d.hostHeader}\r\nX-Endless: `,
      16 * MiB,
    );
    cutShort(r, 431, 16 * MiB, 'endless header');
  });

  it('bodies over the limits: declared, chunked, and a Content-Length that lies', async () => {
    const post = (body: number, extra = ''): string =>
      `POST /download-video HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\n${extra}Content-Length: ${body}\r\n\r\n`;
    const declared = await pushBytes(d.apiPort, post(16 * MiB), 16 * MiB, '/');
    cutShort(declared, 413, 16 * MiB, 'POST /download-video over 4 KiB');
    const patch = await pushBytes(
      d.apiPort,
      `PATCH /api/v1/settings HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${16 * MiB}\r\n\r\n{"x":"`,
      16 * MiB,
    );
    cutShort(patch, 413, 16 * MiB, 'PATCH /api/v1/settings over 64 KiB');
    const offer = await pushBytes(
      d.apiPort,
      `POST /api/v1/whep HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\nContent-Type: application/sdp\r\nContent-Length: ${16 * MiB}\r\n\r\nv=0\r\n`,
      16 * MiB,
    );
    cutShort(offer, 413, 16 * MiB, 'POST /api/v1/whep over 64 KiB');
    const clock = await pushBytes(
      d.apiPort,
      `POST /api/v1/clock HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${16 * MiB}\r\n\r\n{"epochMs":"`,
      16 * MiB,
    );
    cutShort(clock, 413, 16 * MiB, 'POST /api/v1/clock over 1 KiB');
    const moment = await pushBytes(
      d.apiPort,
      `POST /api/v1/moments HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${16 * MiB}\r\n\r\n{"note":"`,
      16 * MiB,
    );
    cutShort(moment, 413, 16 * MiB, 'POST /api/v1/moments over 4 KiB');
    // Chunked: one 1 MiB chunk header and its bytes, repeated.
    const chunkHead = `PATCH /api/v1/settings HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${(16 * MiB).toString(16)}\r\n`;
    const chunked = await pushBytes(d.apiPort, chunkHead, 16 * MiB);
    cutShort(chunked, 413, 16 * MiB, 'chunked PATCH');
    // Declares 10 GB, sends a little, then stops: the request times out or is refused, never buffered.
    const lie = await d.raw(`${post(10_000_000_000)}${'/'.repeat(8192)}`, { timeoutMs: 10_000 });
    assert.equal(lie.status, 413, 'a 10 GB Content-Length');
  });

  it('a body on a route that takes none is dropped, and the keep-alive connection goes on', async () => {
    const body = 'x'.repeat(MiB);
    const r = await d.raw(
      `GET /battery-percent HTTP/1.1\r\nHost: ${d.hostHeader}\r\nContent-Length: ${body.length}\r\n\r\n${body}GET /cpu-temp HTTP/1.1\r\nHost: ${d.hostHeader}\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(
      r.responses.map((x) => x.status),
      [200, 200],
    );
  });

  it('JSON built to hurt: deep nesting, prototype keys, huge numbers, wrong types', async () => {
    const bodies = [
      '['.repeat(60_000),
      `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
      '{"__proto__":{"segmentMs":1000,"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"segmentMs":1e309}',
      '{"segmentMs":-1}',
      '{"segmentMs":[1,2,3]}', // was a 500: a duration that is neither string nor number
      '{"streamWindowMs":{"a":1}}',
      '{"segmentMs":true}',
      '{"video":"x"}',
      '{"video":{"fps":{"$gt":0}}}',
      'null',
      '[]',
      '"string"',
      '1',
      '',
      '\uFEFF{}',
      Buffer.from([0xff, 0xfe, 0x00, 0x7b]).toString('latin1'),
    ];
    const before = (await d.http('GET', '/api/v1/settings')).body.toString();
    const problems: string[] = [];
    for (const body of bodies) {
      const r = await d.http('PATCH', '/api/v1/settings', {
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from(body, 'latin1'),
      });
      if (r.status !== 400 && r.status !== 200) problems.push(`${body.slice(0, 30)}: ${r.status}`);
      if (r.status >= 500) problems.push(`${body.slice(0, 30)}: server error ${r.body.toString()}`);
    }
    // The same bodies (and numbers that are no time) as a clock: 400 (413 over its 1 KiB), never set.
    for (const body of [...bodies, '{"epochMs":1e309}', '{"epochMs":-1}', '{"epochMs":"1800000000000"}']) {
      const r = await d.http('POST', '/api/v1/clock', {
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from(body, 'latin1'),
      });
      if (r.status !== 400 && r.status !== 413) problems.push(`clock ${body.slice(0, 30)}: ${r.status}`);
    }
    assert.deepEqual(problems, []);
    const after = JSON.parse((await d.http('GET', '/api/v1/settings')).body.toString()) as Record<string, unknown>;
    assert.equal(JSON.stringify(after), before, 'no setting changed');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('memory stays bounded and the daemon still serves', async () => {
    const grownMiB = (d.rssKiB() - rssBeforeKiB) / 1024;
    assert.ok(grownMiB < 96, `RSS grew by ${grownMiB.toFixed(0)} MiB`);
    d.secretsIntact();
    await d.assertServing();
  });
});
