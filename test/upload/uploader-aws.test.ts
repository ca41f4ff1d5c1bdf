/**
 * The uploader against s3rver behind the AWS-documented test front
 * (test/support/aws-s3-front.ts, `S3TestServer.start({ aws: true })`): what
 * s3rver lacks and the uploader relies on with S3 itself. No real S3
 * service was reachable from these tests; the front follows the AWS S3 API
 * reference and user guide (each behaviour's page is named beside it):
 *
 * - Additional checksums, "Checking object integrity"
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html):
 *   x-amz-checksum-sha256 checked on PutObject/UploadPart (400 BadDigest),
 *   kept, and answered by HeadObject only with `x-amz-checksum-mode: ENABLED`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html);
 *   a multipart object's checksum is the composite
 *   base64(sha256(part digests))-N (API_Checksum.html, API_CompletedPart.html).
 * - ListParts (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html)
 *   when a multipart upload resumes after a restart.
 * - Server-side encryption answered in x-amz-server-side-encryption
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
 * - Virtual-hosted-style addressing
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { S3Client } from '../../src/upload/s3-client.js';
import { EMPTY_SHA256, signRequest, uriEncode } from '../../src/upload/sigv4.js';
import { readQueueFile, writeQueueFile } from '../../src/upload/upload-queue.js';
import { Uploader, type FinishedSegment, type UploaderOptions } from '../../src/upload/uploader.js';
import { S3RVER_CREDENTIALS, S3TestServer, TEST_BUCKET, testLookup } from '../support/s3-server.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const START = Date.UTC(2027, 0, 2, 3, 4, 5, 600);

function recordingsDir(): string {
  return mkdtempSync(join(tmpdir(), 'rearview-upload-aws-'));
}

function segment(dir: string, n: number, size: number): FinishedSegment {
  const name = `log${String(n).padStart(4, '0')}.mkv`;
  writeFileSync(join(dir, name), randomBytes(size));
  return {
    name,
    startedAtMs: START + n * 60_000,
    durationMs: 60_000,
    frames: 1800,
    sizeBytes: size,
    width: 1280,
    height: 720,
    provisional: false,
  };
}

function keyOf(n: number): string {
  const startMs = START + n * 60_000;
  const d = new Date(startMs);
  const p = (x: number): string => String(x).padStart(2, '0');
  return `fleet/cam-a/${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/log${String(n).padStart(4, '0')}_${Math.floor(startMs / 1000)}.mkv`;
}

/** S3's checksum of a file as AWS documents it, computed here apart from src/upload/segment-hashes.ts. */
function awsChecksum(bytes: Buffer, partBytes: number): string {
  const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
  if (bytes.length <= partBytes) return sha(bytes).toString('base64');
  const digests: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += partBytes) digests.push(sha(bytes.subarray(at, at + partBytes)));
  return `${sha(Buffer.concat(digests)).toString('base64')}-${digests.length}`;
}

function client(server: S3TestServer, o: { virtualHosted?: boolean } = {}): S3Client {
  return new S3Client({
    endpoint: new URL(o.virtualHosted ? server.namedEndpoint : server.endpoint),
    bucket: TEST_BUCKET,
    region: 'us-east-1',
    pathStyle: !o.virtualHosted,
    credentials: () => S3RVER_CREDENTIALS,
    idleTimeoutMs: 5000,
    lookup: o.virtualHosted ? testLookup : undefined,
  });
}

/** Every uploader made, closed after the tests even when one fails (an open one keeps the file from ending). */
const uploaders: Uploader[] = [];

function uploader(server: S3TestServer, dir: string, o: Partial<UploaderOptions> = {}): Uploader {
  const up = new Uploader({
    dir,
    client: client(server),
    target: `s3://${TEST_BUCKET}/***`,
    prefix: 'fleet/',
    cameraName: 'cam-a',
    partBytes: PART,
    when: 'always',
    runId: 'run-1',
    retryMinMs: 50,
    retryMaxMs: 200,
    ...o,
  });
  uploaders.push(up);
  return up;
}

