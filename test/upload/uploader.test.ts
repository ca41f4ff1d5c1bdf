/**
 * The uploader against a real S3-compatible server (s3rver, checking SigV4
 * signatures): objects arrive byte-identical with their metadata and
 * thumbnail, in one PUT or in parts; no SDK checksum trailer or aws-chunked
 * body is ever sent; a server stopped mid-upload and started again loses
 * nothing and completes the object once; wrong credentials and an
 * unreachable endpoint are a clear status, never a crash; a full queue drops
 * its oldest; segments recorded before the clock was set wait for their
 * re-stamp.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { S3Client } from '../../src/upload/s3-client.js';
import { signRequest } from '../../src/upload/sigv4.js';
import { readQueueFile } from '../../src/upload/upload-queue.js';
import { Uploader, type FinishedSegment, type UploaderOptions } from '../../src/upload/uploader.js';
import { Logger } from '../../src/log/logger.js';
import { S3RVER_CREDENTIALS, S3TestServer, TEST_BUCKET } from '../support/s3-server.js';
import { makeTestCertificates, TlsFront } from '../support/tls-front.js';

const MiB = 1024 * 1024;
const START = Date.UTC(2027, 0, 2, 3, 4, 5, 600);
const SECONDS = Math.floor(START / 1000);

function recordingsDir(): string {
  return mkdtempSync(join(tmpdir(), 'rearview-upload-'));
}

/** A segment file of `size` random bytes (the uploader reads bytes, not Matroska) and its report. */
function segment(dir: string, n: number, size: number, extra: Partial<FinishedSegment> = {}): FinishedSegment {
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
    ...extra,
  };
}

function keyOf(n: number, startMs = START + n * 60_000): string {
  const d = new Date(startMs);
  const p = (x: number): string => String(x).padStart(2, '0');
  return `fleet/cam-a/${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/log${String(n).padStart(4, '0')}_${Math.floor(startMs / 1000)}.mkv`;
}

/** Every uploader made, closed after the tests even when one fails (an open one keeps the file from ending). */
const uploaders: Uploader[] = [];

function uploader(
  server: S3TestServer | { endpoint: string },
  dir: string,
  o: Partial<UploaderOptions> = {},
): Uploader {
  const client = new S3Client({
    endpoint: new URL(server.endpoint),
    bucket: TEST_BUCKET,
    region: 'us-east-1',
    pathStyle: true,
    credentials: () => S3RVER_CREDENTIALS,
    idleTimeoutMs: 5000,
  });
  const up = new Uploader({
    dir,
    client,
    target: `s3://${TEST_BUCKET}/***`,
    prefix: 'fleet/',
    cameraName: 'cam-a',
    partBytes: 5 * MiB,
    when: 'always',
    runId: 'run-1',
    retryMinMs: 50,
    retryMaxMs: 200,
    ...o,
  });
  uploaders.push(up);
  return up;
}

