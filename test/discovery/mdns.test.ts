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
import { MdnsAdvertiser, advertisementTxt, type BonjourLike } from '../../src/discovery/mdns-advertiser.js';
import { discover, cameraFromService, type DiscoveredCamera } from '../../src/discovery/mdns-browser.js';
import { startDaemonInProcess } from '../support/daemon.js';
import { listenForCamera } from '../support/mdns.js';

// mDNS on loopback only: no multicast route needed (network-isolated CI), and
// no fake cameras announced on whatever LAN the tests run on.
process.env.REARVIEW_MDNS_INTERFACE = '127.0.0.1';

test('discover() finds a camera advertised on this machine, with its TXT records', async () => {
  const name = `test-camera-${randomUUID().slice(0, 8)}`;
  const advertiser = new MdnsAdvertiser({ name, streamPort: 15000, apiPort: 18000, width: 640, height: 360, fps: 30, version: '9.9.9' });
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
  find() {
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
    { createBonjour: (onError) => (fake = new FakeBonjour(onError)), logger: new Logger({ level: 'warn', sink: (l) => lines.push(l) }) },
  );
  await advertiser.start();
  assert.ok(fake);
  assert.deepEqual(fake.published, [{ name: 'cam', type: 'rearview', protocol: 'tcp', port: 8000, txt: advertisementTxt({ name: 'cam', streamPort: 5000, apiPort: 8000, width: 1280, height: 720, version: '1.2.3' }) }]);
  assert.deepEqual(fake.published[0]?.txt, { stream: '5000', api: '8000', model: 'velovision-rearview', proto: 'h264-annexb', res: '1280x720', version: '1.2.3' });
  // A socket error (no multicast on this machine) is logged once and advertising stops; nothing throws.
  fake.onError(Object.assign(new Error('bind EADDRINUSE 0.0.0.0:5353'), { code: 'EADDRINUSE' }));
  fake.onError(new Error('again'));
  assert.equal(advertiser.active, false);
  assert.equal(lines.length, 1);
  assert.match(lines[0] as string, /mDNS advertising disabled: bind EADDRINUSE/);
  await advertiser.close();

  // A factory that throws (no network stack at all) does not reject start().
  const broken = new MdnsAdvertiser({ name: 'x', streamPort: 1, apiPort: 2 }, { createBonjour: () => { throw new Error('no multicast'); } });
  await broken.start();
  assert.equal(broken.active, false);
  await broken.close();
});

test('cameraFromService reads TXT records (strings or buffers) and prefers IPv4', () => {
  const cam = cameraFromService({ name: 'c', host: 'c.local', port: 8000, addresses: ['fe80::1', '192.168.9.1'], txt: { stream: Buffer.from('5000'), res: '640x360' } } as never);
  assert.equal(cam.streamUrl, 'tcp://192.168.9.1:5000');
  assert.equal(cam.apiUrl, 'http://192.168.9.1:8000');
  assert.equal(cam.resolution, '640x360');
});
