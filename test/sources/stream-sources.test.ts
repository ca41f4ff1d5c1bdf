import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { hasCode, type RearviewError } from '../../src/errors.js';
import { buildCaptureTimeSei } from '../../src/h264/capture-time-sei.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { createSource } from '../../src/sources/create-source.js';
import { SourceSupervisor } from '../../src/sources/source-supervisor.js';
import { createStdinSource } from '../../src/sources/stream-source.js';
import { TcpRelaySource } from '../../src/sources/tcp-relay-source.js';
import { CollectingSink, fakeBinDir, fakeSourceClock, memoryLogger, samplePath } from './source-fixtures.js';
import { waitFor } from '../support/wait.js';

const sample = readFileSync(samplePath);
const sampleAus = parseAnnexB(sample).accessUnits;
const AUD = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);

function frameBytes(i: number): Buffer {
  const au = sampleAus[i % sampleAus.length]!;
  return sample.subarray(au.offset, au.offset + au.byteLength);
}

async function listen(
  onConnection: (socket: Socket) => void,
): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // the relay under test drops connections at will
    });
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

async function stop(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('stdin source', () => {
  it('reads a stream from standard input and reports its end as final', async () => {
    const input = new PassThrough();
    const config = mergeConfig(defaultConfig(), { source: '-' });
    const sink = new CollectingSink();
    const { clock } = fakeSourceClock();
    const src = createSource(config, memoryLogger().logger, { stdin: input, clock });
    const exits: Array<RearviewError | undefined> = [];
    src.onExit((e) => exits.push(e));
    await src.start(sink);
    assert.equal(src.restartable, true, 'a stall could still be recovered');
    for (let i = 0; i < 10; i++) input.write(frameBytes(i));
    input.end();
    await waitFor(() => exits.length === 1, 'end of input');
    assert.equal(sink.accessUnits.length, 10, 'the last frame is delivered at end of input');
    assert.ok(hasCode(exits[0], 'ERR_SOURCE_EXITED'));
    assert.equal(src.restartable, false);
    await src.close();
  });

  it('a pipe from an encoder: frames arrive while it runs (idle close), the supervisor stops at EOF', async () => {
    // The fake rpicam-vid writes 20 frames paced at 100 fps into our "stdin", then exits.
    const child = spawn(process.execPath, [`${fakeBinDir}/fake-encoder.mjs`, 'rpicam-vid'], {
      env: { ...process.env, FAKE_ENCODER_FRAMES: '20', FAKE_ENCODER_FPS: '100' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const sink = new CollectingSink();
    const { logger } = memoryLogger();
    const supervisor = new SourceSupervisor({
      factory: () => createStdinSource(logger, { input: child.stdout! }),
      sink,
      logger,
      stallMs: 0,
    });
    const stopped: RearviewError[] = [];
    supervisor.onStopped((e) => stopped.push(e));
    try {
      await supervisor.start();
      await waitFor(() => stopped.length === 1, 'the supervisor to give up at EOF');
      assert.equal(sink.accessUnits.length, 20);
      assert.equal(supervisor.state, 'stopped');
      // Frames were delivered as they were written, not all at the end.
      const first = sink.accessUnits[0]!.atMono;
      const last = sink.accessUnits[19]!.atMono;
      assert.ok(last - first > 100, `frames spread over the run (${(last - first).toFixed(1)} ms)`);
    } finally {
      await supervisor.close();
      child.kill();
    }
  });
});

describe('tcp relay source', () => {
  it('closes each frame as soon as the sender’s trailing AUD arrives', async () => {
    // The server sends frame n + AUD, then waits until the relay delivered frame n
    // before sending n+1: if the relay waited for the next frame to start, this would hang.
    const sink = new CollectingSink();
    let sent = 0;
    const { server, port, sockets } = await listen((socket) => {
      const sendNext = () => {
        if (sent === 10) return;
        socket.write(Buffer.concat([frameBytes(sent), AUD]));
        sent++;
        const want = sent;
        void waitFor(() => sink.accessUnits.length >= want, `frame ${want}`).then(sendNext, () => {
          // the relay stalled: the test's wait for all ten frames reports it
        });
      };
      sendNext();
    });
    const relay = new TcpRelaySource(`tcp://127.0.0.1:${port}`, { logger: memoryLogger().logger });
    try {
      await relay.start(sink);
      await waitFor(() => sink.accessUnits.length === 10, '10 frames');
      assert.equal(sink.accessUnits[0]!.au.isKey, true);
      assert.deepEqual(
        sink.accessUnits[1]!.au.nals.map((n) => n.type),
        [9, 1, 1],
      );
    } finally {
      await relay.close();
      await stop(server, sockets);
    }
  });

  it("keeps a rearview sender's capture time (capture-time SEI) unless the clocks disagree", async () => {
    const now = Date.now();
    const sei = (t: number) => Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from(buildCaptureTimeSei(t))]);
    const { server, port, sockets } = await listen((socket) => {
      const parts: Buffer[] = [frameBytes(0), AUD];
      parts.push(sei(now - 50), frameBytes(1), AUD);
      parts.push(sei(now - 3_600_000), frameBytes(2), AUD);
      socket.write(Buffer.concat(parts));
    });
    const sink = new CollectingSink();
    const { logger, lines } = memoryLogger();
    const relay = new TcpRelaySource(`tcp://127.0.0.1:${port}`, { logger });
    try {
      await relay.start(sink);
      await waitFor(() => sink.accessUnits.length === 3, '3 frames');
      const [a, b, c] = sink.accessUnits;
      assert.ok(Math.abs(a!.capturedAtMs - Date.now()) < 10_000, 'no SEI: arrival time');
      assert.equal(b!.capturedAtMs, now - 50, "the sender's capture time");
      assert.deepEqual(
        b!.au.nals.map((n) => n.type),
        [9, 1, 1],
        'its SEI is removed (the hub adds its own)',
      );
      assert.ok(c!.capturedAtMs > now - 1000, 'an hour of clock skew: arrival time');
      assert.ok(
        lines.some((l) => l.includes("the sender's clock is -3600 s off ours")),
        lines.join('\n'),
      );
    } finally {
      await relay.close();
      await stop(server, sockets);
    }
  });

  it('reconnects through the supervisor with backoff, announcing each new connection', async () => {
    let connections = 0;
    const { server, port, sockets } = await listen((socket) => {
      connections++;
      // Each connection: one GOP, then the sender hangs up.
      const gop = Buffer.concat(Array.from({ length: 30 }, (_, i) => frameBytes(i)));
      socket.end(Buffer.concat([gop, AUD]));
    });
    const { clock, fake } = fakeSourceClock(0);
    const sink = new CollectingSink();
    const { logger, lines } = memoryLogger();
    const config = mergeConfig(defaultConfig(), { source: `tcp://127.0.0.1:${port}` });
    const supervisor = new SourceSupervisor({
      factory: () => createSource(config, logger, { clock }),
      sink,
      logger,
      clock,
      stallMs: 0,
    });
    try {
      await supervisor.start();
      await waitFor(() => supervisor.state === 'backoff', 'the first connection to end');
      assert.equal(sink.accessUnits.length, 30);
      assert.equal(supervisor.status().lastError?.code, 'ERR_SOURCE_CONNECT');
      fake.advance(250);
      await waitFor(
        () => connections === 2 && supervisor.state === 'backoff' && sink.accessUnits.length === 60,
        'the second connection',
      );
      assert.deepEqual(sink.discontinuities, [`source restarted after: ${supervisor.status().lastError!.message}`]);
      assert.equal(sink.accessUnits[30]!.au.isKey, true);
    } finally {
      await supervisor.close();
      await stop(server, sockets);
    }
    assert.ok(
      lines.some((l) => l.includes('connection closed by the sender')),
      lines.join('\n'),
    );
  });

  it('close() while connecting settles start()', async () => {
    // Regression: start() never settled when closed before the connection was made,
    // so a daemon stopped during start-up waited forever.
    const { server, port, sockets } = await listen(() => undefined);
    try {
      const relay = new TcpRelaySource(`tcp://127.0.0.1:${port}`, { logger: memoryLogger().logger });
      const started = relay.start(new CollectingSink());
      await relay.close();
      await assert.rejects(started, (err) => hasCode(err, 'ERR_ABORTED'));
    } finally {
      await stop(server, sockets);
    }
  });

  it('a refused connection is ERR_SOURCE_CONNECT, retried, and logged once', async () => {
    // A port that was just free: nothing listens there.
    const { server, port, sockets } = await listen(() => undefined);
    await stop(server, sockets);
    const { clock, fake } = fakeSourceClock(0);
    const { logger, lines } = memoryLogger();
    const config = mergeConfig(defaultConfig(), { source: `tcp://127.0.0.1:${port}` });
    let attempts = 0;
    const supervisor = new SourceSupervisor({
      factory: () => {
        attempts++;
        return createSource(config, logger, { clock });
      },
      sink: new CollectingSink(),
      logger,
      clock,
      stallMs: 0,
    });
    try {
      await supervisor.start();
      assert.equal(supervisor.state, 'backoff', 'a camera that is not up yet is retried, not fatal');
      for (let i = 1; i <= 3; i++) {
        fake.advance(10_000);
        await waitFor(() => attempts === i + 1 && supervisor.state === 'backoff', `attempt ${i + 1}`);
      }
      assert.equal(supervisor.status().lastError?.code, 'ERR_SOURCE_CONNECT');
      assert.equal(
        lines.filter(
          (l) => l.includes(`cannot connect to tcp://127.0.0.1:${port}: connection refused`) && l.includes(' WARN '),
        ).length,
        1,
        lines.join('\n'),
      );
    } finally {
      await supervisor.close();
    }
  });
});