describe('SigV4 signer', () => {
  it("gives the AWS documentation's signature for its GET Object example", () => {
    const headers = signRequest(
      {
        method: 'GET',
        host: 'examplebucket.s3.amazonaws.com',
        path: '/test.txt',
        headers: { range: 'bytes=0-9' },
        payloadSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      'us-east-1',
      Date.UTC(2013, 4, 24),
    );
    assert.equal(
      headers.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });
});

describe('uploader with s3rver', () => {
  const servers: S3TestServer[] = [];
  after(async () => {
    for (const up of uploaders) await up.close();
    for (const s of servers) await s.stop();
  });

  it('uploads segments byte-identical (one PUT and multipart), with thumbnail and metadata, and no SDK checksum trailers', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    const small = segment(dir, 1, 300_000);
    const large = segment(dir, 2, 12 * MiB + 12345); // 3 parts of 5 MiB
    const thumb = randomBytes(20_000);
    writeFileSync(join(dir, `log0001_${SECONDS + 60}.jpg`), thumb);
    const up = uploader(server, dir);
    await up.start();
    up.enqueue(small);
    up.enqueue(large);
    assert.equal(up.uploadState('log0001.mkv'), 'queued');
    const s = await up.waitFor((x) => x.uploaded === 2 || x.failures > 0);
    assert.equal(s.failures, 0, JSON.stringify(s.lastError));
    assert.equal(s.verified, 2, 'both verified (s3rver gives the MD5 ETag)');
    assert.equal(s.queueLength, 0);
    assert.equal(s.uploadedBytes, small.sizeBytes + large.sizeBytes);
    assert.equal(up.uploadState('log0001.mkv'), 'uploaded');
    await up.close();

    assert.deepEqual(await server.getObject(keyOf(1)), readFileSync(join(dir, 'log0001.mkv')));
    assert.deepEqual(await server.getObject(keyOf(2)), readFileSync(join(dir, 'log0002.mkv')));
    assert.deepEqual(await server.getObject(keyOf(1).replace(/\.mkv$/, '.jpg')), thumb);
    assert.equal(server.created.get(keyOf(1)), 1);
    assert.equal(server.created.get(keyOf(2)), 1);

    const create = server.requests.find((r) => r.method === 'POST' && r.url.includes('uploads'));
    assert.ok(create, 'a multipart upload was created');
    assert.equal(create.headers['x-amz-meta-camera'], 'cam-a');
    assert.equal(create.headers['x-amz-meta-resolution'], '1280x720');
    assert.equal(create.headers['x-amz-meta-frames'], '1800');
    assert.equal(create.headers['x-amz-meta-start'], new Date(START + 120_000).toISOString());
    assert.equal(create.headers['x-amz-meta-end'], new Date(START + 180_000).toISOString());
    assert.match(create.headers['x-amz-meta-sha256'] ?? '', /^[0-9a-f]{64}$/);
    const parts = server.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber='));
    assert.equal(parts.length, 3);
    for (const r of server.requests) {
      for (const h of Object.keys(r.headers)) {
        assert.ok(!h.startsWith('x-amz-sdk-checksum'), `${r.method} ${r.url} sent ${h}`);
        assert.notEqual(h, 'x-amz-trailer', `${r.method} ${r.url} sent a trailer`);
        assert.notEqual(h, 'x-amz-decoded-content-length', `${r.method} ${r.url} sent an aws-chunked body`);
      }
      assert.ok(!/aws-chunked/.test(r.headers['content-encoding'] ?? ''), 'no aws-chunked encoding');
      assert.notEqual(r.headers['transfer-encoding'], 'chunked', `${r.method} ${r.url}: a plain Content-Length body`);
      assert.match(
        r.headers['x-amz-content-sha256'] ?? '',
        /^[0-9a-f]{64}$/,
        'a signed payload hash, never STREAMING-*',
      );
      assert.match(r.headers.authorization ?? '', /^AWS4-HMAC-SHA256 Credential=S3RVER\//);
    }
    assert.deepEqual(server.payloadMismatches, [], 'every body matched its signed SHA-256');
    // The queue file says the same after a restart: nothing left, both uploaded.
    const doc = await readQueueFile(dir);
    assert.equal(doc.entries.length, 0);
    assert.deepEqual(doc.uploaded.map((u) => u.name).sort(), ['log0001.mkv', 'log0002.mkv']);
  });

  it('a server stopped mid-upload and started again: the upload resumes, the object arrives whole and is completed once', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    const seg = segment(dir, 3, 16 * MiB); // 4 parts
    // A cap slows the upload enough to stop the server inside it.
    const up = uploader(server, dir, { rateBytesPerSecond: 8 * MiB });
    await up.start();
    up.enqueue(seg);
    await up.waitFor((s) => (s.current?.sentBytes ?? 0) > 6 * MiB);
    await server.stop();
    const offline = await up.waitFor((s) => s.state === 'offline');
    assert.match(offline.reason ?? '', /unreachable/);
    assert.equal(offline.queueLength, 1);
    await server.run();
    const s = await up.waitFor((x) => x.uploaded === 1);
    assert.equal(s.verified, 1);
    await up.close();
    assert.deepEqual(await server.getObject(keyOf(3)), readFileSync(join(dir, 'log0003.mkv')));
    assert.equal(server.created.get(keyOf(3)), 1, 'completed once');
    assert.equal(
      server.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads')).length,
      1,
      'the same multipart upload was resumed',
    );
  });

  it('an uploader stopped mid-upload resumes from the saved queue in a new run, sending only the missing parts', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    const seg = segment(dir, 4, 16 * MiB);
    const first = uploader(server, dir, { rateBytesPerSecond: 8 * MiB });
    await first.start();
    first.enqueue(seg);
    await first.waitFor((s) => (s.current?.sentBytes ?? 0) > 11 * MiB); // two parts acknowledged
    await first.close();
    const saved = await readQueueFile(dir);
    assert.equal(saved.entries.length, 1);
    const done = saved.entries[0]?.multipart?.done.length ?? 0;
    assert.ok(done >= 2, `parts saved: ${done}`);
    const partsBefore = server.requests.filter((r) => r.url.includes('partNumber=')).length;
    const second = uploader(server, dir, { runId: 'run-2' });
    await second.start();
    await second.waitFor((s) => s.uploaded === 1);
    await second.close();
    const resent = server.requests.filter((r) => r.url.includes('partNumber=')).length - partsBefore;
    assert.ok(resent <= 4 - done, `re-sent ${resent} parts, ${done} were saved`);
    assert.deepEqual(await server.getObject(keyOf(4)), readFileSync(join(dir, 'log0004.mkv')));
    assert.equal(server.created.get(keyOf(4)), 1);
  });

  it('wrong credentials: a clear failing status, the queue kept, no crash', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    const client = new S3Client({
      endpoint: new URL(server.endpoint),
      bucket: TEST_BUCKET,
      region: 'us-east-1',
      pathStyle: true,
      credentials: () => ({ accessKeyId: 'S3RVER', secretAccessKey: 'wrong-secret' }),
    });
    const up = uploader(server, dir, { client });
    await up.start();
    up.enqueue(segment(dir, 5, 1000));
    const s = await up.waitFor((x) => x.failures >= 2);
    assert.equal(s.state, 'failing');
    // A HEAD refused has no body (S3 answers so too): AccessDenied; a PUT names the signature.
    assert.ok(['SignatureDoesNotMatch', 'AccessDenied'].includes(s.lastError?.code ?? ''), s.lastError?.code);
    assert.match(s.lastError?.message ?? '', /check the credentials/);
    assert.equal(s.queueLength, 1);
    assert.equal(up.uploadState('log0005.mkv'), 'queued');
    await up.close();
  });

  it('an unreachable endpoint: offline, and a full queue drops its oldest segments (counted)', async () => {
    const server = await S3TestServer.start();
    await server.stop(); // nothing listens on its port now
    const dir = recordingsDir();
    const up = uploader(server, dir, { queueMax: 2 });
    await up.start();
    for (const n of [6, 7, 8, 9]) up.enqueue(segment(dir, n, 1000));
    const s = await up.waitFor((x) => x.state === 'offline' && x.failures >= 1);
    assert.equal(s.lastError?.code, 'ECONNREFUSED');
    assert.equal(s.queueLength, 2);
    assert.equal(s.droppedQueueFull, 2);
    assert.equal(up.uploadState('log0006.mkv'), 'none', 'dropped: an ordinary segment for rotation');
    assert.equal(up.uploadState('log0009.mkv'), 'queued');
    up.deleted(['log0009.mkv']);
    assert.equal(up.status.deletedBeforeUpload, 1);
    assert.equal(up.status.queueLength, 1);
    await up.close();
  });

  it('a segment recorded before the clock was set waits for its re-stamp, then goes up under its true date', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    const up = uploader(server, dir);
    await up.start();
    up.enqueue(segment(dir, 10, 2000, { startedAtMs: 5_000, provisional: true }));
    const waiting = await up.waitFor((s) => s.state === 'idle' && /clock/.test(s.reason ?? ''));
    assert.equal(waiting.waitingForClock, 1);
    assert.equal(waiting.uploaded, 0);
    up.restamped('log0010.mkv', START);
    await up.waitFor((s) => s.uploaded === 1);
    await up.close();
    assert.deepEqual(await server.getObject(keyOf(10, START)), readFileSync(join(dir, 'log0010.mkv')));
  });

  it('--upload-when charging waits while not charging', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    let charging = false;
    const up = uploader(server, dir, { when: 'charging', isCharging: async () => charging, chargingPollMs: 20 });
    await up.start();
    up.enqueue(segment(dir, 11, 1000));
    const s = await up.waitFor((x) => x.state === 'waiting-charging');
    assert.equal(s.queueLength, 1);
    charging = true;
    await up.waitFor((x) => x.uploaded === 1);
    await up.close();
  });
  it("a segment a moment keeps: renamed out of the ring while queued, it goes up under its ring name's key and stays on the camera", async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    let charging = false;
    const up = uploader(server, dir, {
      when: 'charging',
      isCharging: async () => charging,
      chargingPollMs: 20,
      thenDelete: true,
    });
    await up.start();
    const kept = segment(dir, 12, 2000);
    const plain = segment(dir, 13, 2000);
    up.enqueue(kept);
    up.enqueue(plain);
    await up.waitFor((x) => x.state === 'waiting-charging');
    // What the moments do (src/recorder/moment-store.ts): rename, then tell.
    const protectedName = `log0012-${Math.floor(kept.startedAtMs / 1000)}.mkv`;
    renameSync(join(dir, kept.name), join(dir, protectedName));
    up.renamed(kept.name, protectedName);
    assert.equal(up.uploadState(protectedName), 'queued');
    charging = true;
    const s = await up.waitFor((x) => x.uploaded === 2 || x.failures > 0);
    assert.equal(s.failures, 0, JSON.stringify(s.lastError));
    await up.close();
    assert.deepEqual(await server.getObject(keyOf(12)), readFileSync(join(dir, protectedName)));
    assert.ok(existsSync(join(dir, protectedName)), "the moment's segment stays on the camera after its upload");
    assert.ok(!existsSync(join(dir, plain.name)), 'an ordinary segment is deleted after its verified upload');
    assert.equal(up.status.deletedAfterUpload, 1);
  });

  it('--upload-then-delete: the local segment and thumbnail go only after the verified upload of both, never before', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    const seg = segment(dir, 12, 7 * MiB); // 2 parts
    const thumbName = `log0012_${SECONDS + 12 * 60}.jpg`;
    writeFileSync(join(dir, thumbName), randomBytes(5000));
    // What the server saw, with whether the local copy still existed at that moment.
    const seen: { method: string; url: string; local: boolean }[] = [];
    server.onRequest = (method, url) => seen.push({ method, url, local: existsSync(join(dir, 'log0012.mkv')) });
    const up = uploader(server, dir, { thenDelete: true });
    await up.start();
    up.enqueue(seg);
    const s = await up.waitFor((x) => x.deletedAfterUpload === 1 || x.failures > 0);
    assert.equal(s.failures, 0, JSON.stringify(s.lastError));
    assert.equal(s.verified, 1);
    await up.close();
    server.onRequest = undefined;
    assert.ok(!existsSync(join(dir, 'log0012.mkv')), 'segment deleted');
    assert.ok(!existsSync(join(dir, thumbName)), 'thumbnail deleted');
    assert.equal(up.uploadState('log0012.mkv'), 'none');
    assert.ok((await server.getObject(keyOf(12).replace(/\.mkv$/, '.jpg')))?.length === 5000, 'thumbnail uploaded');
    assert.equal((await server.getObject(keyOf(12)))?.length, seg.sizeBytes);
    // Every request, the last verifying HEAD included, came while the local copy was there.
    const last = seen[seen.length - 1];
    assert.equal(last?.method, 'HEAD');
    assert.ok(last?.url.includes('log0012_'), last?.url);
    assert.ok(
      seen.every((r) => r.local),
      'nothing deleted before the final verification',
    );
  });

  it('--upload-then-delete keeps the local copy when the stored object does not verify, or cannot be checked', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    server.headTamper = 'etag'; // the HEAD after the upload reports another MD5
    const up = uploader(server, dir, { thenDelete: true });
    await up.start();
    up.enqueue(segment(dir, 13, 3000));
    const s = await up.waitFor((x) => x.failures >= 2);
    assert.equal(s.lastError?.code, 'ERR_UPLOAD_VERIFY');
    assert.match(s.lastError?.message ?? '', /does not match the local file/);
    assert.equal(s.uploaded, 0);
    assert.ok(existsSync(join(dir, 'log0013.mkv')), 'kept: not verified');
    assert.equal(up.uploadState('log0013.mkv'), 'queued');
    // A server that gives neither checksum nor ETag: counted uploaded, not verified, kept.
    server.headTamper = 'strip';
    const done = await up.waitFor((x) => x.uploaded === 1);
    assert.equal(done.verified, 0);
    assert.equal(done.deletedAfterUpload, 0);
    await up.close();
    assert.ok(existsSync(join(dir, 'log0013.mkv')), 'kept: nothing to verify against');
  });

  it('waits for the segment thumbnail still being made, then uploads it with the segment', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = recordingsDir();
    let release: () => void = () => undefined;
    const made = new Promise<void>((resolve) => {
      release = resolve;
    });
    const asked: string[] = [];
    let wasAsked: () => void = () => undefined;
    const askedOnce = new Promise<void>((resolve) => {
      wasAsked = resolve;
    });
    const up = uploader(server, dir, {
      thumbnailSettled: (name) => {
        asked.push(name);
        wasAsked();
        return made;
      },
    });
    await up.start();
    up.enqueue(segment(dir, 14, 2000));
    // The uploader asked and waits: nothing of log0014 was sent.
    await askedOnce;
    assert.deepEqual(asked, ['log0014.mkv']);
    assert.ok(!server.requests.some((r) => r.url.includes('log0014_')), 'nothing sent while the thumbnail is made');
    assert.equal(up.status.uploaded, 0);
    // The thumbnail maker finishes (renames the JPEG into place), then settles.
    const thumb = randomBytes(3000);
    writeFileSync(join(dir, `log0014_${SECONDS + 14 * 60}.jpg`), thumb);
    release();
    await up.waitFor((x) => x.uploaded === 1);
    await up.close();
    assert.deepEqual(await server.getObject(keyOf(14).replace(/\.mkv$/, '.jpg')), thumb);
    const firstThumb = server.requests.findIndex(
      (r) => r.method === 'PUT' && r.url.includes('log0014_') && r.url.includes('.jpg'),
    );
    const firstSeg = server.requests.findIndex(
      (r) => r.method === 'PUT' && r.url.includes('log0014_') && r.url.includes('.mkv'),
    );
    assert.ok(firstThumb >= 0 && firstThumb < firstSeg, 'thumbnail before its segment');
  });

  it('a queue file that does not parse, or is a link, is set aside as .bad (logged) and the queue starts empty', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    for (const plant of [
      (dir: string) =>
        writeFileSync(join(dir, '.upload-queue.json'), '{"version":1,"entries":[{"name":"../../etc/passwd"'),
      (dir: string) =>
        writeFileSync(
          join(dir, '.upload-queue.json'),
          JSON.stringify({ version: 1, entries: [{ name: '../x.mkv', queuedAtMs: 1 }], uploaded: [] }),
        ),
      (dir: string) => {
        writeFileSync(join(dir, 'target'), 'not ours');
        symlinkSync(join(dir, 'target'), join(dir, '.upload-queue.json'));
      },
    ]) {
      const dir = recordingsDir();
      plant(dir);
      const lines: string[] = [];
      const logger = new Logger({ level: 'warn', sink: (l: string) => lines.push(l) });
      const up = uploader(server, dir, { logger });
      await up.start();
      assert.equal(up.status.state, 'idle');
      assert.equal(up.status.queueLength, 0);
      assert.ok(existsSync(join(dir, '.upload-queue.json.bad')), 'set aside');
      assert.ok(
        lines.some((l) => /could not be read .*set aside as \.upload-queue\.json\.bad/.test(l)),
        lines.join('\n'),
      );
      // Uploads go on with a fresh queue.
      up.enqueue(segment(dir, 15, 1000));
      await up.waitFor((x) => x.uploaded === 1);
      await up.close();
      assert.equal((await readQueueFile(dir)).uploaded.length, 1);
      if (existsSync(join(dir, 'target'))) assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'not ours');
    }
  });

  it('TLS: an endpoint whose CA is trusted through `ca` works; another CA is refused with a clear failing status', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const certs = makeTestCertificates(mkdtempSync(join(tmpdir(), 'rearview-tls-')));
    const other = makeTestCertificates(mkdtempSync(join(tmpdir(), 'rearview-tls-')), 'some other CA');
    const front = await TlsFront.start(certs, () => server.port);
    try {
      const client = (ca: string | undefined): S3Client =>
        new S3Client({
          endpoint: new URL(front.endpoint),
          bucket: TEST_BUCKET,
          region: 'us-east-1',
          pathStyle: true,
          credentials: () => S3RVER_CREDENTIALS,
          ca,
        });
      const badDir = recordingsDir();
      const bad = uploader(front, badDir, { client: client(other.caCert) });
      await bad.start();
      bad.enqueue(segment(badDir, 16, 1000));
      const s = await bad.waitFor((x) => x.failures >= 1);
      assert.equal(s.state, 'failing', 'a refused certificate is not "offline"');
      assert.equal(s.lastError?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.match(s.reason ?? '', /TLS certificate is not trusted .*--upload-ca FILE/);
      await bad.close();
      const noCaDir = recordingsDir();
      const noCa = uploader(front, noCaDir, { client: client(undefined) });
      await noCa.start();
      noCa.enqueue(segment(noCaDir, 17, 1000));
      assert.equal((await noCa.waitFor((x) => x.failures >= 1)).state, 'failing');
      await noCa.close();
      const dir = recordingsDir();
      const good = uploader(front, dir, { client: client(certs.caCert) });
      await good.start();
      good.enqueue(segment(dir, 18, 6 * MiB));
      const ok = await good.waitFor((x) => x.uploaded === 1 || x.failures > 0);
      assert.equal(ok.failures, 0, JSON.stringify(ok.lastError));
      await good.close();
      assert.deepEqual(await server.getObject(keyOf(18)), readFileSync(join(dir, 'log0018.mkv')));
    } finally {
      await front.close();
    }
  });
});
