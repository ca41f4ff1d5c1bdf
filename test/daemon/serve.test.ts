/**
 * `rearview serve` as a user runs it, and RearviewDaemon in process:
 * listening lines, watch instructions, config file and overrides, clean
 * stop on SIGINT/SIGTERM, idempotent close, services started and closed in order.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { loadConfig } from '../../src/config.js';
import { RearviewDaemon, type DaemonService } from '../../src/daemon.js';
import { startDaemonInProcess, startServe } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { RawClient } from '../outputs/tcp-feed.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('rearview serve', () => {
  it('streams the sample on all interfaces by default, prints how to watch it, and stops on SIGINT with exit 0', async () => {
    // Defaults except the ports (free ones) and no recording/mDNS side effects.
    const serve = await startServe(['--stream-port', '0', '--api-port', '0', '--no-record', '--no-mdns'], {
      rawArgs: true,
      waitForApi: true,
    });
    cleanups.push(() => serve.close());
    assert.match(serve.stdoutLines[0]!, /^stream listening on tcp:\/\/0\.0\.0\.0:\d+$/);
    assert.match(serve.stdoutLines[1]!, /^api listening on http:\/\/0\.0\.0\.0:\d+$/);
    const out = serve.stdoutLines.join('\n');
    assert.ok(
      out.includes(
        `ffplay -fflags nobuffer -flags low_delay -framedrop -probesize 32 -analyzeduration 0 -f h264 -framerate 30 tcp://localhost:${serve.streamPort}`,
      ),
    );
    assert.ok(out.includes(`rearview nalu tcp://localhost:${serve.streamPort}`));
    assert.ok(out.includes(`cv2.VideoCapture('tcp://localhost:${serve.streamPort}')`));
    const client = new RawClient(serve.streamPort);
    cleanups.push(() => client.close());
    await waitFor(() => splitAnnexB(client.data()).some((n) => n.type === 5), 'an IDR from the sample');
    assert.deepEqual(
      splitAnnexB(client.data())
        .slice(0, 2)
        .map((n) => n.type),
      [7, 8],
    );
    serve.process.kill('SIGINT');
    assert.equal(await serve.exited, 0);
    await client.ended;
  });

  it('reads a config file; command-line options override it', async () => {
    const scratch = scratchDir();
    cleanups.push(scratch.cleanup);
    const file = join(scratch.dir, 'rearview.json');
    writeFileSync(
      file,
      JSON.stringify({
        bind: '127.0.0.1',
        streamPort: 0,
        apiPort: 0,
        record: false,
        mdns: false,
        maxClients: 1,
        join: 'next-keyframe',
      }),
    );
    const serve = await startServe(
      ['--config', file, '--max-clients', '2', '--no-timestamps', '--log-level', 'debug'],
      { rawArgs: true },
    );
    cleanups.push(() => serve.close());
    assert.match(serve.stdoutLines[0]!, /^stream listening on tcp:\/\/127\.0\.0\.1:\d+$/);
    // Regression: the nalu line said localhost even when bound to one address.
    assert.ok(
      serve.stdoutLines.includes(`  rearview nalu tcp://127.0.0.1:${serve.streamPort}`),
      serve.stdoutLines.join('\n'),
    );
    const a = new RawClient(serve.streamPort);
    const b = new RawClient(serve.streamPort);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await waitFor(() => a.bytes > 0 && b.bytes > 0, 'both clients served (max-clients 2 overrides the file)');
    // --no-timestamps: no capture-time SEI (user_data_unregistered, payload type 5) in the frames.
    const seiTypes = splitAnnexB(a.data())
      .filter((n) => n.type === 6)
      .map((n) => n.data[1]);
    assert.ok(!seiTypes.includes(5), 'no capture-time SEI');
    assert.equal(await serve.close(), 0);
  });

  it('config: unknown keys and bad values are rejected', () => {
    assert.throws(() => loadConfig({ overrides: { join: 'sideways' as 'next-keyframe' } }), /join/);
  });
});

describe('RearviewDaemon', () => {
  it('starts services after the TCP output and closes everything in reverse order, idempotently', async () => {
    const events: string[] = [];
    const service = (name: string): DaemonService => ({
      name,
      start: async () => void events.push(`start ${name}`),
      close: async () => void events.push(`close ${name}`),
    });
    const d = await startDaemonInProcess({}, { services: [service('a'), service('b')] });
    assert.ok(d.daemon.streamAddress && d.daemon.streamAddress.port > 0);
    await waitFor(() => d.daemon.hub.stats().frames > 0, 'frames from the sample');
    assert.equal(d.daemon.hub.params?.width, 640);
    await d.close();
    await d.close();
    assert.deepEqual(events, ['start a', 'start b', 'close b', 'close a']);
    assert.equal(d.daemon.tcpServer.clientCount, 0);
  });

  it('a service that fails to start aborts start() and closes what had started', async () => {
    const events: string[] = [];
    const config = loadConfig({ overrides: { bind: '127.0.0.1', streamPort: 0, record: false, mdns: false } });
    const daemon = new RearviewDaemon(config, {
      services: [
        {
          name: 'ok',
          start: async () => void events.push('start ok'),
          close: async () => void events.push('close ok'),
        },
        {
          name: 'bad',
          start: async () => {
            throw new Error('no way');
          },
          close: async () => void events.push('close bad'),
        },
      ],
    });
    await assert.rejects(daemon.start(), /no way/);
    // Regression: the failing service itself was never closed (it was tracked only after a successful start).
    assert.deepEqual(events, ['start ok', 'close bad', 'close ok']);
    await daemon.close();
  });

  it('refuses stream clients outside allowNetworks', async () => {
    const d = await startDaemonInProcess({ allowNetworks: ['10.0.0.0/8'] });
    cleanups.push(() => d.close());
    const outside = new RawClient(d.streamPort);
    await outside.ended;
    assert.equal(outside.bytes, 0);
    assert.equal(d.daemon.tcpServer.stats().refused, 1);
    await d.close();
    const open = await startDaemonInProcess({ allowNetworks: ['127.0.0.0/8'] });
    cleanups.push(() => open.close());
    const inside = new RawClient(open.streamPort);
    cleanups.push(() => inside.close());
    await waitFor(() => inside.bytes > 0, 'data for an allowed client');
  });

  it('a taken stream port is a clear start-up error', async () => {
    const first = await startDaemonInProcess();
    cleanups.push(() => first.close());
    const config = loadConfig({
      overrides: { bind: '127.0.0.1', streamPort: first.streamPort, record: false, mdns: false },
    });
    const daemon = new RearviewDaemon(config);
    await assert.rejects(daemon.start(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    await daemon.close();
  });
});
