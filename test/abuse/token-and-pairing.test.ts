/**
 * Safe by default, against a real `rearview serve`: without a token only
 * trusted networks may change state; a token never travels in a URL; the
 * pairing cookie's flags; wrong tokens are rate-limited per address; a
 * token given by file or environment is not in `ps`; files holding
 * settings or the token are 0600.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { TokenAttemptLimiter } from '../../src/api/token-attempt-limiter.js';
import { loadConfig, mergeConfig, defaultConfig } from '../../src/config.js';
import { runCli } from '../cli/cli-run.js';
import { startDaemonInProcess, startServe, type ServeProcess } from '../support/daemon.js';
import { FakeClock } from '../support/fake-clock.js';
import { scratchDir } from '../support/paths.js';

const TOKEN = 'c0ffee-5ecret-token-for-tests-0123456789';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One HTTP request from `localAddress` (a 127.0.0.x address stands for another client). */
function send(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        localAddress: opts.localAddress ?? '127.0.0.1',
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const codeOf = (a: Answer): string | undefined => (JSON.parse(a.text) as { error?: { code?: string } }).error?.code;

/** Status of a WebSocket upgrade of the live view: 101 when it opened. */
async function liveUpgrade(port: number, query: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/live${query}`, { headers });
  ws.on('error', () => {
    // a refused upgrade also emits 'error'; the status comes from 'unexpected-response'
  });
  try {
    const first = await Promise.race([
      once(ws, 'open').then(() => 101),
      once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
    ]);
    return first;
  } finally {
    ws.terminate();
  }
}

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(args: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const s = await startServe(['--bind', '127.0.0.1', ...args], {
    waitForApi: true,
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  cleanups.push(() => s.close());
  return s;
}

describe('without a token: state changes only from trusted networks', () => {
  it('refuses wipe, delete, settings and LED from an untrusted address, serves reads, and serves all from a trusted one', async () => {
    const s = await serve(['--trusted-networks', '127.0.0.1/32']);
    const port = s.apiPort as number;
    const other = { localAddress: '127.0.0.2' };
    const legacyWipe = await send(port, '/wipe-local-videos', other);
    assert.equal(legacyWipe.status, 403);
    assert.match(legacyWipe.text, /trusted network/);
    for (const [method, path] of [
      ['DELETE', '/api/v1/recordings'],
      ['PATCH', '/api/v1/settings'],
      ['PUT', '/blink-on'],
      ['PUT', '/restart-stream-mode'],
    ] as const) {
      const r = await send(port, path, {
        ...other,
        method,
        body: method === 'PATCH' ? '{"segmentMs":"30s"}' : '',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 403, `${method} ${path}`);
      if (path.startsWith('/api/')) assert.equal(codeOf(r), 'ERR_API_UNTRUSTED_NETWORK');
    }
    // Reads are not state changes: the original app's listing and status keep working.
    assert.equal((await send(port, '/list-local-videos', other)).status, 200);
    assert.equal((await send(port, '/api/v1/status', other)).status, 200);
    // From the trusted address the same requests are served.
    const wipe = await send(port, '/wipe-local-videos');
    assert.equal(wipe.status, 200);
    assert.equal(wipe.text, 'Wiped 0 local videos');
    assert.equal((await send(port, '/blink-on', { method: 'PUT' })).text, 'Turned on LED');
  });

  it('trusts loopback and the device hotspot 192.168.9.0/24 by default', async () => {
    const d = await startDaemonInProcess();
    cleanups.push(() => d.close());
    const port = (d.daemon.apiAddress as { port: number }).port;
    assert.equal((await send(port, '/blink-off', { method: 'PUT', localAddress: '127.0.0.2' })).status, 200);
    assert.deepEqual(defaultConfig().trustedNetworks, ['127.0.0.0/8', '::1/128', '192.168.9.0/24']);
  });

  it('refuses a malformed trusted network at start-up', async () => {
    await assert.rejects(
      startDaemonInProcess({ trustedNetworks: ['192.168.9.0/33'] }),
      /trustedNetworks: "192\.168\.9\.0\/33"/,
    );
  });
});

describe('with a token from a file', () => {
  const scratch = scratchDir('rearview-token-abuse-');
  cleanups.push(() => scratch.cleanup());
  const tokenFile = join(scratch.dir, 'api-token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  let s: ServeProcess;
  let port: number;

  it('starts, and the token is nowhere in ps', async () => {
    s = await serve(['--api-token-file', tokenFile]);
    port = s.apiPort as number;
    const { stdout } = await promisify(execFile)('ps', ['-eo', 'pid,args', '-ww']);
    assert.ok(stdout.includes(String(s.process.pid)), 'ps lists the daemon');
    assert.ok(!stdout.includes(TOKEN), 'the token is not on any command line');
  });

  it('does not take the token from the URL, takes it from Authorization: Bearer', async () => {
    assert.equal((await send(port, `/api/v1/status?token=${TOKEN}`)).status, 401);
    assert.equal((await send(port, `/battery-percent?token=${TOKEN}`)).status, 401);
    assert.equal((await send(port, `/api/v1/events?token=${TOKEN}`)).status, 401);
    assert.equal(await liveUpgrade(port, `?token=${TOKEN}`), 401);
    assert.equal((await send(port, '/api/v1/status', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.equal(await liveUpgrade(port, '', { authorization: `Bearer ${TOKEN}` }), 101);
  });

  it('pairs with the token in the body: exact cookie flags (HttpOnly, SameSite=Strict, no Secure on http), then the cookie authenticates API, SSE and WebSocket', async () => {
    const unpaired = await send(port, '/api/v1/pair');
    assert.deepEqual(JSON.parse(unpaired.text), { tokenRequired: true, paired: false });
    const pair = await send(port, '/api/v1/pair', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    assert.equal(pair.status, 200, pair.text);
    assert.deepEqual(pair.headers['set-cookie'], [
      `rearview_token=${TOKEN}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict`,
    ]);
    const cookie = { cookie: `rearview_token=${TOKEN}` };
    assert.equal((await send(port, '/api/v1/recordings', { headers: cookie })).status, 200);
    assert.deepEqual(JSON.parse((await send(port, '/api/v1/pair', { headers: cookie })).text), {
      tokenRequired: true,
      paired: true,
      token: TOKEN,
    });
    assert.equal(await liveUpgrade(port, '', cookie), 101);
    // The SSE feed: headers arrive at once, then the request is dropped.
    const events = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/api/v1/events', headers: cookie, agent: false },
        (res) => {
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(events, 200);
    const unpair = await send(port, '/api/v1/pair', { method: 'DELETE', headers: cookie });
    assert.deepEqual(unpair.headers['set-cookie'], ['rearview_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict']);
  });

  it('refuses a cross-site pairing and a wrong cookie', async () => {
    const cross = await send(port, '/api/v1/pair', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: JSON.stringify({ token: TOKEN }),
    });
    assert.equal(cross.status, 403);
    assert.equal((await send(port, '/api/v1/status', { headers: { cookie: 'rearview_token=wrong' } })).status, 401);
  });

  it('blocks an address after repeated wrong tokens (429, even for the right one), not the others', async () => {
    const guesser = { localAddress: '127.0.0.3' };
    let tries = 0;
    let last: Answer | undefined;
    while (tries < 30) {
      tries++;
      last = await send(port, '/api/v1/pair', {
        ...guesser,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: `guess-${tries}` }),
      });
      if (last.status !== 401) break;
    }
    assert.equal(last?.status, 429, last?.text);
    assert.equal(codeOf(last as Answer), 'ERR_API_TOO_MANY_ATTEMPTS');
    assert.match(String(last?.headers['retry-after']), /^\d+$/);
    assert.ok(tries >= 11, `blocked after ${tries - 1} wrong tokens, expected 10`);
    const right = await send(port, '/api/v1/status', { ...guesser, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(right.status, 429, 'a blocked address cannot test guesses on other routes');
    assert.equal(
      await liveUpgrade(port, '', { authorization: 'Bearer guess' }).catch(() => 0),
      401,
      'from 127.0.0.1, not blocked',
    );
    assert.equal((await send(port, '/api/v1/status', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  });

  it('writes settings changed over the API 0600', async () => {
    const config = join(scratch.dir, 'config.json');
    writeFileSync(config, JSON.stringify({ apiTokenFile: tokenFile }), { mode: 0o644 });
    const d = await startDaemonInProcess({ apiTokenFile: tokenFile }, { configFile: config });
    cleanups.push(() => d.close());
    const r = await send((d.daemon.apiAddress as { port: number }).port, '/api/v1/settings', {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"segmentMs":"30s"}',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(statSync(config).mode & 0o777, 0o600);
    assert.match(readFileSync(config, 'utf8'), /"segmentMs": "30000ms"/);
  });
});

describe('token by environment; token files checked', () => {
  const scratch = scratchDir('rearview-token-env-');
  cleanups.push(() => scratch.cleanup());

  it('takes REARVIEW_API_TOKEN, which ps does not show', async () => {
    const s = await serve([], { REARVIEW_API_TOKEN: TOKEN });
    const { stdout } = await promisify(execFile)('ps', ['-eo', 'pid,args', '-ww']);
    assert.ok(!stdout.includes(TOKEN));
    assert.equal((await send(s.apiPort as number, '/api/v1/status')).status, 401);
    assert.equal(
      (await send(s.apiPort as number, '/api/v1/status', { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      200,
    );
    // The client commands read the same variable, or a file.
    const status = await runCli(['status', '--camera', `127.0.0.1:${s.apiPort as number}`, '--json'], {
      env: { REARVIEW_API_TOKEN: TOKEN },
    });
    assert.equal(status.code, 0, status.stderr);
    const file = join(scratch.dir, 'client-token');
    writeFileSync(file, TOKEN, { mode: 0o600 });
    const byFile = await runCli(
      ['status', '--camera', `127.0.0.1:${s.apiPort as number}`, '--api-token-file', file, '--json'],
      { env: { REARVIEW_API_TOKEN: '', REARVIEW_TOKEN: '' } },
    );
    assert.equal(byFile.code, 0, byFile.stderr);
  });

  it('refuses a token file readable by every user, a symbolic link, and an empty file (exit 2)', async () => {
    const loose = join(scratch.dir, 'loose');
    writeFileSync(loose, TOKEN);
    chmodSync(loose, 0o644);
    const link = join(scratch.dir, 'link');
    const tight = join(scratch.dir, 'tight');
    writeFileSync(tight, TOKEN, { mode: 0o600 });
    symlinkSync(tight, link);
    const empty = join(scratch.dir, 'empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    for (const [file, why] of [
      [loose, /chmod 600/],
      [link, /symbolic link/],
      [empty, /empty/],
    ] as const) {
      const r = await runCli([
        'serve',
        '--no-mdns',
        '--no-record',
        '--api-port',
        '0',
        '--stream-port',
        '0',
        '--recordings',
        join(scratch.dir, 'rec'),
        '--api-token-file',
        file,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
      assert.ok(!r.stderr.includes(TOKEN), 'errors never print the token');
    }
  });
});

describe('token configuration', () => {
  const scratch = scratchDir('rearview-token-config-');
  after(() => scratch.cleanup());

  it('takes the environment over the file, the command line over both; one of token and token file per layer', () => {
    const file = join(scratch.dir, 't');
    writeFileSync(file, 'from-file', { mode: 0o600 });
    const configFile = join(scratch.dir, 'c.json');
    writeFileSync(configFile, JSON.stringify({ apiTokenFile: file }));
    assert.equal(loadConfig({ file: configFile }).apiToken, 'from-file');
    assert.equal(loadConfig({ file: configFile, env: { REARVIEW_API_TOKEN: 'from-env' } }).apiToken, 'from-env');
    assert.equal(
      loadConfig({ file: configFile, env: { REARVIEW_API_TOKEN: 'from-env' }, overrides: { apiToken: 'from-cli' } })
        .apiToken,
      'from-cli',
    );
    assert.equal(
      loadConfig({ env: { REARVIEW_API_TOKEN: 'from-env' }, overrides: { apiTokenFile: file } }).apiToken,
      'from-file',
    );
    assert.throws(
      () => mergeConfig(defaultConfig(), { apiToken: 'a', apiTokenFile: file }),
      /either apiToken or apiTokenFile/,
    );
  });

  it('refuses tokens that cannot travel in a header or cookie, without echoing them', () => {
    for (const bad of ['has space', 'semi;colon', 'quote"', 'comma,', 'back\\slash', 'n\u00e9']) {
      assert.throws(
        () => mergeConfig(defaultConfig(), { apiToken: bad }),
        (err: Error) => /apiToken: use printable ASCII/.test(err.message) && !err.message.includes(bad),
      );
    }
  });
});

describe('TokenAttemptLimiter', () => {
  it('allows 10 wrong tokens, then one more every 6 s; per address, IPv6 per /64', () => {
    const clock = new FakeClock(0);
    const limiter = new TokenAttemptLimiter({ now: clock.now });
    for (let i = 0; i < 10; i++) {
      assert.equal(limiter.retryAfterMs('10.0.0.5'), 0);
      limiter.failed('10.0.0.5');
    }
    assert.equal(limiter.retryAfterMs('10.0.0.5'), 6000);
    assert.equal(limiter.retryAfterMs('::ffff:10.0.0.5'), 6000, 'IPv4-mapped is the same client');
    assert.equal(limiter.retryAfterMs('10.0.0.6'), 0);
    clock.advance(5999);
    assert.equal(limiter.retryAfterMs('10.0.0.5'), 1);
    clock.advance(1);
    assert.equal(limiter.retryAfterMs('10.0.0.5'), 0);
    limiter.failed('10.0.0.5');
    assert.ok(limiter.retryAfterMs('10.0.0.5') > 0);
    clock.advance(60_000);
    assert.equal(limiter.retryAfterMs('10.0.0.5'), 0, 'fully refilled after a minute');

    for (let i = 0; i < 10; i++) limiter.failed(`2001:db8:1:2::${i + 1}`);
    assert.ok(limiter.retryAfterMs('2001:db8:1:2:ffff::1') > 0, 'same /64');
    assert.equal(limiter.retryAfterMs('2001:db8:1:3::1'), 0, 'another /64');
  });

  it('forgets the oldest clients beyond its bound', () => {
    const limiter = new TokenAttemptLimiter({ burst: 1, maxClients: 2, now: () => 0 });
    limiter.failed('10.0.0.1');
    limiter.failed('10.0.0.2');
    limiter.failed('10.0.0.3');
    assert.equal(limiter.retryAfterMs('10.0.0.1'), 0);
    assert.ok(limiter.retryAfterMs('10.0.0.3') > 0);
  });
});
