/** Publishing targets: parsing, the closed list of schemes, masking, and the fleet name. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { deviceSuffix, fleetName } from '../../src/util/fleet-name.js';
import { maskSecrets, parsePublishTarget, whipEndpoint } from '../../src/util/publish-url.js';

describe('parsePublishTarget', () => {
  it('masks user, password, secret query values and the RTMP stream key', () => {
    const rtsp = parsePublishTarget('rtsp://cam:p%40ss@media.example:8554/ride/{name}');
    assert.equal(rtsp.scheme, 'rtsp');
    assert.equal(rtsp.masked, 'rtsp://***:***@media.example:8554/ride/{name}');
    assert.equal(rtsp.profile, 'stream');
    assert.ok(rtsp.secrets.includes('p%40ss') && rtsp.secrets.includes('p@ss'));

    const rtmp = parsePublishTarget('rtmp://a.rtmp.example/live2/abcd-efgh-ijkl');
    assert.equal(rtmp.masked, 'rtmp://a.rtmp.example/live2/***');
    assert.equal(parsePublishTarget('rtmp://h/app/{name}').masked, 'rtmp://h/app/{name}');

    const srt = parsePublishTarget(
      'srt://ingest.example:9000?streamid=publish:cam:u:p&passphrase=0123456789&latency=200000',
    );
    assert.equal(srt.masked, 'srt://ingest.example:9000?streamid=***&passphrase=***&latency=200000');

    const rtmps = parsePublishTarget('rtmps://live.example:443/app/key123#profile=record');
    assert.equal(rtmps.tls, true);
    assert.equal(rtmps.profile, 'record');
    assert.equal(rtmps.url, 'rtmps://live.example:443/app/key123', 'the fragment never reaches ffmpeg');
    assert.equal(rtmps.masked, 'rtmps://live.example:443/app/***#profile=record');
  });

  it('WHIP: whip+https:// and whip+http://, the token from the user information, masked', () => {
    const a = parsePublishTarget('whip+https://tok%40en@Media.Example:8889/ride/{name}/whip?room=1#profile=record');
    assert.equal(a.scheme, 'whip+https');
    assert.equal(a.tls, true);
    assert.equal(a.profile, 'record');
    assert.equal(a.masked, 'whip+https://***@Media.Example:8889/ride/{name}/whip?room=1#profile=record');
    assert.deepEqual(whipEndpoint(a.url.replace('{name}', 'cam')), {
      endpoint: 'https://Media.Example:8889/ride/cam/whip?room=1',
      token: 'tok@en',
    });
    assert.doesNotMatch(maskSecrets('Bearer tok@en failed for tok%40en', a), /tok/);
    const b = parsePublishTarget('whip+http://bearer:s3cret@127.0.0.1/whip');
    assert.equal(b.tls, false);
    assert.equal(b.masked, 'whip+http://***:***@127.0.0.1/whip');
    assert.deepEqual(whipEndpoint(b.url), { endpoint: 'http://127.0.0.1/whip', token: 's3cret' });
    assert.deepEqual(whipEndpoint(parsePublishTarget('whip+https://[::1]:8443/w').url), {
      endpoint: 'https://[::1]:8443/w',
      token: undefined,
    });
  });

  it('maskSecrets hides the URL and every secret in any text (ffmpeg errors)', () => {
    const t = parsePublishTarget('rtmp://u:pw-secret@h/app/streamkey42');
    const text = `[rtmp @ 0x1] rtmp://u:pw-secret@h/app/streamkey42: I/O error; key streamkey42, pw pw-secret`;
    const masked = maskSecrets(text, t);
    assert.doesNotMatch(masked, /pw-secret|streamkey42/);
    assert.match(masked, /rtmp:\/\/\*\*\*:\*\*\*@h\/app\/\*\*\*/);
  });

  it('refuses what it cannot publish to safely, naming only the masked URL', () => {
    const refused: Array<[string, RegExp]> = [
      ['ftp://u:secretpw@h/x', /unknown scheme "ftp:"/],
      ['file:///etc/passwd', /unknown scheme "file:"/],
      ['https://h/whip', /whip\+https:\/\//],
      ['whip://secretpw@h/whip', /whip\+https:\/\//],
      ['whip+https://secretpw@h%2Fx/whip', /not a host name or address/],
      ['whip+https://user:secretpw@h/whip', /bearer:TOKEN@/],
      ['whip+https://bearer:secretpw%0A@h/whip', /printable ASCII/],
      ['rtmp://h', /application and a stream name/],
      ['rtmp://h/app', /application and a stream name/],
      ['srt://h', /needs a port/],
      ['srt://h:9000?mode=listener', /caller mode only/],
      ['srt://h:9000?localport=5000', /not supported/],
      ['srt://h:9000?latency=1e9', /whole number/],
      ['srt://h:9000?pbkeylen=8', /16, 24 or 32/],
      ['rtsp://h/x#profile=other', /expected #profile=record/],
      ['rtsp://h/a b', /spaces and control characters/],
      ['rtsp://h/a\nb', /spaces and control characters/],
      ['rtsp://[::1/x', /not a valid URL/],
      ['rtsp:///x', /no host|not a valid URL/],
      ['', /expected a URL/],
    ];
    for (const [url, re] of refused) {
      assert.throws(
        () => parsePublishTarget(url),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'ERR_CONFIG');
          assert.match(err.message, re, url);
          assert.doesNotMatch(err.message, /secretpw/);
          return true;
        },
        url,
      );
    }
  });

  it('config: publish is a list (one URL on the command line becomes one), at most 8, checked when loading', () => {
    const one = mergeConfig(defaultConfig(), { publish: 'rtsp://h/x' });
    assert.deepEqual(one.publish, ['rtsp://h/x']);
    const two = mergeConfig(defaultConfig(), { publish: ['rtsp://h/x', 'srt://h:1'] });
    assert.deepEqual(two.publish, ['rtsp://h/x', 'srt://h:1']);
    assert.throws(() => mergeConfig(defaultConfig(), { publish: ['ftp://h/x'] }), /unknown scheme/);
    assert.throws(
      () => mergeConfig(defaultConfig(), { publish: Array.from({ length: 9 }, () => 'rtsp://h/x') }),
      /at most 8/,
    );
    assert.deepEqual(defaultConfig().publish, []);
  });
});

