/**
 * `rearview serve` never fails silently: a recordings folder that cannot be
 * created leaves a streaming daemon that says "not recording: <reason>"
 * (it used to hang start-up at full CPU and ignore SIGTERM); SIGTERM ends
 * the daemon with exit 0 in every state (starting, source failing, recorder
 * failing, running) before the 5 s SIGKILL of the test helper; a bad source
 * is refused with one line before any port is bound; aborted request bodies
 * are one debug line each, never a stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { RearviewDaemon } from '../../src/daemon.js';
import { startServe } from '../support/daemon.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A log line with a stack frame in it. */
const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$|^\s+at .+:\d+:\d+$/;

/** Runs `rearview serve ...args` to its end; SIGKILL after 15 s. */
async function serveUntilExit(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | string; stdout: string[]; stderr: string[] }> {
  const child = spawn(process.execPath, [cliPath, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => stdout.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number | string>((resolve) => child.once('close', (c, s) => resolve(c ?? s ?? -1)));
  clearTimeout(killer);
  return { code, stdout, stderr };
}

/** A port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('serve: a recordings folder that cannot be created', () => {
  it('keeps streaming, says "not recording: <reason>" on standard output, answers the API and stops on SIGTERM', async () => {
    // Regression: Node's recursive mkdir spins for ever on /proc/x (ENOENT with the parent present):
    // only "stream listening" was printed, the API never answered, SIGTERM was ignored.
    const serve = await startServe(
      [
        '--stream-port',
        '0',
        '--api-port',
        '0',
        '--no-mdns',
        '--bind',
        '127.0.0.1',
        '--recordings',
        '/proc/rearview-cannot-exist/recordings',
      ],
      { rawArgs: true, waitForApi: true },
    );
    cleanups.push(() => serve.close());
    const notRecording = serve.stdoutLines.find((l) => l.startsWith('not recording: '));
    assert.ok(notRecording, serve.stdoutLines.join('\n'));
    assert.match(notRecording, /ENOENT/);
    assert.match(notRecording, /\/proc\/rearview-cannot-exist/);
    const status = (await (await fetch(`http://127.0.0.1:${serve.apiPort}/api/v1/status`)).json()) as {
      stream: { framesPublished: number };
    };
    assert.equal(typeof status.stream.framesPublished, 'number');
    assert.equal(await serve.close(), 0, serve.stderrLines.join('\n'));
    assert.ok(!serve.stderrLines.some((l) => STACK_FRAME.test(l)), serve.stderrLines.join('\n'));
  });
});

describe('serve: SIGTERM ends the daemon with exit 0 in every state', () => {
  it('while starting (SIGTERM at its first log line)', async () => {
    const child = spawn(
      process.execPath,
      [cliPath, 'serve', '--stream-port', '0', '--api-port', '0', '--no-mdns', '--no-record', '--bind', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    let killer: ReturnType<typeof setTimeout> | undefined;
    createInterface({ input: child.stdout }).on('line', (l) => output.push(l));
    createInterface({ input: child.stderr }).on('line', (l) => {
      if (output.length === 0) {
        child.kill('SIGTERM'); // the TCP output logs before the services start
        killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      }
      output.push(l);
    });
    const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? -1)));
    clearTimeout(killer);
    assert.equal(code, 0, output.join('\n'));
  });

  it('while the source fails (connection refused, retrying)', async () => {
    const port = await closedPort();
    const serve = await startServe(['--source', `tcp://127.0.0.1:${port}`]);
    await waitFor(() => serve.stderrLines.some((l) => /connection refused/.test(l)), 'the source failing', 30_000);
    assert.equal(await serve.close(), 0, serve.stderrLines.join('\n'));
  });

  it('while recording (the sample)', async () => {
    // Recording on (rawArgs leaves out --no-record), into a scratch folder.
    const serve = await startServe(
      ['--stream-port', '0', '--api-port', '0', '--no-mdns', '--bind', '127.0.0.1', '--log-level', 'debug'],
      { rawArgs: true },
    );
    await waitFor(
      () => serve.stderrLines.some((l) => /segment log\d+\.mkv started/.test(l)),
      'a segment being recorded',
      30_000,
    );
    assert.equal(await serve.close(), 0, serve.stderrLines.join('\n'));
  });
});

describe('serve: options are checked before any port is bound', () => {
  for (const [source, why] of [
    ['bogus', /unknown source "bogus"/],
    ['tcp://camera:99999', /invalid stream address/],
    ['file:', /needs a path/],
  ] as const) {
    it(`--source ${source}: one line, exit 2, nothing listening`, async () => {
      const r = await serveUntilExit([
        '--source',
        source,
        '--stream-port',
        '0',
        '--api-port',
        '0',
        '--no-record',
        '--no-mdns',
      ]);
      assert.equal(r.code, 2, [...r.stdout, ...r.stderr].join('\n'));
      assert.equal(r.stdout.length, 0, r.stdout.join('\n'));
      assert.equal(r.stderr.length, 1, r.stderr.join('\n'));
      assert.match(r.stderr[0] as string, why);
    });
  }

  it('--source rpicam without rpicam-vid: one line, exit 5, no port bound first', async () => {
    const r = await serveUntilExit(
      ['--source', 'rpicam', '--stream-port', '0', '--api-port', '0', '--no-record', '--no-mdns'],
      { ...process.env, PATH: '/nonexistent' },
    );
    assert.equal(r.code, 5, [...r.stdout, ...r.stderr].join('\n'));
    assert.deepEqual(r.stdout, []);
    assert.ok(!r.stderr.some((l) => /listening|advertising/.test(l)), r.stderr.join('\n'));
    assert.match(r.stderr.at(-1) as string, /^rearview: neither rpicam-vid nor libcamera-vid was found/);
  });
});

describe('serve: aborted request bodies', () => {
  it('100 aborted POST bodies: one debug line each, no error and no stack trace', async () => {
    const serve = await startServe(['--bind', '127.0.0.1', '--log-level', 'debug'], { waitForApi: true });
    cleanups.push(() => serve.close());
    const aborted = (): number => serve.stderrLines.filter((l) => /request aborted by the client/.test(l)).length;
    for (let i = 0; i < 100; i++) {
      // Expect: 100-continue: the server answers "100 Continue" once the handler runs, so the
      // connection is cut while the body is being read (not before the request exists).
      const socket = connect(serve.apiPort as number, '127.0.0.1');
      socket.write(
        'POST /download-video HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\nExpect: 100-continue\r\n\r\n',
      );
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write('/home/pi/recor');
      socket.resetAndDestroy();
    }
    await waitFor(() => aborted() === 100, `100 aborted-request lines (have ${aborted()})`);
    const errors = serve.stderrLines.filter((l) => / (ERROR|WARN) /.test(l) || STACK_FRAME.test(l));
    assert.deepEqual(errors, []);
    assert.ok(serve.stderrLines.filter((l) => /request aborted/.test(l)).every((l) => / DEBUG /.test(l)));
    assert.equal(await serve.close(), 0);
  });
});

describe('RearviewDaemon: a part whose start never ends', () => {
  it('close() still finishes, and start() rejects instead of hanging', async () => {
    const config = loadConfig({ overrides: { bind: '127.0.0.1', streamPort: 0, record: false, mdns: false } });
    let closed = false;
    const daemon = new RearviewDaemon(config, {
      startingGraceMs: 50,
      services: [
        {
          name: 'stuck',
          start: () => new Promise<void>(() => undefined),
          close: async () => {
            closed = true;
          },
        },
      ],
    });
    const started = daemon.start();
    await waitFor(() => daemon.streamAddress !== undefined, 'the TCP output bound');
    await daemon.close();
    await assert.rejects(started, /closed while starting/);
    assert.equal(closed, true, 'the stuck part was closed too');
    assert.equal(daemon.tcpServer.clientCount, 0);
  });
});
