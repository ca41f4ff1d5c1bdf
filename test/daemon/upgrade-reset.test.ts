/**
 * Regression test: one TCP client could crash `rearview serve`. Node removes
 * its own 'error' listener from a socket before emitting 'upgrade'; sockets
 * upgraded to a path nobody served (or refused by the token check) had no
 * listener at all, so a peer that reset the connection raised an uncaught
 * ECONNRESET and the daemon died (recording stopped, every client cut).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { startServe } from '../support/daemon.js';
import { cliPath } from '../support/paths.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Sends an upgrade request, waits for the answer (or the close), then resets. */
async function upgradeAndReset(port: number, path: string): Promise<string> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
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

async function answersGet(apiPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/status`, { headers: { authorization: 'Bearer s3cret' } });
  await res.arrayBuffer();
  return res.status;
}

describe('upgrade requests that are not served', () => {
  it('an upgrade to an unserved path or refused by the token check, then a reset, leaves the daemon serving', async () => {
    const serve = await startServe(['--bind', '127.0.0.1', '--api-token', 's3cret'], { waitForApi: true });
    cleanups.push(() => serve.close());
    const apiPort = serve.apiPort as number;
    for (let i = 0; i < 3; i++) {
      assert.match(await upgradeAndReset(apiPort, '/nothing'), /^HTTP\/1\.1 404/);
      assert.match(await upgradeAndReset(apiPort, '/api/v1/live?token=wrong'), /^HTTP\/1\.1 401/);
    }
    // Still alive and answering.
    assert.equal(await answersGet(apiPort), 200);
    assert.equal(serve.process.exitCode, null, serve.stderrLines.join('\n'));
    assert.equal(await serve.close(), 0);
    assert.ok(!serve.stderrLines.some((l) => /ECONNRESET|uncaught/i.test(l)), serve.stderrLines.join('\n'));
  });

  it('the same against rearview view (it mounts the same WebSocket server)', async () => {
    const serve = await startServe(['--bind', '127.0.0.1']);
    cleanups.push(() => serve.close());
    const child = spawn(process.execPath, [cliPath, 'view', `tcp://127.0.0.1:${serve.streamPort}`, '--no-open', '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