describe('fleetName', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rearview-fleet-'));
  const serial = join(dir, 'serial-number');
  const machineId = join(dir, 'machine-id');
  writeFileSync(serial, '10000000abcd1234\0');
  writeFileSync(machineId, '0123456789abcdef0123456789abcdef\n');

  it('the default name gets the board serial (last 8 hex digits), else a hash of the machine id', () => {
    assert.equal(
      fleetName('velovision-rearview', 'velovision-rearview', { serialNumberPath: serial, machineIdPath: machineId }),
      'velovision-rearview-abcd1234',
    );
    const fromId = deviceSuffix({ serialNumberPath: join(dir, 'none'), machineIdPath: machineId });
    assert.match(fromId ?? '', /^[0-9a-f]{8}$/);
    assert.ok(!'0123456789abcdef0123456789abcdef'.includes(fromId ?? 'x'), 'the machine id itself is not shown');
    assert.equal(
      fleetName('velovision-rearview', 'velovision-rearview', {
        serialNumberPath: join(dir, 'none'),
        machineIdPath: join(dir, 'none'),
      }),
      'velovision-rearview',
    );
  });

  it('a name the owner chose is kept as it is', () => {
    assert.equal(fleetName('bike-7', 'velovision-rearview', { serialNumberPath: serial }), 'bike-7');
    rmSync(dir, { recursive: true, force: true });
  });
});
