/**
 * WebSocket and `Upgrade:` abuse: upgrades from other sites' pages,
 * upgrades to paths nobody serves or with broken handshakes (each must be
 * answered and closed, never held), upgrades followed by a reset, and
 * garbage frames on an accepted live view. The reset case is a regression:
 * Node removes its own 'error' listener from a socket before emitting
 * 'upgrade', so a reset on an unserved upgrade raised an uncaught
 * ECONNRESET and killed the daemon (moved here from
 * test/daemon/upgrade-reset.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { startServe } from '../support/daemon.js';
import { cliPath } from '../support/paths.js';
import { START_TIMEOUT_MS, startAbuseDaemon, type AbuseDaemon } from './abuse-daemon.js';

const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const WS = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n${KEY}`;

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Sends an upgrade request, waits for the answer (or the close), then resets. */
async function upgradeAndReset(port: number, path: string): Promise<string> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => {
    // the reset at the end is ours; the server's may come first
  });
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${WS}\r\n`);
  // The answer line proves the daemon saw the upgrade; then an RST, not a FIN.
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (answer.includes('\r\n')) resolve();
    };
    socket.on('data', check);
    socket.once('close', () => resolve());
  });
  if (!socket.destroyed) socket.resetAndDestroy();
  return answer.split('\r\n')[0] ?? '';
}

describe('upgrade requests that are not served, then a reset', () => {
  it('an upgrade to an unserved path or refused by the token check, then a reset, leaves the daemon serving', async () => {
    const serve = await startServe(['--bind', '127.0.0.1', '--api-token', 's3cret'], {
      waitForApi: true,
      timeoutMs: START_TIMEOUT_MS,
    });
    cleanups.push(() => serve.close());
    const apiPort = serve.apiPort as number;
    for (let i = 0; i < 3; i++) {
      assert.match(await upgradeAndReset(apiPort, '/nothing'), /^HTTP\/1\.1 404/);
      assert.match(await upgradeAndReset(apiPort, '/api/v1/live?token=wrong'), /^HTTP\/1\.1 401/);
    }
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/status`, {
      headers: { authorization: 'Bearer s3cret' },
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(serve.process.exitCode, null, serve.stderrLines.join('\n'));
    assert.equal(await serve.close(), 0);
    assert.ok(!serve.stderrLines.some((l) => /ECONNRESET|uncaught/i.test(l)), serve.stderrLines.join('\n'));
  });

  it('the same against rearview view (it mounts the same WebSocket server)', async () => {
    const serve = await startServe(['--bind', '127.0.0.1'], { timeoutMs: START_TIMEOUT_MS });
    cleanups.push(() => serve.close());
    const child = spawn(
      process.execPath,
      [cliPath, 'view', `tcp://127.0.0.1:${serve.streamPort}`, '--no-open', '--port', '0', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const m = /^viewer on http:\/\/[^:]+:(\d+)\//.exec(line);
        if (m) resolve(Number(m[1]));
      });
      void exited.then((code) => reject(new Error(`rearview view exited (${code}): ${stderr.join('\n')}`)));
    });
    for (let i = 0; i < 3; i++) assert.match(await upgradeAndReset(port, '/nothing'), /^HTTP\/1\.1 404/);
    const page = await fetch(`http://127.0.0.1:${port}/`, { headers: { accept: 'text/html' } });
    await page.arrayBuffer();
    assert.equal(page.status, 200);
    assert.equal(child.exitCode, null, stderr.join('\n'));
  });
});

