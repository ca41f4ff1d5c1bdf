/**
 * What the two daemon tests of a multipart upload cut by SIGKILL share
 * (daemon-upload.test.ts against s3rver, daemon-upload-aws.test.ts against
 * the AWS-documented front): the daemon's arguments and environment, and
 * the kill once one part is acknowledged and saved in the queue.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readQueueFile } from '../../src/upload/upload-queue.js';
import type { ServeProcess } from '../support/daemon.js';
import type { S3TestServer } from '../support/s3-server.js';
import { waitFor } from '../support/wait.js';

/** A recordings folder and `rearview serve` arguments uploading 2-part segments to `server`, plus `extra`. */
export function multipartUploadServe(
  server: S3TestServer,
  folderPrefix: string,
  extra: string[] = [],
): { dir: string; args: string[]; env: NodeJS.ProcessEnv } {
  const dir = join(mkdtempSync(join(tmpdir(), folderPrefix)), 'recordings');
  const args = [
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
    // The sample's 720p clip compresses to about 1 MB per 8 s: 45 s segments are over 5 MiB (2 parts).
    '--segment',
    '45s',
    '--upload',
    's3://rides/fleet',
    '--upload-endpoint',
    server.endpoint,
    '--upload-insecure',
    '--upload-path-style',
    '--upload-when',
    'always',
    '--upload-rate',
    '3MB/s',
    '--upload-part-size',
    '5MiB',
    ...extra,
  ];
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
  return { dir, args, env };
}

/**
 * SIGKILLs `daemon` once a multipart upload has a part acknowledged and saved
 * (3 MB/s: the first of 2 parts); the object's key and segment name.
 */
export async function killMidMultipart(
  daemon: ServeProcess,
  dir: string,
  server: S3TestServer,
): Promise<{ key: string; name: string }> {
  let key = '';
  let name = '';
  await waitFor(
    async () => {
      const doc = await readQueueFile(dir).catch(() => undefined);
      const e = doc?.entries.find((x) => (x.multipart?.done.length ?? 0) >= 1);
      if (e) {
        key = e.key ?? '';
        name = e.name;
      }
      return e !== undefined;
    },
    'a multipart upload with a part acknowledged',
    120_000,
    20,
  );
  daemon.process.kill('SIGKILL');
  await daemon.exited;
  assert.ok(!server.created.has(key), 'not completed before the kill');
  return { key, name };
}
