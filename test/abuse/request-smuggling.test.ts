/**
 * Request smuggling and malformed framing: a request whose length could be
 * read two ways (Content-Length with Transfer-Encoding, repeated or odd
 * Content-Length, obfuscated Transfer-Encoding, broken chunked encoding,
 * malformed header lines) must get one 400 and a closed connection, so a
 * request hidden after it never runs. The hidden request here is a DELETE
 * of a recording; the recording must survive every case. A proxy in front
 * of the camera (a phone app's relay, a reverse proxy on the bike's hub)
 * would otherwise desynchronise from the daemon.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAbuseDaemon, type AbuseDaemon } from './abuse-daemon.js';

describe('request smuggling and malformed framing', () => {
  let d: AbuseDaemon;
  let hidden: string;
  let host: string;
  before(async () => {
    d = await startAbuseDaemon();
    host = d.hostHeader;
    hidden = `DELETE /api/v1/recordings/log0001.mkv HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  });
  after(async () => {
    await d?.close();
  });

  /** Ambiguous or malformed requests, each followed by the hidden DELETE. */
  const ambiguous = (): Record<string, string> => {
    const post = `POST /download-video HTTP/1.1\r\nHost: ${host}\r\n`;
    const chunked = `${post}Transfer-Encoding: chunked\r\n\r\n`;
    return {
      'CL.TE': `${post}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
      'TE.CL': `${post}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`,
      'two Content-Length, different': `${post}Content-Length: 0\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
      'two Content-Length, same': `${post}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd${hidden}`,
      'Content-Length list': `${post}Content-Length: 0, ${hidden.length}\r\n\r\n${hidden}`,
      'Content-Length -1': `${post}Content-Length: -1\r\n\r\n${hidden}`,
      'Content-Length +0': `${post}Content-Length: +0\r\n\r\n${hidden}`,
      'Content-Length 0x0': `${post}Content-Length: 0x0\r\n\r\n${hidden}`,
      'Content-Length overflow': `${post}Content-Length: 99999999999999999999999\r\n\r\n${hidden}`,
      'Transfer-Encoding twice': `${post}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n${hidden}`,
      'Transfer-Encoding: xchunked': `${post}Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n\r\n${hidden}`,
      'Transfer-Encoding with space before colon': `${post}Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n${hidden}`,
      'Transfer-Encoding: chunked, identity': `${post}Transfer-Encoding: chunked, identity\r\n\r\n${hidden}`,
      'Transfer-Encoding: identity': `${post}Transfer-Encoding: identity\r\n\r\n${hidden}`,
      'Transfer-Encoding folded (obs-fold)': `${post}X: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n${hidden}`,
      'Transfer-Encoding after a tab, with Content-Length': `${post}Transfer-Encoding:\tchunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n${hidden}`,
      'chunk size zz': `${chunked}zz\r\nabc\r\n0\r\n\r\n${hidden}`,
      'chunk size overflow': `${chunked}fffffffffffffffff1\r\nabc\r\n0\r\n\r\n${hidden}`,
      'chunk size -1': `${chunked}-1\r\nabc\r\n0\r\n\r\n${hidden}`,
      'chunk without CRLF': `${chunked}3\r\nabcX${hidden}`,
      'chunk extension with a bare LF': `${chunked}3;x\nabc\r\n0\r\n\r\n${hidden}`,
      'chunk size with a space': `${chunked}3 \r\nabc\r\n0\r\n\r\n${hidden}`,
      'LF-only line endings, chunked': `POST /download-video HTTP/1.1\nHost: ${host}\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n${hidden}`,
      'bare CR inside a header': `GET /battery-percent HTTP/1.1\r\nHost: ${host}\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n${hidden}`,
      'NUL inside a header': `GET /battery-percent HTTP/1.1\r\nHost: ${host}\r\nX: a\0b\r\n\r\n${hidden}`,
      'space in a header name': `GET /battery-percent HTTP/1.1\r\nHost: ${host}\r\nContent Length: 5\r\n\r\n${hidden}`,
      'HTTP/1.2': `GET /battery-percent HTTP/1.2\r\nHost: ${host}\r\n\r\n${hidden}`,
      'HTTP/2 preface': `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${hidden}`,
      'HTTP/1.0 without Host, with a body': `POST /download-video HTTP/1.0\r\nContent-Length: 0\r\n\r\n${hidden}`,
    };
  };

  it('answers each ambiguous or malformed request with one 400 and closes; the hidden request never runs', async () => {
    const problems: string[] = [];
    for (const [name, bytes] of Object.entries(ambiguous())) {
      const r = await d.raw(bytes, { timeoutMs: 5000 });
      const statuses = r.responses.map((x) => x.status).join(',');
      if (statuses !== '400') problems.push(`${name}: responses ${statuses || 'none'}`);
      if (r.timedOut) problems.push(`${name}: connection left open`);
      if (!d.segmentNames().includes('log0001.mkv')) {
        problems.push(`${name}: the hidden DELETE ran`);
        break;
      }
    }
    assert.deepEqual(problems, []);
  });

  it('a request hidden in a well-framed body is body, not a request', async () => {
    const cases = {
      'GET with Content-Length': `GET /battery-percent HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
      'POST chunked': `POST /download-video HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`,
      'PATCH settings with Content-Length': `PATCH /api/v1/settings HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const r = await d.raw(bytes, { timeoutMs: 5000 });
      assert.equal(r.responses.length, 1, `${name}: ${r.responses.map((x) => x.status).join(',')}`);
      assert.ok(!r.timedOut, name);
    }
    assert.ok(d.segmentNames().includes('log0001.mkv'));
  });

  it('pipelined well-formed requests are still answered in order (the control case)', async () => {
    const r = await d.raw(
      `GET /battery-percent HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /api/v1/recordings HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(
      r.responses.map((x) => x.status),
      [200, 200],
    );
    assert.match(r.responses[1]?.body.toString() ?? '', /"log0001\.mkv"/);
    d.secretsIntact();
    await d.assertServing();
  });
});
