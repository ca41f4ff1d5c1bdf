/**
 * Every error path of the client commands (status, videos, record, doctor)
 * prints exactly one line on stderr and exits with the documented code
 * (src/cli/exit-codes.ts): 2 usage, 3 not H.264, 4 unreachable, 5 disk,
 * 6 not a Rearview / HTTP error, 7 doctor found a problem.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { makeRecordings, startTestApi, type TestApi } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { runCli, type CliResult } from './cli-run.js';

let api: TestApi;
let recordings: { dir: string; cleanup: () => void };
let scratch: { dir: string; cleanup: () => void };
let notCamera: HttpServer;
let notCameraPort: number;
let closedPort: number;
let garbage: Server;
let garbagePort: number;

async function listenNet(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

before(async () => {
  recordings = scratchDir();
  scratch = scratchDir();
  makeRecordings(recordings.dir, 1);
  api = await startTestApi(recordings.dir);
  notCamera = createHttpServer((_req, res) => res.end('<html>router login</html>'));
  await new Promise<void>((resolve) => notCamera.listen(0, '127.0.0.1', resolve));
  notCameraPort = (notCamera.address() as { port: number }).port;
  const unused = createServer();
  closedPort = await listenNet(unused);
  await new Promise<void>((resolve) => unused.close(() => resolve()));
  // A TCP server that sends text, not H.264.
  garbage = createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'.repeat(100)));
  garbagePort = await listenNet(garbage);
});

after(async () => {
  await api.close();
  notCamera.close();
  garbage.close();
  recordings.cleanup();
  scratch.cleanup();
});

function assertOneLine(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] as string, /^rearview: /);
  assert.match(lines[0] as string, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

test('camera unreachable: connection refused and unknown host exit 4', async () => {
  assertOneLine(
    await runCli(['status', '--camera', `127.0.0.1:${closedPort}`]),
    ExitCode.CONNECT,
    /cannot reach camera.*connection refused/,
  );
  assertOneLine(
    await runCli(['videos', 'list', '--camera', 'no-such-camera.invalid']),
    ExitCode.CONNECT,
    /unknown host/,
  );
  assertOneLine(
    await runCli(['record', `tcp://127.0.0.1:${closedPort}`, '-o', join(scratch.dir, 'x.mkv')]),
    ExitCode.CONNECT,
    /cannot connect to tcp:\/\/127\.0\.0\.1:\d+: connection refused/,
  );
});

test('not a Rearview, and HTTP errors, exit 6', async () => {
  assertOneLine(
    await runCli(['status', '--camera', `127.0.0.1:${notCameraPort}`]),
    ExitCode.REMOTE,
    /is not a Rearview camera/,
  );
  assertOneLine(
    await runCli(['videos', 'sync', scratch.dir, '--camera', `127.0.0.1:${notCameraPort}`]),
    ExitCode.REMOTE,
    /is not a Rearview camera/,
  );
  assertOneLine(
    await runCli(['videos', 'download', 'log0099.mkv', '--camera', `127.0.0.1:${api.port}`, '-o', scratch.dir]),
    ExitCode.REMOTE,
    /no recording named log0099\.mkv/,
  );
});

test('bad options exit 2', async () => {
  assertOneLine(
    await runCli(['status', '--camera', `127.0.0.1:${api.port}`, '--timeout', 'soon']),
    ExitCode.USAGE,
    /--timeout: cannot read "soon"/,
  );
  assertOneLine(
    await runCli(['record', `tcp://127.0.0.1:${closedPort}`, '-o', join(scratch.dir, 'x.avi')]),
    ExitCode.USAGE,
    /must end in \.mkv or \.mp4/,
  );
  assertOneLine(
    await runCli(['videos', 'sync', scratch.dir, '--format', 'avi', '--camera', `127.0.0.1:${api.port}`]),
    ExitCode.USAGE,
    /--format: expected mkv or mp4/,
  );
  // wipe never deletes without a confirmation; with no terminal to ask on, --yes is required.
  assertOneLine(
    await runCli(['videos', 'wipe', '--camera', `127.0.0.1:${api.port}`]),
    ExitCode.USAGE,
    /confirm with --yes/,
  );
  const list = await runCli(['videos', 'list', '--camera', `127.0.0.1:${api.port}`, '--json']);
  assert.equal((JSON.parse(list.stdout) as unknown[]).length, 1, 'nothing was deleted');
});

test('a stream that is not H.264 exits 3', async () => {
  assertOneLine(
    await runCli(['record', `tcp://127.0.0.1:${garbagePort}`, '-o', join(scratch.dir, 'g.mkv'), '--no-reconnect']),
    ExitCode.BAD_STREAM,
    /not an H\.264 stream/,
  );
});

test('disk full and unwritable folders exit 5', async () => {
  let serve: ServeProcess | undefined;
  try {
    serve = await startServe([]);
    // A recording whose file is /dev/full: every write fails with ENOSPC.
    const full = join(scratch.dir, 'full.mkv');
    symlinkSync('/dev/full', full);
    assertOneLine(
      await runCli(['record', `tcp://127.0.0.1:${serve.streamPort}`, '-o', full, '--duration', '5s']),
      ExitCode.IO,
      /disk full/,
    );
  } finally {
    await serve?.close();
  }
  // A sync destination that is a file, not a folder.
  const file = join(scratch.dir, 'not-a-folder');
  writeFileSync(file, 'x');
  assertOneLine(
    await runCli(['videos', 'sync', join(file, 'rides'), '--camera', `127.0.0.1:${api.port}`]),
    ExitCode.IO,
    /not a folder/,
  );
});

test('doctor exits 7 when a port is taken by another program, 0 otherwise', async () => {
  const squatter = createServer();
  const port = await listenNet(squatter);
  try {
    const r = await runCli(['doctor', '--api-port', String(port), '--stream-port', '0', '--recordings', scratch.dir]);
    assert.equal(r.code, ExitCode.CHECK_FAILED, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`FAIL\\s+api port\\s+port ${port} is taken by another program`));
    assertOneLine(r, ExitCode.CHECK_FAILED, /1 check\(s\) failed: api port/);
  } finally {
    squatter.close();
  }
  const ok = await runCli(['doctor', '--api-port', '0', '--stream-port', '0', '--recordings', scratch.dir, '--json']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const checks = JSON.parse(ok.stdout) as { name: string; status: string }[];
  assert.ok(checks.every((c) => c.status !== 'fail'));
  assert.deepEqual(
    ['camera tools', 'encoder', 'recordings folder', 'disk space', 'api port', 'stream port', 'clock', 'node'].filter(
      (n) => !checks.some((c) => c.name === n),
    ),
    [],
  );
});