describe('cross-origin WebSocket and broken upgrades', () => {
  let d: AbuseDaemon;
  before(async () => {
    d = await startAbuseDaemon({ recordings: 0 });
  });
  after(async () => {
    await d?.close();
  });

  const live = (headers: string): ReturnType<AbuseDaemon['raw']> =>
    d.raw(`GET /api/v1/live HTTP/1.1\r\nHost: ${d.hostHeader}\r\n${headers}${WS}\r\n`, {
      untilHead: true,
      timeoutMs: 5000,
    });

  it("refuses the live view to other sites' pages, accepts our page and non-browser clients", async () => {
    for (const h of [
      'Origin: http://evil.example\r\n',
      'Origin: null\r\n',
      `Origin: http://${d.hostHeader}.evil.example\r\n`,
      `Origin: http://${d.hostHeader}\r\nSec-Fetch-Site: cross-site\r\n`,
      'Sec-Fetch-Site: cross-site\r\n',
      'Referer: http://evil.example/\r\n',
    ]) {
      const r = await live(h);
      assert.equal(r.status, 403, h);
    }
    assert.equal((await live(`Origin: http://${d.hostHeader}\r\n`)).status, 101, 'our own page');
    assert.equal((await live('')).status, 101, 'a client without Origin (not a browser)');
  });

  it('answers and closes every broken or foreign upgrade instead of holding it', async () => {
    const h = `Host: ${d.hostHeader}\r\n`;
    const cases: Record<string, string> = {
      'h2c on an API route': `GET /api/v1/status HTTP/1.1\r\n${h}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
      'h2c on the live path': `GET /api/v1/live HTTP/1.1\r\n${h}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
      'websocket version 7': `GET /api/v1/live HTTP/1.1\r\n${h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 7\r\n${KEY}\r\n`,
      'no key': `GET /api/v1/live HTTP/1.1\r\n${h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      'bad key': `GET /api/v1/live HTTP/1.1\r\n${h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n`,
      'POST upgrade': `POST /api/v1/live HTTP/1.1\r\n${h}${WS}Content-Length: 5\r\n\r\nhello`,
      'upgrade to a legacy route': `GET /wipe-local-videos HTTP/1.1\r\n${h}${WS}\r\n`,
      'upgrade to a download': `GET /download-video?/etc/passwd HTTP/1.1\r\n${h}${WS}\r\n`,
      'unknown protocol': `GET /api/v1/live HTTP/1.1\r\n${h}Upgrade: totally-not-websocket\r\nConnection: Upgrade\r\n\r\n`,
      // These two are plain requests to Node; "close" keeps the keep-alive wait out of the test.
      'empty Upgrade': `GET /api/v1/live HTTP/1.1\r\n${h}Upgrade: \r\nConnection: Upgrade, close\r\n\r\n`,
      'Connection: Upgrade without Upgrade': `GET /api/v1/live HTTP/1.1\r\n${h}Connection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n${KEY}\r\n`,
      'upgrade with a permessage-deflate offer and garbage after': `GET /nothing HTTP/1.1\r\n${h}${WS}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n\x00\xff garbage after the head`,
    };
    const problems: string[] = [];
    for (const [name, bytes] of Object.entries(cases)) {
      const r = await d.raw(Buffer.from(bytes, 'latin1'), { timeoutMs: 8000 });
      if (r.responses.some((x) => x.status === 101)) problems.push(`${name}: upgraded`);
      if (r.timedOut) problems.push(`${name}: held open (${r.status || 'no answer'})`);
      if (r.status === 0) problems.push(`${name}: no answer`);
    }
    assert.deepEqual(problems, []);
  });

  it('garbage frames on an accepted live view close that client only', async () => {
    const frames: Record<string, Buffer> = {
      'unmasked text frame': Buffer.from([0x81, 0x02, 0x68, 0x69]),
      'reserved opcode': Buffer.from([0x83, 0x80, 0, 0, 0, 0]),
      'declared 2^63-byte frame': Buffer.concat([
        Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Buffer.alloc(4),
      ]),
      // 128 KiB declared in the 64-bit length, masked, no payload yet.
      'over the 64 KiB message cap': Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0]),
      'random bytes': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)),
    };
    for (const [name, frame] of Object.entries(frames)) {
      const r = await d.raw(
        [Buffer.from(`GET /api/v1/live HTTP/1.1\r\nHost: ${d.hostHeader}\r\n${WS}\r\n`, 'latin1'), frame],
        { timeoutMs: 8000 },
      );
      assert.equal(r.status, 101, name);
      assert.ok(!r.timedOut, `${name}: the daemon kept the connection`);
    }
    await d.assertServing();
  });

  it('50 upgrades then resets in a row', async () => {
    for (let i = 0; i < 25; i++) {
      assert.match(await upgradeAndReset(d.apiPort, '/nothing'), /^HTTP\/1\.1 404/);
      assert.match(await upgradeAndReset(d.apiPort, '/api/v1/live'), /^HTTP\/1\.1 101/);
    }
    await d.assertServing();
    assert.ok(!d.serve.stderrLines.some((l) => /ECONNRESET|uncaught/i.test(l)), d.serve.stderrLines.join('\n'));
  });
});
