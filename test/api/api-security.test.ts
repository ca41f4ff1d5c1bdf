/**
 * Security the original device lacked, as units: the cross-site and
 * DNS-rebinding rules (isCrossSiteRequest, isTrustedHost, the live
 * WebSocket guard) and the client-network allow-list. The attacks
 * themselves, against a real daemon, are in test/abuse/.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { compileAllowList } from '../../src/api/network-allow-list.js';
import { isCrossSiteRequest, isTrustedHost } from '../../src/api/request-guard.js';
import { liveStreamGuard } from '../../src/api/web-mount.js';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { scratchDir } from '../support/paths.js';
import { curl, startTestApi } from './api-harness.js';
import type { IncomingMessage } from 'node:http';

describe('cross-site protection of destructive requests', () => {
  it('isCrossSiteRequest: the header combinations', () => {
    const req = (h: Record<string, string>): IncomingMessage =>
      ({ headers: { host: 'cam.local:8000', ...h } }) as unknown as IncomingMessage;
    assert.equal(isCrossSiteRequest(req({})), false);
    assert.equal(isCrossSiteRequest(req({ 'sec-fetch-site': 'none' })), false);
    assert.equal(isCrossSiteRequest(req({ 'sec-fetch-site': 'same-origin', origin: 'http://cam.local:8000' })), false);
    assert.equal(isCrossSiteRequest(req({ 'sec-fetch-site': 'cross-site' })), true);
    assert.equal(isCrossSiteRequest(req({ 'sec-fetch-site': 'same-site' })), true);
    assert.equal(isCrossSiteRequest(req({ 'sec-fetch-site': 'same-site', origin: 'http://cam.local:8000' })), false);
    assert.equal(isCrossSiteRequest(req({ origin: 'http://cam.local:9000' })), true);
    assert.equal(isCrossSiteRequest(req({ origin: 'not a url' })), true);
  });
});

describe('client network allow-list', () => {
  const scratch = scratchDir('rearview-allow-');
  after(() => scratch.cleanup());

  it('drops clients outside the listed networks, serves those inside', async () => {
    const denied = await startTestApi(scratch.dir, { config: { allowNetworks: ['10.0.0.0/8', 'fd00::/8'] } });
    try {
      const r = await curl([`${denied.url}/`], scratch.dir);
      assert.equal(r.status, 0, 'no HTTP answer at all');
      assert.notEqual(r.exitCode, 0);
    } finally {
      await denied.close();
    }
    const allowed = await startTestApi(scratch.dir, { config: { allowNetworks: ['127.0.0.0/8'] } });
    try {
      assert.equal((await curl([`${allowed.url}/`], scratch.dir)).status, 200);
    } finally {
      await allowed.close();
    }
  });

  it('compileAllowList: IPv4, IPv6, mapped addresses, hosts, empty list', () => {
    const isAllowed = (address: string | undefined, networks: string[]): boolean =>
      compileAllowList(networks).allows(address);
    assert.equal(isAllowed('192.168.9.7', []), true);
    assert.equal(isAllowed('192.168.9.7', ['192.168.9.0/24']), true);
    assert.equal(isAllowed('192.168.10.7', ['192.168.9.0/24']), false);
    assert.equal(isAllowed('::ffff:192.168.9.7', ['192.168.9.0/24']), true);
    assert.equal(isAllowed('fd12::1', ['fd00::/8']), true);
    assert.equal(isAllowed('fe80::1%eth0', ['fe80::/10']), true);
    assert.equal(isAllowed('2001:db8::1', ['fd00::/8', '10.0.0.0/8']), false);
    assert.equal(isAllowed('10.1.2.3', ['10.1.2.3']), true);
    assert.equal(isAllowed(undefined, ['10.0.0.0/8']), false);
    assert.throws(() => compileAllowList(['10.0.0.0/33']), ConfigError);
    assert.throws(() => compileAllowList(['camera.local']), ConfigError);
    assert.throws(() => compileAllowList(['10.0.0.0/8/1']), ConfigError);
  });

  it('a bad network in allowNetworks is refused when the config loads, naming the entry', () => {
    assert.throws(
      () => mergeConfig(defaultConfig(), { allowNetworks: '10.0.0.0/8,192.168.1.0/40' }),
      (err: Error) => err instanceof ConfigError && err.message.includes('"192.168.1.0/40"'),
    );
    assert.throws(() => mergeConfig(defaultConfig(), { allowNetworks: ['camera.local'] }), ConfigError);
    assert.deepEqual(mergeConfig(defaultConfig(), { allowNetworks: '10.0.0.0/8, fd00::/8' }).allowNetworks, [
      '10.0.0.0/8',
      'fd00::/8',
    ]);
  });
});

describe('DNS rebinding and Referer (no token set)', () => {
  it('isTrustedHost, the Referer rule and the live WebSocket guard', () => {
    const req = (h: Record<string, string>): IncomingMessage =>
      ({ headers: h, url: '/api/v1/live', socket: { remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage;
    for (const host of [
      '192.168.9.1',
      '192.168.9.1:8000',
      '[::1]:8000',
      'localhost',
      'a.localhost:1',
      'cam.local',
      'cam.local.:8000',
      'Bike-Cam:8000',
    ]) {
      assert.equal(isTrustedHost(req({ host }), 'bike-cam'), true, host);
    }
    for (const host of [
      'evil.example',
      'evil.example:8000',
      'bike-cam.evil.example',
      'local',
      '[evil]:80',
      '1.2.3.4.evil.example',
      '[::1]x',
      '[::1]:80x',
    ]) {
      assert.equal(isTrustedHost(req({ host }), 'bike-cam'), false, host);
    }
    assert.equal(isTrustedHost(req({}), 'bike-cam'), true, 'no Host: not a browser');
    assert.equal(isCrossSiteRequest(req({ host: 'cam.local:8000', referer: 'http://evil.example/x' })), true);
    assert.equal(isCrossSiteRequest(req({ host: 'cam.local:8000', referer: 'http://cam.local:8000/' })), false);
    assert.equal(
      isCrossSiteRequest(
        req({ host: 'cam.local:8000', referer: 'http://evil.example/x', 'sec-fetch-site': 'same-origin' }),
      ),
      false,
      'Fetch Metadata wins',
    );
    const guard = liveStreamGuard({ cameraName: 'bike-cam' });
    assert.deepEqual(guard(req({ host: 'evil.example:8000', origin: 'http://evil.example:8000' })), {
      status: 403,
      reason: 'Forbidden',
    });
    assert.equal(guard(req({ host: '192.168.9.1:8000', origin: 'http://192.168.9.1:8000' })), undefined);
    assert.equal(
      liveStreamGuard({ cameraName: 'x', viewerOnly: true })(
        req({ host: 'laptop:8080', origin: 'http://laptop:8080' }),
      ),
      undefined,
      'rearview view is a local viewer',
    );
    assert.equal(
      liveStreamGuard({ apiToken: 't' })(req({ host: 'evil.example', origin: 'http://evil.example' }))?.status,
      401,
      'with a token the token decides',
    );
  });
});
