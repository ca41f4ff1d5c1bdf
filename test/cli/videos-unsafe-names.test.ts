/**
 * Regression test: `rearview videos download|sync|thumbs` joined the names
 * from the camera's list (and the last part of each thumbnail URL, decoded)
 * onto the target folder, so a spoofed camera listing `../evil.mkv` or a
 * thumbnail `..%2F..%2Fevil.jpg` made them write outside the folder; and a
 * thumbnail URL on another host was fetched with the camera's token. A fake
 * camera (a small HTTP server here) lists such names: nothing is written
 * outside the folder, and the token never reaches the other host.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isSafeLocalName } from '../../src/cli/videos-command.js';
import { scratchDir } from '../support/paths.js';
import { runCli } from './cli-run.js';

const BODY = Buffer.from('not really a video');
const scratch = scratchDir('rearview-unsafe-');
let camera: Server;
let other: Server;
let cameraPort = 0;
let otherPort = 0;
const otherRequests: Array<{ url: string; authorization: string | undefined }> = [];

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  other = await listen((req, res) => {
    otherRequests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    res.end(BODY);
  });
  otherPort = (other.address() as AddressInfo).port;
  camera = await listen((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/') return void res.end('Welcome to Velovision Rearview');
    if (path === '/api/v1/status') return void res.end('{}');
    if (path === '/api/v1/recordings') {
      const entry = (name: string, thumbnailUrl: string): object => ({
        name,
        sizeBytes: BODY.length,
        modifiedAt: '2024-04-15T16:25:07.000Z',
        inProgress: false,
        thumbnailUrl,
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          recordings: [
            entry('../evil.mkv', '/api/v1/recordings/log0001.mkv/thumbnail/..%2F..%2Fevil.jpg'),
            entry('/tmp-abs.mkv', `http://127.0.0.1:${otherPort}/steal/log0002_1.jpg`),
            entry('..', '/t/..'),
            entry('log0003.mkv', '/api/v1/thumbs/log0003_1713198307.jpg'),
          ],
        }),
      );
      return;
    }
    if (path.startsWith('/api/v1/recordings/') || path.startsWith('/api/v1/thumbs/')) {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  cameraPort = (camera.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((r) => camera.close(() => r()));
  await new Promise<void>((r) => other.close(() => r()));
  scratch.cleanup();
});

/** Every file under the scratch folder, relative. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('videos commands with a camera that lists unsafe names', () => {
  it('isSafeLocalName accepts plain names only', () => {
    for (const ok of ['log0001.mkv', 'log0001_1713198307.jpg', 'log12345.mp4'])
      assert.equal(isSafeLocalName(ok), true, ok);
    for (const bad of [
      '',
      '.',
      '..',
      '../evil.mkv',
      'a/b.mkv',
      'a\\b.mkv',
      '/abs.mkv',
      'a\0b.mkv',
      '.hidden',
      'x..mkv',
      'a b.mkv',
    ]) {
      assert.equal(isSafeLocalName(bad), false, JSON.stringify(bad));
    }
  });

  it('sync writes only the safe recording, inside the folder', async () => {
    const dest = join(scratch.dir, 'a', 'rides');
    const r = await runCli([
      'videos',
      'sync',
      dest,
      '--camera',
      `127.0.0.1:${cameraPort}`,
      '--token',
      's3cret',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { downloaded: string[] }).downloaded, ['log0003.mkv']);
    assert.match(r.stderr, /skipping "\.\.\/evil\.mkv"/);
    assert.deepEqual(filesUnder(join(scratch.dir, 'a')), ['rides', join('rides', 'log0003.mkv')]);
  });

  it('download refuses a listed name with a path in it', async () => {
    const dest = join(scratch.dir, 'b', 'rides');
    const r = await runCli([
      'videos',
      'download',
      '../evil.mkv',
      '--output',
      dest,
      '--camera',
      `127.0.0.1:${cameraPort}`,
    ]);
    assert.notEqual(r.code, 0);
    assert.ok(!existsSync(join(scratch.dir, 'b', 'evil.mkv')));
    assert.ok(!existsSync(join(scratch.dir, 'b', 'evil.mkv.part')));
  });

  it('thumbs skips decoded names with separators and never sends the token to another host', async () => {
    const dest = join(scratch.dir, 'c', 'thumbs');
    const r = await runCli(['videos', 'thumbs', dest, '--camera', `127.0.0.1:${cameraPort}`, '--token', 's3cret']);
    // The other host's thumbnail is refused (an error naming it), or at least fetched without credentials.
    assert.ok(
      otherRequests.every((q) => q.authorization === undefined),
      JSON.stringify(otherRequests),
    );
    assert.deepEqual(otherRequests, [], 'the other host is never asked');
    assert.ok(!existsSync(join(scratch.dir, 'evil.jpg')) && !existsSync(join(scratch.dir, 'c', 'evil.jpg')));
    for (const f of filesUnder(join(scratch.dir, 'c'))) assert.ok(f === 'thumbs' || f.startsWith(`thumbs${'/'}`), f);
    assert.match(r.stderr, /skipping "\.\.\/\.\.\/evil\.jpg"/);
    assert.match(r.stderr, /not on the camera/);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(filesUnder(dest), ['log0003_1713198307.jpg']);
  });
});
