/**
 * `rearview serve --upload` when things go wrong or are slow, end to end
 * against s3rver: a segment cut by a SIGKILL is repaired at the next start
 * and uploaded; a queue file that does not parse is set aside and
 * recording goes on; a credentials file open to other users is refused
 * with a clear status (recording goes on); `--upload-then-delete` waits for
 * the segment's thumbnail (held back by a slow decoder), uploads both, and
 * only then deletes the local copy, which leaves the recordings listing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { S3TestServer } from '../support/s3-server.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

type Json = Record<string, unknown>;

async function getJson(port: number, path: string): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return (await res.json()) as Json;
}

async function uploadStatus(port: number): Promise<Json> {
  return (await getJson(port, '/api/v1/status')).upload as Json;
}

function baseArgs(dir: string, extra: string[]): string[] {
  return [
    '--stream-port',
    '0',
    '--api-port',
    '0',
    '--no-mdns',
    '--device-backend',
    'simulated',
    '--name',
    'cam-a',
    '--recordings',
    dir,
    '--upload',
    's3://rides/fleet',
    '--upload-path-style',
    '--upload-when',
    'always',
    ...extra,
  ];
}

const env = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

function freshDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'rearview-daemon-upload-')), 'recordings');
}

/** The object keys of `name` (segment and thumbnail) the server was asked to create. */
function keysOf(server: S3TestServer, name: string): string[] {
  const stem = name.replace(/\.mkv$/, '');
  return [...server.created.keys()].filter((k) => k.split('/').pop()?.startsWith(`${stem}_`));
}

