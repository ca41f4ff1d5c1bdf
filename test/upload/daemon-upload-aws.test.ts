/**
 * `rearview serve --upload --upload-sse aws:kms` against s3rver behind the
 * AWS-documented test front (test/support/aws-s3-front.ts): SIGKILLed in
 * the middle of a multipart upload and started again, the daemon asks the
 * server which parts it holds (ListParts, which s3rver lacks), completes
 * the object once, verifies it by its composite SHA-256 checksum, and every
 * object is stored with the encryption asked for. No real S3 service was
 * tried; see docs/recording.md ("Uploads", tests).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readQueueFile } from '../../src/upload/upload-queue.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { S3TestServer } from '../support/s3-server.js';
import { waitFor } from '../support/wait.js';
import { killMidMultipart, multipartUploadServe } from './multipart-kill.js';

describe('rearview serve --upload, AWS-documented test front', () => {
  const daemons: ServeProcess[] = [];
  let server: S3TestServer | undefined;
  after(async () => {
    for (const d of daemons) await d.close();
    await server?.stop();
  });

  it('SIGKILLed mid multipart upload: the restart resumes through ListParts, completes once, verifies by SHA-256, encrypted as asked', async () => {
    server = await S3TestServer.start({ aws: true });
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    const { dir, args, env } = multipartUploadServe(server, 'rearview-daemon-upload-aws-', ['--upload-sse', 'aws:kms']);
    const first = await startServe(args, { rawArgs: true, env, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(first);
    const { key, name } = await killMidMultipart(first, dir, server);
    const held = front.partsHeld(key);
    assert.ok(held.length >= 1, 'the server holds a part');
    const listBefore = front.seen.listParts;

    const second = await startServe(args, { rawArgs: true, env, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(second);
    const port = second.apiPort as number;
    await waitFor(
      async () => ((await readQueueFile(dir).catch(() => undefined))?.uploaded ?? []).some((u) => u.name === name),
      `${key} uploaded and verified after the restart`,
      120_000,
      100,
    );
    assert.ok(front.seen.listParts > listBefore, 'the restart asked the server for its parts');
    assert.equal(server.created.get(key), 1, 'completed once');
    assert.equal(front.openUploads(key), 0);
    const record = (await readQueueFile(dir)).uploaded.find((u) => u.name === name);
    assert.equal(record?.verified, 'sha256', 'verified by the composite SHA-256 checksum');
    assert.match(front.storedChecksum(key) ?? '', /-2$/);
    assert.deepEqual(await server.getObject(key), readFileSync(join(dir, name)), 'byte-identical');
    for (const [k, n] of server.created) assert.equal(n, 1, `${k} completed ${n} times`);
    const status = (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as {
      upload: { failures: number; lastError: unknown };
    };
    assert.equal(status.upload.failures, 0, JSON.stringify(status.upload.lastError));
    for (const r of server.requests.filter(
      (x) =>
        (x.method === 'PUT' && !x.url.includes('partNumber=')) || (x.method === 'POST' && x.url.includes('uploads')),
    ))
      assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms', `${r.method} ${r.url}`);
  });
});