/** One signed request straight to the server (to check the front itself). */
function raw(
  server: S3TestServer,
  method: string,
  key: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const path = `/${TEST_BUCKET}/${uriEncode(key, true)}`;
  const payload = body ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
  const signed = signRequest(
    {
      method,
      host: `127.0.0.1:${server.port}`,
      path,
      headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
      payloadSha256: payload,
    },
    S3RVER_CREDENTIALS,
    'us-east-1',
    Date.now(),
  );
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers: signed }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the AWS-documented test front itself', () => {
  const servers: S3TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('checks x-amz-checksum-sha256 (BadDigest, InvalidRequest), answers it on HEAD only in checksum mode, refuses an unknown encryption', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const body = randomBytes(1000);
    const good = createHash('sha256').update(body).digest('base64');
    const wrong = createHash('sha256').update('other').digest('base64');
    const bad = await raw(server, 'PUT', 'a.bin', { 'x-amz-checksum-sha256': wrong }, body);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /<Code>BadDigest<\/Code>/);
    const malformed = await raw(server, 'PUT', 'a.bin', { 'x-amz-checksum-sha256': 'not-a-checksum' }, body);
    assert.equal(malformed.status, 400);
    assert.match(malformed.text, /<Code>InvalidRequest<\/Code>/);
    const sse = await raw(server, 'PUT', 'a.bin', { 'x-amz-server-side-encryption': 'rot13' }, body);
    assert.equal(sse.status, 400);
    assert.match(sse.text, /<Code>InvalidArgument<\/Code>/);
    assert.equal((await raw(server, 'HEAD', 'a.bin', {})).status, 404, 'nothing stored by refused requests');
    const put = await raw(server, 'PUT', 'a.bin', { 'x-amz-checksum-sha256': good }, body);
    assert.equal(put.status, 200);
    assert.equal(put.headers['x-amz-checksum-sha256'], good);
    assert.equal(put.headers['x-amz-server-side-encryption'], 'AES256', 'the bucket default, SSE-S3');
    const plain = await raw(server, 'HEAD', 'a.bin', {});
    assert.equal(plain.headers['x-amz-checksum-sha256'], undefined, 'no checksum without checksum mode');
    const withMode = await raw(server, 'HEAD', 'a.bin', { 'x-amz-checksum-mode': 'ENABLED' });
    assert.equal(withMode.headers['x-amz-checksum-sha256'], good);
    assert.equal(withMode.headers['x-amz-checksum-type'], 'FULL_OBJECT');
    const list = await raw(server, 'GET', 'a.bin', { 'x-amz-checksum-mode': 'ENABLED' });
    assert.equal(list.status, 200);
    // ListParts of an upload that does not exist.
    const c = client(server);
    assert.equal(await c.listParts('a.bin', 'no-such-upload'), null, 'NoSuchUpload');
    c.close();
  });
});