describe('rearview serve --upload: crashes, bad files, slow thumbnails', () => {
  const daemons: ServeProcess[] = [];
  const servers: S3TestServer[] = [];
  after(async () => {
    for (const d of daemons) await d.close();
    for (const s of servers) await s.stop();
  });

  it('a segment cut by SIGKILL is repaired and uploaded at the next start; a queue file that does not parse is set aside', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = freshDir();
    const args = baseArgs(dir, ['--segment', '60s', '--upload-endpoint', server.endpoint, '--upload-insecure']);
    const first = await startServe(args, { rawArgs: true, env, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(first);
    const seg = join(dir, 'log0000.mkv');
    await waitFor(() => existsSync(seg) && statSync(seg).size > 300_000, 'log0000.mkv with frames in it', 60_000, 50);
    first.process.kill('SIGKILL');
    await first.exited;
    assert.equal(server.created.size, 0, 'nothing finished, nothing uploaded');
    const garbage = '{"version":1,"entries":[{"name":"log0000.mkv",';
    writeFileSync(join(dir, '.upload-queue.json'), garbage);

    const second = await startServe(args, { rawArgs: true, env, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(second);
    const port = second.apiPort as number;
    await waitFor(
      async () => ((await uploadStatus(port)).uploaded as number) >= 1,
      'the repaired segment uploaded',
      60_000,
      100,
    );
    const [key] = keysOf(server, 'log0000.mkv').filter((k) => k.endsWith('.mkv'));
    assert.ok(key, [...server.created.keys()].join(', '));
    assert.deepEqual(await server.getObject(key), readFileSync(seg), 'the repaired file, byte-identical');
    assert.equal(server.created.get(key), 1);
    const create = server.requests.find(
      (r) => (r.method === 'PUT' || r.method === 'POST') && r.url.includes('log0000_'),
    );
    assert.equal(create?.headers['x-amz-meta-frames'], undefined, 'a repaired segment has no frame count');
    assert.match(create?.headers['x-amz-meta-sha256'] ?? '', /^[0-9a-f]{64}$/);
    // The bad queue file was kept aside, said so, and did not stop anything.
    assert.equal(readFileSync(join(dir, '.upload-queue.json.bad'), 'utf8'), garbage);
    const log = second.stderrLines.join('\n');
    assert.match(log, /was left unfinished \(crash or power cut\): repaired/);
    assert.match(log, /upload queue \.upload-queue\.json could not be read .* set aside as \.upload-queue\.json\.bad/);
    const status = await getJson(port, '/api/v1/status');
    assert.equal((status.recording as Json).state, 'recording');
    assert.equal(second.process.exitCode, null, 'the daemon runs on');
  });

  it('a credentials file open to other users (0644) is refused with a clear status; recording goes on', async () => {
    const dir = freshDir();
    const scratch = mkdtempSync(join(tmpdir(), 'rearview-creds-'));
    const creds = join(scratch, 'credentials');
    writeFileSync(creds, '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = VERYSECRETVALUE\n');
    chmodSync(creds, 0o644);
    const config = join(scratch, 'config.json');
    writeFileSync(config, JSON.stringify({ uploadCredentialsFile: creds }));
    const args = baseArgs(dir, ['--config', config, '--upload-endpoint', 'http://127.0.0.1:9', '--upload-insecure']);
    const d = await startServe(args, { rawArgs: true, env: { ...process.env }, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(d);
    const port = d.apiPort as number;
    const up = await uploadStatus(port);
    assert.equal(up.state, 'failing');
    assert.match(
      up.reason as string,
      /uploadCredentialsFile .*credentials: open to other users \(mode 0644\); run chmod 600/,
    );
    assert.equal((up.lastError as Json).code, 'ERR_UPLOAD_CREDENTIALS');
    assert.equal(((await getJson(port, '/api/v1/settings')).upload as Json).credentials, 'missing');
    await waitFor(
      async () => ((await getJson(port, '/api/v1/status')).recording as Json).state === 'recording',
      'recording',
      30_000,
      100,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^rearview_upload_state\{state="failing"\} 1$/m);
    assert.ok(!d.stderrLines.join('\n').includes('VERYSECRETVALUE'), 'the secret is never logged');
    await d.close();
  });

  it('--upload-then-delete waits for a slow thumbnail, uploads it and the segment, then deletes both and the listing follows', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = freshDir();
    // A decoder held at a gate: while `closed` exists each thumbnail waits for a line on the FIFO.
    const gateDir = mkdtempSync(join(tmpdir(), 'rearview-gate-'));
    const fifo = join(gateDir, 'gate');
    const closed = join(gateDir, 'closed');
    execFileSync('mkfifo', [fifo]);
    writeFileSync(closed, '');
    const ffmpeg = join(gateDir, 'ffmpeg');
    writeFileSync(
      ffmpeg,
      `#!/bin/sh\nif [ -e '${closed}' ]; then read line < '${fifo}'; fi\nexec '${requireTool('ffmpeg')}' "$@"\n`,
    );
    chmodSync(ffmpeg, 0o755);
    const seen: { url: string; local: boolean }[] = [];
    server.onRequest = (_method, url) => {
      if (url.includes('log0000_')) seen.push({ url, local: existsSync(join(dir, 'log0000.mkv')) });
    };
    const args = baseArgs(dir, [
      '--segment',
      '2s',
      '--upload-then-delete',
      '--upload-endpoint',
      server.endpoint,
      '--upload-insecure',
    ]);
    const d = await startServe(args, {
      rawArgs: true,
      env: { ...env, REARVIEW_FFMPEG: ffmpeg },
      waitForApi: true,
      timeoutMs: 30_000,
    });
    daemons.push(d);
    const port = d.apiPort as number;
    // log0000 and log0001 are finished (log0002 exists) while log0000's thumbnail is held.
    await waitFor(() => existsSync(join(dir, 'log0002.mkv')), 'three segments', 60_000, 50);
    assert.equal(seen.length, 0, 'nothing of log0000 sent while its thumbnail is being made');
    assert.equal((await uploadStatus(port)).uploaded, 0);
    const listed = async (): Promise<string[]> =>
      ((await getJson(port, '/api/v1/recordings')).recordings as Json[]).map((r) => r.name as string);
    assert.ok((await listed()).includes('log0000.mkv'));

    rmSync(closed);
    await writeFile(fifo, 'go\n'); // resolves once the held decoder reads it
    await waitFor(
      async () => ((await uploadStatus(port)).deletedAfterUpload as number) >= 1,
      'log0000 uploaded and deleted',
      60_000,
      100,
    );
    const keys = keysOf(server, 'log0000.mkv');
    assert.deepEqual(keys.map((k) => k.slice(k.lastIndexOf('.'))).sort(), ['.jpg', '.mkv'], keys.join(', '));
    assert.ok(!existsSync(join(dir, 'log0000.mkv')), 'segment deleted');
    assert.ok(!readdirSync(dir).some((n) => n.startsWith('log0000_')), 'thumbnail deleted');
    assert.ok(seen.length > 0 && seen.every((r) => r.local), 'every request about log0000 came before the deletion');
    await waitFor(async () => !(await listed()).includes('log0000.mkv'), 'log0000 gone from the listing', 10_000, 100);
    assert.match(d.stderrLines.join('\n'), /deleted local copy of log0000\.mkv after a verified upload/);
  });
});
