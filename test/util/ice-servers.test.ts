/**
 * `webrtcIceServers` (src/util/ice-servers.ts): the URLs and credentials accepted, refused and
 * masked; what reaches node-datachannel; the config loader's errors never
 * echo a credential. (Over HTTP: test/web/webrtc-live.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { maskedIceServers, parseIceServers, toNdcIceServers } from '../../src/util/ice-servers.js';

describe('webrtcIceServers', () => {
  it('accepts stun:, turn: and turns: URLs and RTCIceServer-like objects, with default ports', () => {
    const list = parseIceServers([
      'stun:stun.example.org',
      'STUN:192.0.2.1:19302',
      { urls: 'turn:turn.example.org?transport=tcp', username: 'rider', credential: 's3cret!' },
      { urls: 'turns:[2001:db8::1]', username: 'u', credential: 'p' },
    ]);
    assert.deepEqual(list, [
      { urls: 'stun:stun.example.org:3478' },
      { urls: 'stun:192.0.2.1:19302' },
      { urls: 'turn:turn.example.org:3478?transport=tcp', username: 'rider', credential: 's3cret!' },
      { urls: 'turns:[2001:db8::1]:5349', username: 'u', credential: 'p' },
    ]);
    // The kept form parses to itself (a config merged twice).
    assert.deepEqual(parseIceServers(list), list);
    assert.deepEqual(toNdcIceServers(list), [
      { hostname: 'stun.example.org', port: 3478 },
      { hostname: '192.0.2.1', port: 19302 },
      { hostname: 'turn.example.org', port: 3478, relayType: 'TurnTcp', username: 'rider', password: 's3cret!' },
      { hostname: '2001:db8::1', port: 5349, relayType: 'TurnTls', username: 'u', password: 'p' },
    ]);
    assert.deepEqual(maskedIceServers(list)[2], {
      urls: 'turn:turn.example.org:3478?transport=tcp',
      username: '***',
      credential: '***',
    });
  });

  it('refuses other schemes, bad hosts and ports, credentials on stun:, missing credentials on turn:', () => {
    for (const bad of [
      'http://stun.example.org',
      'stun:',
      'stun:host name',
      'stun:host:0',
      'stun:host:70000',
      'stun:host?transport=udp',
      'turns:host?transport=udp',
      'turn:user:pass@host:3478',
      'stun:host;reboot',
      { urls: 'stun:host', username: 'u', credential: 'p' },
      { urls: 'turn:host' },
      { urls: 'turn:host', username: 'u', credential: 'has space' },
      { urls: 'turn:host', username: 'u', credential: 'p', extra: 1 },
      42,
    ]) {
      assert.throws(() => parseIceServers([bad]), `refused: ${JSON.stringify(bad)}`);
    }
    assert.throws(() => parseIceServers('stun:host'), /a list/);
    assert.throws(() => parseIceServers(Array.from({ length: 9 }, () => 'stun:h')), /at most 8/);
  });

  it('is validated by the config loader without echoing a credential', () => {
    const config = mergeConfig(defaultConfig(), {
      webrtcIceServers: [{ urls: 'turn:turn.example.org', username: 'rider', credential: 'topsecret' }],
    });
    assert.equal(config.webrtcIceServers[0]?.credential, 'topsecret');
    assert.deepEqual(defaultConfig().webrtcIceServers, []);
    assert.throws(
      () =>
        mergeConfig(defaultConfig(), {
          webrtcIceServers: [{ urls: 'turn:turn.example.org', username: 'rider', credential: 'top secret' }],
        }),
      (err: Error) =>
        err instanceof ConfigError && /credential/.test(err.message) && !err.message.includes('top secret'),
    );
  });
});
