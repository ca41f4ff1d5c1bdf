/**
 * mDNS: a real advertiser is found by discover() over real multicast on the
 * loopback interface (REARVIEW_MDNS_INTERFACE=127.0.0.1: works without a
 * multicast route or a LAN; the test fails rather than skips if it stops
 * working), the daemon advertises itself when config.mdns is true, and with
 * an injected bonjour the wiring (service type, TXT records, error handling
 * without crashing, goodbyes on close) is checked without the network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import {
  MdnsAdvertiser,
  advertisementTxt,
  freeServiceName,
  type BonjourLike,
} from '../../src/discovery/mdns-advertiser.js';
import { discover, cameraFromService, type DiscoveredCamera } from '../../src/discovery/mdns-browser.js';
import { startDaemonInProcess, startServe } from '../support/daemon.js';
import { listenForCamera } from '../support/mdns.js';

// mDNS on loopback only: no multicast route needed (network-isolated CI), and
// no fake cameras announced on whatever LAN the tests run on.
process.env.REARVIEW_MDNS_INTERFACE = '127.0.0.1';

test('discover() finds a camera advertised on this machine, with its TXT records', async () => {
  const name = `test-camera-${randomUUID().slice(0, 8)}`;
  const advertiser = new MdnsAdvertiser({
    name,
    streamPort: 15000,
    apiPort: 18000,
    width: 640,
    height: 360,
    fps: 30,
    version: '9.9.9',
  });
  await advertiser.start();
  try {
    assert.equal(advertiser.active, true);
    const controller = new AbortController();
    let mine: DiscoveredCamera | undefined;
    await discover({
      timeoutMs: 10_000,
      signal: controller.signal,
      onCamera: (cam) => {
        if (cam.name !== name) return; // other cameras on the network are not ours
        mine = cam;
        controller.abort(); // stop listening as soon as it is heard
      },
    });
    assert.ok(mine, 'the advertised camera was heard');
    assert.equal(mine.streamPort, 15000);
    assert.equal(mine.apiPort, 18000);
    assert.equal(mine.resolution, '640x360');
    assert.equal(mine.version, '9.9.9');
    assert.equal(mine.model, 'velovision-rearview');
    assert.match(mine.streamUrl, /^tcp:\/\/.+:15000$/);
    assert.ok(mine.addresses.length > 0);
  } finally {
    await advertiser.close();
    await advertiser.close(); // idempotent
  }
});

test('the daemon advertises itself with the ports it bound when mdns is on', async () => {
  // Regression: a daemon without an HTTP API (API port 0) asked bonjour for an SRV on port 0, which it
  // refuses, so advertising was silently disabled; the SRV now points at the stream port then.
  const name = `test-daemon-${randomUUID().slice(0, 8)}`;
  const d = await startDaemonInProcess({ mdns: true, cameraName: name });
  try {
    const mine = await listenForCamera(name);
    assert.ok(mine, 'the daemon was heard');
    assert.equal(mine.streamPort, d.streamPort);
  } finally {
    await d.close();
  }
});

/** A bonjour stand-in that records what it was asked and can fail on demand. */
class FakeBonjour implements BonjourLike {
  published: { name: string; type: string; port: number; txt?: Record<string, string> }[] = [];
  service = new EventEmitter() as EventEmitter & { stop: () => void };
  unpublished = 0;
  destroyed = 0;
  constructor(readonly onError: (err: Error) => void) {
    this.service.stop = () => undefined;
  }
  publish(options: { name: string; type: string; port: number; txt?: Record<string, string> }) {
    this.published.push(options);
    return this.service as never;
  }
  /** Names of cameras already on the "network": heard by the advertiser's probe. */
  others: string[] = [];
  find(_options: { type: string }, onUp?: (service: never) => void) {
    for (const name of this.others) onUp?.({ name } as never);
    return { on: () => undefined, stop: () => undefined };
  }
  unpublishAll(callback?: () => void) {
    this.unpublished++;
    callback?.();
  }
  destroy() {
    this.destroyed++;
  }
}

