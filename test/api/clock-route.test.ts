/**
 * `POST /api/v1/clock` and `status.clock` on a real ApiServer: bad bodies,
 * the access rules (a client outside the trusted networks and without the
 * token cannot set the time; with the token it can), and curl as a phone's
 * app would send it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClockSetResult, StatusDocument } from '../../src/api/wire-types.js';
import { CameraClock } from '../../src/util/camera-clock.js';
import { FakeClock } from '../support/fake-clock.js';
import { scratchDir } from '../support/paths.js';
import { curl, startTestApi } from './api-harness.js';

const PHONE_MS = Date.UTC(2027, 8, 9, 10, 11, 12);

function unsetClock(): CameraClock {
  return new CameraClock({ base: new FakeClock(0), probe: async () => ({ ntpSynchronized: false, hasRtc: false }) });
}

const post = (url: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/api/v1/clock`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

test('bad bodies are refused with 400 and leave the clock unset', async () => {
  const scratch = scratchDir();
  const clock = unsetClock();
  const api = await startTestApi(scratch.dir, { api: { clock } });
  try {
    for (const body of [
      'not json',
      '{}',
      'null',
      '[]',
      '{"epochMs":"1800000000000"}',
      '{"epochMs":0}',
      '{"epochMs":-5}',
      '{"epochMs":1e300}',
      '{"epochMs":4102444800000}',
      `{"epochMs":${PHONE_MS},"pad":"${'x'.repeat(2000)}"}`,
    ]) {
      const r = await post(api.url, body);
      assert.ok(r.status === 400 || r.status === 413, `${body.slice(0, 40)}: ${r.status}`);
      const doc = (await r.json()) as { error: { code: string } };
      assert.equal(doc.error.code, 'ERR_API_BAD_REQUEST', body.slice(0, 40));
    }
    assert.equal(clock.isSet, false);
    const status = (await (await fetch(`${api.url}/api/v1/status`)).json()) as StatusDocument;
    assert.equal(status.clock.set, false);
  } finally {
    await api.close();
    scratch.cleanup();
  }
});

test('outside the trusted networks without the token the time is refused; with the token it is taken', async () => {
  const scratch = scratchDir();
  const clock = unsetClock();
  // Loopback is not trusted here, as a phone on another network would not be.
  const api = await startTestApi(scratch.dir, { api: { clock }, config: { trustedNetworks: ['10.99.0.0/16'] } });
  try {
    const refused = await post(api.url, JSON.stringify({ epochMs: PHONE_MS }));
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ERR_API_UNTRUSTED_NETWORK');
    const crossSite = await post(api.url, JSON.stringify({ epochMs: PHONE_MS }), { origin: 'http://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.equal(clock.isSet, false);
  } finally {
    await api.close();
  }
  const withToken = await startTestApi(scratch.dir, {
    api: { clock },
    config: { trustedNetworks: ['10.99.0.0/16'], apiToken: 'a-long-enough-test-token-1234' },
  });
  try {
    assert.equal((await post(withToken.url, JSON.stringify({ epochMs: PHONE_MS }))).status, 401);
    const r = await post(withToken.url, JSON.stringify({ epochMs: PHONE_MS }), {
      authorization: 'Bearer a-long-enough-test-token-1234',
    });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as ClockSetResult).applied, true);
    assert.equal(clock.state.source, 'client');
  } finally {
    await withToken.close();
    scratch.cleanup();
  }
});

test('curl posts the time as an app would; status says where the time came from', async () => {
  const scratch = scratchDir();
  const clock = unsetClock();
  const api = await startTestApi(scratch.dir, { api: { clock } });
  try {
    const r = await curl(
      [
        '-s',
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data',
        JSON.stringify({ epochMs: PHONE_MS }),
        `${api.url}/api/v1/clock`,
      ],
      scratch.dir,
    );
    assert.equal(r.status, 200, r.body.toString());
    const result = JSON.parse(r.body.toString()) as ClockSetResult;
    assert.deepEqual(
      { applied: result.applied, set: result.set, source: result.source, now: result.now },
      { applied: true, set: true, source: 'client', now: new Date(PHONE_MS).toISOString() },
    );
    const status = (await (await fetch(`${api.url}/api/v1/status`)).json()) as StatusDocument;
    assert.deepEqual([status.clock.set, status.clock.source, status.clock.reason], [true, 'client', null]);
  } finally {
    await api.close();
    scratch.cleanup();
  }
});