describe('uploader with the AWS-documented test front', () => {
  const servers: S3TestServer[] = [];
  after(async () => {
    for (const up of uploaders) await up.close();
    for (const s of servers) await s.stop();
  });

  it('verifies single and multipart objects by their SHA-256 checksum (the composite for multipart), asked in checksum mode', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const dir = recordingsDir();
    const small = segment(dir, 1, 300_000);
    const large = segment(dir, 2, 12 * MiB + 12345); // 3 parts
    const up = uploader(server, dir);
    await up.start();
    up.enqueue(small);
    up.enqueue(large);
    const s = await up.waitFor((x) => x.uploaded === 2 || x.failures > 0);
    assert.equal(s.failures, 0, JSON.stringify(s.lastError));
    assert.equal(s.verified, 2);
    await up.close();
    const doc = await readQueueFile(dir);
    assert.deepEqual(
      doc.uploaded.map((u) => [u.name, u.verified]).sort(),
      [
        ['log0001.mkv', 'sha256'],
        ['log0002.mkv', 'sha256'],
      ],
      'verified by the SHA-256 checksum, not the ETag',
    );
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    const bytes1 = readFileSync(join(dir, 'log0001.mkv'));
    const bytes2 = readFileSync(join(dir, 'log0002.mkv'));
    assert.equal(front.storedChecksum(keyOf(1)), awsChecksum(bytes1, PART));
    assert.equal(front.storedChecksum(keyOf(2)), awsChecksum(bytes2, PART));
    assert.match(front.storedChecksum(keyOf(2)) ?? '', /-3$/);
    assert.deepEqual(await server.getObject(keyOf(1)), bytes1);
    assert.deepEqual(await server.getObject(keyOf(2)), bytes2);
    assert.equal(server.created.get(keyOf(2)), 1);
    const create = server.requests.find((r) => r.method === 'POST' && r.url.includes('uploads'));
    assert.equal(create?.headers['x-amz-checksum-algorithm'], 'SHA256');
    for (const r of server.requests) {
      if (r.method === 'PUT') assert.match(r.headers['x-amz-checksum-sha256'] ?? '', /^[A-Za-z0-9+/]{43}=$/, r.url);
      if (r.method === 'HEAD') assert.equal(r.headers['x-amz-checksum-mode'], 'ENABLED', r.url);
      for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith('x-amz-sdk-checksum'), `${r.url} sent ${h}`);
    }
    assert.ok(front.seen.headWithChecksumMode >= 2);
    assert.equal(front.seen.badDigest, 0);
  });

  it('a server that stores other bytes than it received: verification fails (status says so), the copy is kept, the segment goes up again', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    front.faults.corruptStored = 1;
    const dir = recordingsDir();
    const up = uploader(server, dir, { thenDelete: true, retryMinMs: 200 });
    await up.start();
    const seg3 = segment(dir, 3, 200_000);
    const bytes = readFileSync(join(dir, seg3.name));
    up.enqueue(seg3);
    const failed = await up.waitFor((x) => x.failures >= 1);
    assert.equal(failed.lastError?.code, 'ERR_UPLOAD_VERIFY');
    assert.match(
      failed.lastError?.message ?? '',
      /stored object does not match the local file: its SHA-256 checksum is \S+, the local file's is \S+/,
    );
    assert.equal(failed.state, 'failing');
    assert.equal(failed.uploaded, 0);
    assert.equal(failed.deletedAfterUpload, 0);
    assert.ok(existsSync(join(dir, 'log0003.mkv')), 'not deleted: the stored object is not ours');
    const done = await up.waitFor((x) => x.deletedAfterUpload === 1);
    assert.equal(done.uploaded, 1);
    assert.equal(done.verified, 1);
    await up.close();
    assert.equal(server.created.get(keyOf(3)), 2, 'sent again after the mismatch');
    assert.deepEqual(await server.getObject(keyOf(3)), bytes);
    assert.equal(front.storedChecksum(keyOf(3)), awsChecksum(bytes, PART));
  });

  it('a HEAD answering a wrong composite checksum: ERR_UPLOAD_VERIFY, kept, then uploaded again in a new multipart upload', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    front.faults.wrongHeadChecksum = 2; // the verifying HEAD and the next attempt's first HEAD
    const dir = recordingsDir();
    const up = uploader(server, dir, { thenDelete: true, retryMinMs: 200 });
    await up.start();
    up.enqueue(segment(dir, 4, 7 * MiB));
    const failed = await up.waitFor((x) => x.failures >= 1);
    assert.equal(failed.lastError?.code, 'ERR_UPLOAD_VERIFY');
    assert.match(failed.lastError?.message ?? '', /SHA-256 checksum is \S+-2, the local file's is \S+-2/);
    assert.ok(existsSync(join(dir, 'log0004.mkv')));
    const done = await up.waitFor((x) => x.deletedAfterUpload === 1);
    assert.equal(done.verified, 1);
    await up.close();
    assert.ok(!existsSync(join(dir, 'log0004.mkv')), 'deleted once verified');
    assert.equal(server.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads')).length, 2);
    assert.equal(server.created.get(keyOf(4)), 2);
    assert.equal(front.openUploads(keyOf(4)), 0);
  });

  it('a part corrupted in transit is refused (BadDigest): the upload resumes, ListParts shows the part missing, only it is sent again', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    front.faults.corruptInTransit = 1;
    const dir = recordingsDir();
    const up = uploader(server, dir);
    await up.start();
    up.enqueue(segment(dir, 5, 11 * MiB)); // 3 parts, the first refused
    const failed = await up.waitFor((x) => x.failures >= 1);
    assert.equal(failed.lastError?.code, 'BadDigest');
    assert.match(
      failed.lastError?.message ?? '',
      /part 1\): HTTP 400 BadDigest: The SHA256 you specified did not match/,
    );
    const done = await up.waitFor((x) => x.uploaded === 1);
    assert.equal(done.verified, 1);
    await up.close();
    assert.equal(front.seen.badDigest, 1);
    assert.ok(front.seen.listParts >= 1, 'the second attempt asked the server which parts it holds');
    assert.equal(server.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads')).length, 1);
    assert.equal(server.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber=')).length, 4);
    assert.deepEqual(await server.getObject(keyOf(5)), readFileSync(join(dir, 'log0005.mkv')));
    assert.equal(server.created.get(keyOf(5)), 1);
  });

  it('a part stored wrong is refused at completion (InvalidPart): that upload starts afresh and completes once', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    front.faults.corruptStored = 1;
    const dir = recordingsDir();
    const up = uploader(server, dir);
    await up.start();
    up.enqueue(segment(dir, 6, 6 * MiB));
    const failed = await up.waitFor((x) => x.failures >= 1);
    assert.equal(failed.lastError?.code, 'InvalidPart');
    const done = await up.waitFor((x) => x.uploaded === 1);
    assert.equal(done.verified, 1);
    await up.close();
    assert.equal(server.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads')).length, 2);
    assert.deepEqual(await server.getObject(keyOf(6)), readFileSync(join(dir, 'log0006.mkv')));
    assert.equal(server.created.get(keyOf(6)), 1);
    assert.equal(
      front.openUploads(keyOf(6)),
      0,
      'the refused upload was aborted, not left with its parts on the server',
    );
  });

  it('after a restart that lost the saved parts, ListParts (paged) says which parts the server holds: only the others are sent, the object completed once', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    front.listPartsPage = 1; // one part per answer: the client follows NextPartNumberMarker
    const dir = recordingsDir();
    const first = uploader(server, dir, { rateBytesPerSecond: 8 * MiB });
    await first.start();
    first.enqueue(segment(dir, 7, 16 * MiB)); // 4 parts
    await first.waitFor((s) => (s.current?.sentBytes ?? 0) > 11 * MiB); // two parts acknowledged
    await first.close();
    const held = front.partsHeld(keyOf(7));
    assert.ok(held.length >= 2 && held.length < 4, `parts held: ${held.join(',')}`);
    // A power cut before the saves: the queue knows the upload id but none of its parts.
    const saved = await readQueueFile(dir);
    const entry = saved.entries[0];
    assert.ok(entry?.multipart, 'a multipart upload in the queue');
    entry.multipart.done = [];
    await writeQueueFile(dir, saved);
    const partsBefore = server.requests.filter((r) => r.url.includes('partNumber=')).length;
    const second = uploader(server, dir, { runId: 'run-2' });
    await second.start();
    const s = await second.waitFor((x) => x.uploaded === 1 || x.failures > 0);
    assert.equal(s.failures, 0, JSON.stringify(s.lastError));
    await second.close();
    const sent = server.requests
      .slice()
      .filter((r) => r.url.includes('partNumber='))
      .slice(partsBefore)
      .map((r) => Number(/partNumber=(\d+)/.exec(r.url)?.[1]));
    assert.deepEqual(
      sent.sort(),
      [1, 2, 3, 4].filter((n) => !held.includes(n)),
      'only the parts the server lacked',
    );
    assert.ok(front.seen.listParts >= Math.max(2, held.length), `ListParts pages: ${front.seen.listParts}`);
    assert.equal(server.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads')).length, 1);
    assert.equal(server.created.get(keyOf(7)), 1);
    assert.deepEqual(await server.getObject(keyOf(7)), readFileSync(join(dir, 'log0007.mkv')));
    assert.equal((await readQueueFile(dir)).uploaded[0]?.verified, 'sha256');
  });

  it('server-side encryption: the header is sent, the answer checked; a server that does not apply it is a clear failure and the copy is kept', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    const dir = recordingsDir();
    const up = uploader(server, dir, { sse: 'aws:kms', thenDelete: true, retryMinMs: 200 });
    await up.start();
    up.enqueue(segment(dir, 8, 100_000));
    up.enqueue(segment(dir, 9, 6 * MiB));
    const ok = await up.waitFor((x) => x.uploaded === 2 || x.failures > 0);
    assert.equal(ok.failures, 0, JSON.stringify(ok.lastError));
    assert.equal(ok.verified, 2, 'SSE-KMS: the ETag is no MD5, the SHA-256 checksum verifies');
    for (const r of server.requests.filter(
      (x) =>
        (x.method === 'PUT' && !x.url.includes('partNumber=')) || (x.method === 'POST' && x.url.includes('uploads')),
    ))
      assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms', `${r.method} ${r.url}`);
    // A server that ignores the header and applies its default (AES256).
    front.faults.sseIgnored = 'default';
    up.enqueue(segment(dir, 10, 100_000));
    const bad = await up.waitFor((x) => x.failures >= 1);
    assert.equal(bad.lastError?.code, 'ERR_UPLOAD_SSE');
    assert.match(
      bad.lastError?.message ?? '',
      /server-side encryption aws:kms was asked for, the server answered AES256/,
    );
    assert.equal(bad.state, 'failing');
    assert.equal(bad.uploaded, 2);
    assert.ok(existsSync(join(dir, 'log0010.mkv')), 'kept: not stored as asked');
    // One that says nothing about encryption.
    front.faults.sseIgnored = 'none';
    const none = await up.waitFor((x) => /no x-amz-server-side-encryption header/.test(x.lastError?.message ?? ''));
    assert.equal(none.lastError?.code, 'ERR_UPLOAD_SSE');
    assert.ok(existsSync(join(dir, 'log0010.mkv')));
    // Fixed: the object is sent again (the one stored is not encrypted as asked) and verified.
    front.faults.sseIgnored = undefined;
    const fixed = await up.waitFor((x) => x.deletedAfterUpload === 3);
    assert.equal(fixed.verified, 3);
    await up.close();
    assert.ok(!existsSync(join(dir, 'log0010.mkv')), 'deleted once stored encrypted and verified');
    assert.ok((server.created.get(keyOf(10)) ?? 0) >= 2, 'stored unencrypted, then again as asked');
  });

  it('server-side encryption on a multipart upload the server will not encrypt: refused before any part is sent, the upload aborted', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    front.faults.sseIgnored = 'default';
    const dir = recordingsDir();
    const up = uploader(server, dir, { sse: 'AES256', retryMinMs: 200 });
    await up.start();
    up.enqueue(segment(dir, 14, 100_000));
    // AES256 asked, AES256 applied by default: fine even from a server that ignores the header.
    assert.equal((await up.waitFor((x) => x.uploaded === 1 || x.failures > 0)).failures, 0);
    front.faults.sseIgnored = 'none';
    up.enqueue(segment(dir, 15, 6 * MiB));
    const bad = await up.waitFor((x) => x.failures >= 1);
    assert.equal(bad.lastError?.code, 'ERR_UPLOAD_SSE');
    assert.match(bad.lastError?.message ?? '', /CreateMultipartUpload|multipart/);
    assert.equal(server.requests.filter((r) => r.url.includes('partNumber=')).length, 0, 'no part sent');
    assert.ok(front.seen.abort >= 1, 'the upload the server would not encrypt was aborted');
    front.faults.sseIgnored = undefined;
    const done = await up.waitFor((x) => x.uploaded === 2);
    assert.equal(done.verified, 2);
    await up.close();
    assert.deepEqual(await server.getObject(keyOf(15)), readFileSync(join(dir, 'log0015.mkv')));
    assert.equal(front.openUploads(keyOf(15)), 0);
  });

  it('virtual-hosted-style addressing (bucket in the host name): single and multipart objects arrive and verify', async () => {
    const server = await S3TestServer.start({ aws: true });
    servers.push(server);
    const front = server.aws as NonNullable<S3TestServer['aws']>;
    const dir = recordingsDir();
    const up = uploader(server, dir, { client: client(server, { virtualHosted: true }) });
    await up.start();
    up.enqueue(segment(dir, 12, 50_000));
    up.enqueue(segment(dir, 13, 7 * MiB));
    const s = await up.waitFor((x) => x.uploaded === 2 || x.failures > 0);
    assert.equal(s.failures, 0, JSON.stringify(s.lastError));
    assert.equal(s.verified, 2);
    await up.close();
    assert.equal(front.seen.pathStyle, 0, 'no path-style request');
    assert.ok(front.seen.virtualHosted > 0);
    for (const r of server.requests) {
      assert.equal(r.headers.host, `${TEST_BUCKET}.s3.rearview.test:${server.port}`, `${r.method} ${r.url}`);
      assert.ok(!r.url.startsWith(`/${TEST_BUCKET}/`), `the key alone in the path: ${r.url}`);
    }
    assert.deepEqual(await server.getObject(keyOf(12)), readFileSync(join(dir, 'log0012.mkv')));
    assert.deepEqual(await server.getObject(keyOf(13)), readFileSync(join(dir, 'log0013.mkv')));
  });
});
