/**
 * Bad publishing targets never crash the camera: a malformed URL, an unknown
 * or unsupported scheme, a missing CA file are one line and exit 2 at
 * start-up (the password never in it); an unreachable server, refused
 * credentials and a missing ffmpeg are a status (state, masked error, code)
 * while the camera goes on serving. The settings API shows the targets
 * masked and refuses to change them; /metrics and `rearview status` show
 * each publisher.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import type { PublishService } from '../../src/outputs/publish-service.js';
import { startDaemonInProcess, startServe, type InProcessDaemon } from '../support/daemon.js';
import { freeUdpPort, startReceiver } from '../support/media-receivers.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

function publishService(d: InProcessDaemon): PublishService {
  return d.daemon.services.find((s) => s.name === 'publish') as PublishService;
}

/** Runs `rearview serve ...args` to its end (it must refuse at once). */
function serveRefused(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [
      cliPath,
      'serve',
      '--no-mdns',
      '--stream-port',
      '0',
      '--api-port',
      '0',
      ...args,
    ]);
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('bad publishing targets at start-up', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown scheme', ['--publish', 'ftp://user:hunter2pw@example.com/x'], /unknown scheme "ftp:"/],
    ['malformed URL', ['--publish', 'rtmp://[::1/app/key'], /not a valid URL/],
    ['spaces', ['--publish', 'rtsp://host/a b'], /spaces and control characters/],
    ['rtmp without a stream name', ['--publish', 'rtmp://user:hunter2pw@host'], /application and a stream name/],
    ['https:// for WHIP', ['--publish', 'https://user:hunter2pw@host/whip'], /whip\+https:\/\//],
    ['whip://', ['--publish', 'whip://hunter2pw@host/whip'], /whip\+https:\/\//],
    ['WHIP host not a name', ['--publish', 'whip+https://hunter2pw@ho%2Fst/whip'], /not a host name or address/],
    ['WHIP malformed', ['--publish', 'whip+https://hunter2pw@[::1/whip'], /not a valid URL/],
    ['WHIP user and token', ['--publish', 'whip+https://user:hunter2pw@host/whip'], /bearer:TOKEN@/],
    [
      'WHIP token with a line break',
      ['--publish', 'whip+https://bearer:hunter2pw%0d%0aX@host/whip'],
      /printable ASCII/,
    ],
    ['srt listener mode', ['--publish', 'srt://host:9000?mode=listener'], /caller mode only/],
    ['short srt passphrase', ['--publish', 'srt://host:9000?passphrase=hunter2pw'], /10 to 79 characters/],
    ['missing CA file', ['--publish-ca', '/nonexistent/ca.pem'], /publishCa: cannot read/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one line, exit 2, no secret`, async () => {
      const r = await serveRefused(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /hunter2pw/);
      assert.equal(r.stdout, '', 'nothing listened');
    });
  }
});

describe('publishing targets that fail while running', () => {
  it('an unreachable server: retrying with ERR_PUBLISH_CONNECT, port 5000 still serves', async () => {
    const d = await startDaemonInProcess({ publish: ['rtsp://cam:hunter2pw@127.0.0.1:1/live/cam'] });
    cleanups.push(() => d.close());
    await waitFor(() => publishService(d).status()[0]?.lastErrorCode != null, 'a failure', 20_000);
    const s = publishService(d).status()[0];
    assert.equal(s?.lastErrorCode, 'ERR_PUBLISH_CONNECT', String(s?.lastError));
    assert.match(String(s?.lastError), /connection refused/);
    assert.ok(s?.state === 'retrying' || s?.state === 'connecting', s?.state);
    assert.equal(s?.url, 'rtsp://***:***@127.0.0.1:1/live/cam');
    assert.doesNotMatch(JSON.stringify(s), /hunter2pw/);
    await waitFor(() => d.daemon.hub.stats().frames > 0, 'the stream going on');
    await d.close();
  });

  it('a wrong SRT passphrase: ERR_PUBLISH_AUTH naming the passphrase, retrying with backoff, no crash', async () => {
    // A real SRT listener (ffmpeg) with another passphrase than the camera's.
    const port = await freeUdpPort();
    const receiver = startReceiver('srt', port);
    cleanups.push(() => receiver.kill());
    const d = await startDaemonInProcess({
      publish: [`srt://127.0.0.1:${port}?passphrase=wrong-hunter2pw-passphrase`],
    });
    cleanups.push(() => d.close());
    const status = () => publishService(d).status()[0];
    // Two failures: the first reported, then a retry after a backoff delay that fails the same way.
    await waitFor(() => (status()?.reconnects ?? 0) >= 1 && status()?.state === 'retrying', 'a second failure', 40_000);
    const s = status();
    assert.equal(s?.lastErrorCode, 'ERR_PUBLISH_AUTH', String(s?.lastError));
    assert.match(String(s?.lastError), /refused the passphrase/);
    assert.ok((s?.retryInMs ?? -1) >= 0, 'a retry is scheduled');
    assert.equal(s?.url, `srt://127.0.0.1:${port}?passphrase=***`);
    assert.doesNotMatch(JSON.stringify(s), /hunter2pw/);
    assert.equal(receiver.frames(), 0, 'nothing decoded with the wrong key');
    await waitFor(() => d.daemon.hub.stats().frames > 0, 'the stream going on');
    await d.close();
    await receiver.kill();
  });

  it('a server that accepts TCP and never answers: ERR_PUBLISH_TIMEOUT "timed out" (RTSP and WHIP)', async () => {
    // The connections are taken and never read nor answered: a host that hangs, not one that refuses.
    const held: Array<import('node:net').Socket> = [];
    const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
      held.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as { port: number }).port;
    const d = await startDaemonInProcess({
      publish: [`rtsp://127.0.0.1:${port}/live/cam`, `whip+http://127.0.0.1:${port}/whip/cam`],
    });
    cleanups.push(() => d.close());
    // Documented: 15 s after the session's first frame (docs/errors.md, ERR_PUBLISH_TIMEOUT); the wait
    // below is a guard with room for a loaded machine, not a measurement.
    await waitFor(
      () =>
        publishService(d)
          .status()
          .every((p) => p.lastErrorCode != null),
      'both publishers failing',
      40_000,
    );
    for (const s of publishService(d).status()) {
      assert.equal(s.lastErrorCode, 'ERR_PUBLISH_TIMEOUT', `${s.scheme}: ${s.lastError}`);
      assert.match(String(s.lastError), /timed out/);
      assert.ok(s.state === 'retrying' || s.state === 'connecting', s.state);
    }
    assert.ok(held.length >= 2, 'both connected and were left hanging');
    await d.close();
  });

  it('refused credentials: ERR_PUBLISH_AUTH, the password masked', async () => {
    // An RTSP server that wants other credentials: 401 to everything (the part of a server that matters here).
    let requests = 0;
    const server: Server = createServer((socket) => {
      let buffered = '';
      socket.on('data', (b: Buffer) => {
        buffered += b.toString('latin1');
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffered.slice(0, end);
          const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          buffered = buffered.slice(end + 4 + length);
          requests++;
          const cseq = /cseq:\s*(\d+)/i.exec(head)?.[1] ?? '0';
          socket.write(
            `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="camera"\r\nContent-Length: 0\r\n\r\n`,
          );
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const d = await startDaemonInProcess({ publish: [`rtsp://cam:hunter2pw@127.0.0.1:${port}/live/cam`] });
    cleanups.push(() => d.close());
    await waitFor(() => publishService(d).status()[0]?.lastErrorCode != null, 'a failure', 20_000);
    const s = publishService(d).status()[0];
    assert.equal(s?.lastErrorCode, 'ERR_PUBLISH_AUTH', String(s?.lastError));
    assert.doesNotMatch(JSON.stringify(s), /hunter2pw/);
    assert.ok(requests > 0);
    await d.close();
  });

  it('no ffmpeg: state unavailable, shown masked in status, /metrics, settings, `rearview status`; not settable over HTTP', async () => {
    const serve = await startServe(
      [
        '--publish',
        'rtmp://127.0.0.1:1/live/streamkey-hunter2pw',
        '--publish',
        'srt://127.0.0.1:9?passphrase=hunter2pw-long-enough#profile=record',
        '--bind',
        '127.0.0.1',
      ],
      { waitForApi: true, env: { ...process.env, PATH: '/nonexistent', REARVIEW_FFMPEG: '' } },
    );
    cleanups.push(() => serve.close());
    const base = `http://127.0.0.1:${serve.apiPort}`;
    type Doc = { publish: Array<Record<string, unknown>> };
    let status: Doc = { publish: [] };
    await waitFor(async () => {
      status = (await (await fetch(`${base}/api/v1/status`)).json()) as Doc;
      return status.publish.every((p) => p.state === 'unavailable');
    }, 'both publishers unavailable');
    assert.equal(status.publish.length, 2);
    assert.equal(status.publish[0]?.lastErrorCode, 'ERR_PUBLISH_NO_FFMPEG');
    assert.match(String(status.publish[0]?.lastError), /no ffmpeg found/);
    assert.equal(status.publish[0]?.url, 'rtmp://127.0.0.1:1/live/***');
    assert.equal(status.publish[1]?.url, 'srt://127.0.0.1:9?passphrase=***#profile=record');
    assert.equal(status.publish[1]?.profile, 'record');

    const settings = (await (await fetch(`${base}/api/v1/settings`)).json()) as { publish: string[] };
    assert.deepEqual(settings.publish, [
      'rtmp://127.0.0.1:1/live/***',
      'srt://127.0.0.1:9?passphrase=***#profile=record',
    ]);
    const patch = await fetch(`${base}/api/v1/settings`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ publish: ['rtmp://evil.example/live/x'] }),
    });
    assert.equal(patch.status, 400);
    assert.match(await patch.text(), /cannot be changed over HTTP/);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /rearview_publish_up\{publisher="0",scheme="rtmp",profile="stream"\} 0/);
    assert.match(metrics, /rearview_publish_reconnects_total\{publisher="1",scheme="srt",profile="record"\} 0/);

    const cli = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [cliPath, 'status', '--camera', `127.0.0.1:${serve.apiPort}`], {
        env: { ...process.env, NO_COLOR: '1' },
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.on('exit', () => resolve(out));
    });
    assert.match(cli, /rtmp:\/\/127\.0\.0\.1:1\/live\/\*\*\* unavailable/);
    assert.match(cli, /no ffmpeg found/);

    const everything = [JSON.stringify(status), JSON.stringify(settings), metrics, cli, ...serve.stderrLines].join(
      '\n',
    );
    assert.doesNotMatch(everything, /hunter2pw/);
    assert.equal(serve.stderrLines.filter((l) => /cannot publish/.test(l)).length, 2, 'one line per target');
  });
});
