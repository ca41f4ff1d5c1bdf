/**
 * The one reconnecting TCP reader under connect() and `rearview nalu
 * tcp://`: states in order, backoff doubling from the first delay, and one
 * wording for a refused, a reset and a closed connection and for the retry
 * line, the same in the library, the nalu command and the record command's
 * message.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { ReconnectingTcpReader, type StreamStateEvent } from '../../src/client/reconnecting-tcp-reader.js';
import { connect } from '../../src/client/stream-client.js';
import { reconnectingText } from '../../src/util/describe-network-error.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

async function listen(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => {
      // the reader under test drops connections at will
    });
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const { server, port } = await listen(() => undefined);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('refused: connecting, disconnected, reconnecting with doubling backoff; the words are the shared ones', async () => {
  const port = await closedPort();
  const events: StreamStateEvent[] = [];
  const reader = new ReconnectingTcpReader(
    `tcp://127.0.0.1:${port}`,
    { initialBackoffMs: 20, maxBackoffMs: 60 },
    { onData: () => undefined, onState: (e) => events.push(e) },
  );
  reader.start();
  await waitFor(() => events.filter((e) => e.state === 'reconnecting').length >= 3, 'three retries', 15_000);
  await reader.close();
  const url = `tcp://127.0.0.1:${port}`;
  assert.deepEqual(
    events.slice(0, 6).map((e) => [e.state, e.attempt]),
    [
      ['connecting', 1],
      ['disconnected', 1],
      ['reconnecting', 1],
      ['connecting', 2],
      ['disconnected', 2],
      ['reconnecting', 2],
    ],
  );
  const retries = events.filter((e) => e.state === 'reconnecting');
  for (const [i, base] of [20, 40, 60].entries()) {
    const delayMs = retries[i]?.delayMs ?? -1;
    assert.ok(
      delayMs >= base && delayMs <= base * 1.2,
      `retry ${i}: ${delayMs} ms for a base of ${base} ms (20 % jitter at most)`,
    );
  }
  assert.equal(retries[0]?.error?.code, 'ERR_CLIENT_CONNECT');
  assert.equal(retries[0]?.error?.message, `cannot connect to ${url}: connection refused`);
  assert.equal(
    reconnectingText(retries[0]!.error!.message, 250),
    `cannot connect to ${url}: connection refused; reconnecting in 0.3 s`,
  );
  assert.equal(events.at(-1)?.state, 'closed');
  assert.equal(reader.failure, undefined, 'closed on request, not given up');
});

test('a reset and a clean close are worded the same way everywhere; reconnect off gives up with that error', async () => {
  const sent = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
  // Reset once the reader saw the connection (a reset may discard unread bytes, so it sends none).
  const accepted: Socket[] = [];
  const reset = await listen((socket) => accepted.push(socket));
  const closing = await listen((socket) => socket.end(sent));
  try {
    for (const [server, clean, words] of [
      [reset, false, 'connection reset'],
      [closing, true, 'the camera closed the connection'],
    ] as const) {
      const url = `tcp://127.0.0.1:${server.port}`;
      const ends: boolean[] = [];
      let bytes = 0;
      const closed = new Promise<StreamStateEvent>((resolve) => {
        const reader = new ReconnectingTcpReader(
          url,
          { reconnect: false },
          {
            onData: (chunk) => (bytes += chunk.length),
            onEnd: (c) => ends.push(c),
            onState: (e) => {
              if (e.state === 'connected' && !clean)
                void waitFor(() => accepted.length > 0, 'the accepted socket').then(() =>
                  accepted[0]?.resetAndDestroy(),
                );
              if (e.state === 'closed') resolve(e);
            },
          },
        );
        reader.start();
      });
      const event = await closed;
      assert.equal(bytes, clean ? sent.length : 0);
      assert.deepEqual(ends, [clean]);
      assert.equal(event.error?.message, `${url}: connection lost: ${words}`);
    }
  } finally {
    reset.server.close();
    closing.server.close();
  }
});

test('nalu --retry prints the same retry line as connect() reports', async () => {
  const port = await closedPort();
  const url = `tcp://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [cliPath, 'nalu', url, '--retry'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const lines: string[] = [];
  const conn = connect(url, {
    onState: (e) => e.state === 'reconnecting' && lines.push(reconnectingText(e.error?.message ?? '', e.delayMs ?? 0)),
  });
  try {
    await waitFor(() => stderr.includes('\n') && lines.length > 0, 'a retry from both', 15_000);
    const first = stderr.split('\n')[0] as string;
    assert.match(
      first,
      new RegExp(
        `^rearview: cannot connect to tcp://127\\.0\\.0\\.1:${port}: connection refused; reconnecting in \\d+\\.\\d s$`,
      ),
    );
    assert.equal(first.replace(/in [\d.]+ s$/, ''), `rearview: ${(lines[0] as string).replace(/in [\d.]+ s$/, '')}`);
  } finally {
    await conn.close();
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
  }
});
