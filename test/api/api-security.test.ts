/**
 * Security the original device lacked: file endpoints only inside the
 * recordings folder, destructive requests refused cross-site, the optional
 * API token and the client-network allow-list. All through real curl.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileAllowList } from '../../src/api/network-allow-list.js';
import { mergeConfig, defaultConfig } from '../../src/config.js';
import { isCrossSiteRequest, isTrustedHost } from '../../src/api/request-guard.js';
import { liveStreamGuard } from '../../src/api/web-mount.js';
import { ConfigError } from '../../src/errors.js';
import { scratchDir } from '../support/paths.js';
import { curl, FIXTURE_MTIMES_S, makeRecordings, startTestApi, type TestApi } from './api-harness.js';
import type { IncomingMessage } from 'node:http';

describe('file endpoints stay inside the recordings folder', () => {
  const scratch = scratchDir('rearview-paths-');
  const rec = join(scratch.dir, 'videos');
  const outside = join(scratch.dir, 'outside');
  let api: TestApi;
  const SECRET = 'TOP-SECRET-CONTENT root:x:0:0';

  before(async () => {
    mkdirSync(rec);
    mkdirSync(outside);
    makeRecordings(rec, 1);
    writeFileSync(join(outside, 'secret.mkv'), SECRET);
    writeFileSync(join(outside, 'secret.jpg'), SECRET);
    writeFileSync(join(scratch.dir, 'x.mkv'), SECRET);
    symlinkSync(join(outside, 'secret.mkv'), join(rec, 'log0099.mkv'));
    symlinkSync(join(outside, 'secret.jpg'), join(rec, 'log0099_1713198999.jpg'));
    api = await startTestApi(rec);
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  const tricks = (): string[] => [
    '/etc/passwd',
    join(outside, 'secret.mkv'),
    `${rec}/../outside/secret.mkv`,
    '../../x.mkv',
    '../x.mkv',
    `${rec}/log0099.mkv`, // symlink out of the folder
    'log0099.mkv',
    `${rec}/%2e%2e/x.mkv`,
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '..%2fx.mkv',
    `${rec}/log0001.mkv%00.jpg`,
    `log0001.mkv%00`,
  ];

  it('GET /download-video?<trick> answers 400/404 and never leaks', async () => {
    for (const t of tricks()) {
      const r = await curl(['--path-as-is', `${api.url}/download-video?${t}`], scratch.dir);
      assert.ok(r.status === 400 || r.status === 404, `${t}: status ${r.status}`);
      assert.ok(!r.text.includes('SECRET') && !r.text.includes('root:'), `${t} leaked`);
    }
  });

  it('GET /download-thumbnail?<trick> answers 400/404 and never leaks', async () => {
    for (const t of [...tricks(), `${rec}/log0099_1713198999.jpg`, join(outside, 'secret.jpg')]) {
      const r = await curl(['--path-as-is', `${api.url}/download-thumbnail?${t}`], scratch.dir);
      assert.ok(r.status === 400 || r.status === 404, `${t}: status ${r.status}`);
      assert.ok(!r.text.includes('SECRET'), `${t} leaked`);
    }
  });

  it('POST /download-video with a trick body answers 400/404', async () => {
    for (const t of ['/etc/passwd', join(outside, 'secret.mkv'), '../../x.mkv', `${rec}/log0099.mkv`, `${rec}/log0001.mkv\0.jpg`]) {
      // The body goes through a file: a NUL byte cannot be a command-line argument.
      const bodyFile = join(scratch.dir, 'body.txt');
      writeFileSync(bodyFile, t);
      const r = await curl(['-X', 'POST', '--data-binary', `@${bodyFile}`, `${api.url}/download-video`], scratch.dir);
      assert.ok(r.status === 400 || r.status === 404, `${JSON.stringify(t)}: status ${r.status}`);
      assert.ok(!r.text.includes('SECRET'));
    }
  });

  it('GET /api/v1/recordings/<trick> answers 400/404 with a JSON error', async () => {
    for (const t of ['..%2f..%2fx.mkv', '%2e%2e', '..', '..%2Foutside%2Fsecret.mkv', 'log0099.mkv', 'log0099_1713198999.jpg', 'log0001.mkv%00', '%2fetc%2fpasswd', 'passwd']) {
      const r = await curl(['--path-as-is', `${api.url}/api/v1/recordings/${t}`], scratch.dir);
      assert.ok(r.status === 400 || r.status === 404, `${t}: status ${r.status}`);
      assert.ok(!r.text.includes('SECRET'));
      const body = JSON.parse(r.text) as { error: { code: string; message: string } };
      assert.match(body.error.code, /^ERR_(PATH_OUTSIDE|NOT_FOUND)$/);
    }
    const dotdot = await curl(['--path-as-is', `${api.url}/api/v1/recordings/../../../etc/passwd`], scratch.dir);
    assert.ok(!dotdot.text.includes('root:'));
    assert.notEqual(dotdot.status, 200);
  });

  it('the real file is still served (the checks are not over-eager)', async () => {
    const r = await curl([`${api.url}/download-thumbnail?${rec}/log0001_${FIXTURE_MTIMES_S[0]}.jpg`], scratch.dir);
    assert.equal(r.status, 200);
  });
});

describe('cross-site protection of destructive requests', () => {
  const scratch = scratchDir('rearview-csrf-');
  let api: TestApi;
  before(async () => {
    makeRecordings(scratch.dir, 2);
    api = await startTestApi(scratch.dir);
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('refuses wipe, delete, settings and LED from another site; the files stay', async () => {
    const evil = ['-H', 'Origin: http://evil.example', '-H', 'Sec-Fetch-Site: cross-site'];
    const wipe = await curl([...evil, `${api.url}/wipe-local-videos`], scratch.dir);
    assert.equal(wipe.status, 403);
    const del = await curl([...evil, '-X', 'DELETE', `${api.url}/api/v1/recordings`], scratch.dir);
    assert.equal(del.status, 403);
    assert.equal((JSON.parse(del.text) as { error: { code: string } }).error.code, 'ERR_API_CROSS_SITE');
    const one = await curl(['-H', 'Origin: http://evil.example', '-X', 'DELETE', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(one.status, 403);
    const patch = await curl(['-H', 'Sec-Fetch-Site: cross-site', '-X', 'PATCH', '-d', '{"segmentMs":"30s"}', `${api.url}/api/v1/settings`], scratch.dir);
    assert.equal(patch.status, 403);
    const blink = await curl(['-H', 'Sec-Fetch-Site: same-site', '-H', 'Origin: http://other.local:8000', '-X', 'PUT', `${api.url}/blink-on`], scratch.dir);
    assert.equal(blink.status, 403);
    const restart = await curl(['-H', 'Origin: null', '-X', 'PUT', `${api.url}/restart-stream-mode`], scratch.dir);
    assert.equal(restart.status, 403);
    assert.equal(readdirSync(scratch.dir).filter((f) => f.endsWith('.mkv')).length, 2);
    assert.equal(api.device.led.blinking, false);
  });

  it('allows the same requests from our own page and from curl/app (no browser headers)', async () => {
    const own = ['-H', `Origin: ${api.url}`, '-H', 'Sec-Fetch-Site: same-origin'];
    const blink = await curl([...own, '-X', 'PUT', `${api.url}/blink-on`], scratch.dir);
    assert.equal(blink.status, 200);
    const read = await curl(['-H', 'Origin: http://evil.example', '-H', 'Sec-Fetch-Site: cross-site', `${api.url}/battery-percent`], scratch.dir);
    assert.equal(read.status, 200, 'reads are not destructive');
    const del = await curl([...own, '-X', 'DELETE', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(del.status, 200);
    const wipe = await curl([`${api.url}/wipe-local-videos`], scratch.dir);
    assert.equal(wipe.status, 200);
    assert.equal(readdirSync(scratch.dir).filter((f) => f.endsWith('.mkv')).length, 0);
  });

  it('isCrossSiteRequest: the header combinations', () => {
    const req = (h: Record<string, string>): IncomingMessage => ({ headers: { host: 'cam.local:8000', ...h } }) as unknown as IncomingMessage;
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

describe('API token', () => {
  const scratch = scratchDir('rearview-token-');
  let api: TestApi;
  before(async () => {
    makeRecordings(scratch.dir, 1);
    api = await startTestApi(scratch.dir, { config: { apiToken: 's3cret' } });
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('refuses every endpoint without the token', async () => {
    for (const path of ['/', '/battery-percent', '/list-local-videos', '/api/v1/status', '/metrics', '/no-such']) {
      const r = await curl([`${api.url}${path}`], scratch.dir);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    }
    const wrong = await curl(['-H', 'Authorization: Bearer nope', `${api.url}/api/v1/status`], scratch.dir);
    assert.equal(wrong.status, 401);
    assert.equal((JSON.parse(wrong.text) as { error: { code: string } }).error.code, 'ERR_API_UNAUTHORIZED');
  });

  it('accepts Authorization: Bearer and the pairing cookie, never ?token=', async () => {
    assert.equal((await curl(['-H', 'Authorization: Bearer s3cret', `${api.url}/api/v1/status`], scratch.dir)).status, 200);
    assert.equal((await curl(['-H', 'Cookie: rearview_token=s3cret', `${api.url}/battery-percent`], scratch.dir)).status, 200);
    assert.equal((await curl([`${api.url}/battery-percent?token=s3cret`], scratch.dir)).status, 401);
    const thumb = `${scratch.dir}/log0001_${FIXTURE_MTIMES_S[0]}.jpg`;
    assert.equal((await curl(['-H', 'Authorization: Bearer s3cret', `${api.url}/download-thumbnail?${thumb}`], scratch.dir)).status, 200);
    assert.equal((await curl([`${api.url}/download-thumbnail?${thumb}&token=s3cret`], scratch.dir)).status, 401);
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
    const isAllowed = (address: string | undefined, networks: string[]): boolean => compileAllowList(networks).allows(address);
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
    assert.throws(() => mergeConfig(defaultConfig(), { allowNetworks: '10.0.0.0/8,192.168.1.0/40' }), (err: Error) => err instanceof ConfigError && err.message.includes('"192.168.1.0/40"'));
    assert.throws(() => mergeConfig(defaultConfig(), { allowNetworks: ['camera.local'] }), ConfigError);
    assert.deepEqual(mergeConfig(defaultConfig(), { allowNetworks: '10.0.0.0/8, fd00::/8' }).allowNetworks, ['10.0.0.0/8', 'fd00::/8']);
  });
});

describe('DNS rebinding and Referer (no token set)', () => {
  // Regression: a page on evil.example rebound to the camera's address is same-origin (Origin host
  // equals Host), so every destructive route passed; and an <img> on a browser without Fetch
  // Metadata (Safari before 16.4) sends neither Sec-Fetch-Site nor Origin, only a Referer.
  const scratch = scratchDir('rearview-rebind-');
  let api: TestApi;
  before(async () => {
    makeRecordings(scratch.dir, 2);
    api = await startTestApi(scratch.dir, { config: { cameraName: 'bike-cam' } });
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('refuses destructive routes whose Host is a foreign name, keeps IP literals, .local, localhost and the camera name', async () => {
    const mkvs = (): number => readdirSync(scratch.dir).filter((f) => f.endsWith('.mkv')).length;
    const rebound = await curl(['-H', `Host: evil.example:${api.port}`, '-H', `Origin: http://evil.example:${api.port}`, `${api.url}/wipe-local-videos`], scratch.dir);
    assert.equal(rebound.status, 403);
    const del = await curl(['-H', 'Host: evil.example', '-X', 'DELETE', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(del.status, 403);
    assert.equal((JSON.parse(del.text) as { error: { code: string } }).error.code, 'ERR_API_CROSS_SITE');
    const img = await curl(['-H', `Referer: http://evil.example/page`, `${api.url}/wipe-local-videos`], scratch.dir);
    assert.equal(img.status, 403, 'a Referer from another host, without Origin or Sec-Fetch-Site');
    assert.equal(mkvs(), 2);
    // Regression: reads were open to a rebound page, which could copy every recording out.
    assert.equal((await curl(['-H', 'Host: evil.example', `${api.url}/battery-percent`], scratch.dir)).status, 403, 'reads need a trusted Host too');
    assert.equal((await curl(['-H', `Host: evil.example:${api.port}`, `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir)).status, 403, 'no recording for a rebound page');
    for (const host of ['192.168.9.1:8000', 'bike-cam.local', 'localhost:8000', 'bike-cam', '[fe80::1]:8000']) {
      const r = await curl(['-H', `Host: ${host}`, '-X', 'PUT', `${api.url}/blink-on`], scratch.dir);
      assert.equal(r.status, 200, host);
    }
    assert.equal((await curl(['-H', 'Host: 192.168.9.1:8000', '-X', 'DELETE', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir)).status, 200);
    assert.equal(mkvs(), 1);
  });

  it('isTrustedHost, the Referer rule and the live WebSocket guard', () => {
    const req = (h: Record<string, string>): IncomingMessage => ({ headers: h, url: '/api/v1/live', socket: { remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage;
    for (const host of ['192.168.9.1', '192.168.9.1:8000', '[::1]:8000', 'localhost', 'a.localhost:1', 'cam.local', 'cam.local.:8000', 'Bike-Cam:8000']) {
      assert.equal(isTrustedHost(req({ host }), 'bike-cam'), true, host);
    }
    for (const host of ['evil.example', 'evil.example:8000', 'bike-cam.evil.example', 'local', '[evil]:80', '1.2.3.4.evil.example', '[::1]x', '[::1]:80x']) {
      assert.equal(isTrustedHost(req({ host }), 'bike-cam'), false, host);
    }
    assert.equal(isTrustedHost(req({}), 'bike-cam'), true, 'no Host: not a browser');
    assert.equal(isCrossSiteRequest(req({ host: 'cam.local:8000', referer: 'http://evil.example/x' })), true);
    assert.equal(isCrossSiteRequest(req({ host: 'cam.local:8000', referer: 'http://cam.local:8000/' })), false);
    assert.equal(isCrossSiteRequest(req({ host: 'cam.local:8000', referer: 'http://evil.example/x', 'sec-fetch-site': 'same-origin' })), false, 'Fetch Metadata wins');
    const guard = liveStreamGuard({ cameraName: 'bike-cam' });
    assert.deepEqual(guard(req({ host: 'evil.example:8000', origin: 'http://evil.example:8000' })), { status: 403, reason: 'Forbidden' });
    assert.equal(guard(req({ host: '192.168.9.1:8000', origin: 'http://192.168.9.1:8000' })), undefined);
    assert.equal(liveStreamGuard({ cameraName: 'x', viewerOnly: true })(req({ host: 'laptop:8080', origin: 'http://laptop:8080' })), undefined, 'rearview view is a local viewer');
    assert.equal(liveStreamGuard({ apiToken: 't' })(req({ host: 'evil.example', origin: 'http://evil.example' }))?.status, 401, 'with a token the token decides');
  });
});