test('advertiser wiring with an injected bonjour: type, TXT, errors never thrown, goodbyes on close', async () => {
  let fake: FakeBonjour | undefined;
  const lines: string[] = [];
  const { Logger } = await import('../../src/log/logger.js');
  const advertiser = new MdnsAdvertiser(
    { name: 'cam', streamPort: 5000, apiPort: 8000, width: 1280, height: 720, version: '1.2.3' },
    {
      createBonjour: (onError) => (fake = new FakeBonjour(onError)),
      logger: new Logger({ level: 'warn', sink: (l) => lines.push(l) }),
    },
  );
  await advertiser.start();
  assert.ok(fake);
  assert.deepEqual(fake.published, [
    {
      name: 'cam',
      type: 'rearview',
      protocol: 'tcp',
      port: 8000,
      probe: false,
      txt: advertisementTxt({
        name: 'cam',
        streamPort: 5000,
        apiPort: 8000,
        width: 1280,
        height: 720,
        version: '1.2.3',
      }),
    },
  ]);
  assert.deepEqual(fake.published[0]?.txt, {
    stream: '5000',
    api: '8000',
    model: 'velovision-rearview',
    proto: 'h264-annexb',
    res: '1280x720',
    version: '1.2.3',
  });
  // A socket error (no multicast on this machine) is logged once and advertising stops; nothing throws.
  fake.onError(Object.assign(new Error('bind EADDRINUSE 0.0.0.0:5353'), { code: 'EADDRINUSE' }));
  fake.onError(new Error('again'));
  assert.equal(advertiser.active, false);
  assert.equal(lines.length, 1);
  assert.match(lines[0] as string, /mDNS advertising disabled: bind EADDRINUSE/);
  await advertiser.close();

  // A factory that throws (no network stack at all) does not reject start().
  const broken = new MdnsAdvertiser(
    { name: 'x', streamPort: 1, apiPort: 2 },
    {
      createBonjour: () => {
        throw new Error('no multicast');
      },
    },
  );
  await broken.start();
  assert.equal(broken.active, false);
  await broken.close();
});

test('a name already taken gets the first free number, with one warning and no stack trace', async () => {
  assert.equal(freeServiceName('cam', []), 'cam');
  assert.equal(freeServiceName('cam', ['CAM', 'cam (2)', 'other']), 'cam (3)');
  const lines: string[] = [];
  const { Logger } = await import('../../src/log/logger.js');
  let fake: FakeBonjour | undefined;
  const advertiser = new MdnsAdvertiser(
    { name: 'cam', streamPort: 5000, apiPort: 8000 },
    {
      probeMs: 20,
      createBonjour: (onError) => {
        fake = new FakeBonjour(onError);
        fake.others = ['cam', 'cam (2)'];
        return fake;
      },
      logger: new Logger({ level: 'warn', sink: (l) => lines.push(l) }),
    },
  );
  await advertiser.start();
  assert.equal(fake?.published[0]?.name, 'cam (3)');
  assert.equal(advertiser.publishedName, 'cam (3)');
  assert.equal(lines.length, 1);
  assert.match(
    lines[0] as string,
    /WARN .*"cam" is already used by another camera on the network: advertising as "cam \(3\)"/,
  );
  await advertiser.close();
});

test('a real daemon whose name is taken advertises "name (2)" at the loopback address it listens on, with one warning', async () => {
  // Regressions: bonjour printed a stack trace and the camera ran unadvertised; a loopback-bound
  // daemon was advertised at the machine's LAN addresses, where nothing listens.
  const name = `test-taken-${randomUUID().slice(0, 8)}`;
  const other = new MdnsAdvertiser({ name, streamPort: 15001, apiPort: 18001 });
  await other.start();
  try {
    // mDNS on (rawArgs leaves out --no-mdns), on loopback only.
    const args = ['--stream-port', '0', '--api-port', '0', '--no-record', '--name', name, '--bind', '127.0.0.1'];
    const serve = await startServe(args, {
      rawArgs: true,
      env: { ...process.env, REARVIEW_MDNS_INTERFACE: '127.0.0.1' },
    });
    try {
      const mine = await listenForCamera(`${name} (2)`);
      assert.ok(mine, `"${name} (2)" was heard\n${serve.stderrLines.join('\n')}`);
      assert.equal(mine.streamPort, serve.streamPort);
      assert.deepEqual(mine.addresses, ['127.0.0.1']);
      const warnings = serve.stderrLines.filter((l) => / (WARN|ERROR) /.test(l));
      assert.equal(warnings.length, 1, serve.stderrLines.join('\n'));
      assert.match(warnings[0] as string, /already used by another camera on the network: advertising as ".+ \(2\)"/);
      const output = [...serve.stdoutLines, ...serve.stderrLines];
      assert.ok(!output.some((l) => /already in use|^\s+at .+:\d+/.test(l)), output.join('\n'));
      assert.equal(await serve.close(), 0);
    } finally {
      await serve.close();
    }
  } finally {
    await other.close();
  }
});

test('cameraFromService reads TXT records (strings or buffers) and prefers IPv4', () => {
  const cam = cameraFromService({
    name: 'c',
    host: 'c.local',
    port: 8000,
    addresses: ['fe80::1', '192.168.9.1'],
    txt: { stream: Buffer.from('5000'), res: '640x360' },
  } as never);
  assert.equal(cam.streamUrl, 'tcp://192.168.9.1:5000');
  assert.equal(cam.apiUrl, 'http://192.168.9.1:8000');
  assert.equal(cam.resolution, '640x360');
});
