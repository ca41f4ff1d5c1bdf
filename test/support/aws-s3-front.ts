/**
 * The parts of S3 that s3rver 3.7 lacks and that the uploader relies on,
 * played by the test harness in front of s3rver (S3TestServer with
 * `aws: true`), as the AWS S3 API reference and user guide describe them.
 * Nothing here was checked against a real S3 service: it is AWS's
 * documentation turned into code, so a misreading of it would be shared
 * by this front and the uploader. The pages followed:
 *
 * - Additional checksums, "Checking object integrity" (S3 User Guide,
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html):
 *   S3 computes the checksum of the body it receives and rejects the
 *   request when it differs from the one sent (400 BadDigest "The SHA256
 *   you specified did not match the calculated checksum."; a value that is
 *   not a base64 SHA-256 is 400 InvalidRequest); it stores the checksum as
 *   object metadata; HeadObject returns it only with `x-amz-checksum-mode:
 *   ENABLED` (API_HeadObject.html, "ChecksumMode"); for a multipart upload
 *   the object's checksum is the checksum of the parts' checksums (the raw
 *   digests concatenated in part order) in base64 with `-N` (N parts),
 *   `x-amz-checksum-type: COMPOSITE` (API_Checksum.html, "ChecksumType").
 *   Content-MD5: 400 InvalidDigest when malformed, BadDigest when it
 *   differs (API_PutObject.html). A signed x-amz-content-sha256 that
 *   differs: 400 XAmzContentSHA256Mismatch. In which order S3 makes these
 *   checks is not documented; this front checks the additional checksum
 *   first, then Content-MD5, then x-amz-content-sha256.
 * - CreateMultipartUpload with `x-amz-checksum-algorithm: SHA256`
 *   (API_CreateMultipartUpload.html): every UploadPart must then carry
 *   `x-amz-checksum-sha256` (400 InvalidRequest otherwise), and
 *   CompleteMultipartUpload must give each part's ChecksumSHA256
 *   (API_CompletedPart.html; 400 InvalidRequest when one is missing); a
 *   part whose ETag or checksum does not match what was stored is 400
 *   InvalidPart, parts out of order 400 InvalidPartOrder, a part but the
 *   last under 5 MiB 400 EntityTooSmall (API_CompleteMultipartUpload.html).
 *   The object's ETag is then the MD5 of the parts' MD5s with `-N`.
 * - ListParts (API_ListParts.html): GET `?uploadId=` with `max-parts`
 *   (at most 1000) and `part-number-marker`; ListPartsResult with
 *   PartNumberMarker, NextPartNumberMarker, MaxParts, IsTruncated and one
 *   Part per part (PartNumber, LastModified, ETag, Size, ChecksumSHA256),
 *   ChecksumAlgorithm; 404 NoSuchUpload for an upload completed, aborted
 *   or unknown. AbortMultipartUpload (API_AbortMultipartUpload.html): 204.
 *   s3rver answers neither (405).
 * - Server-side encryption (API_PutObject.html, "x-amz-server-side-encryption";
 *   userguide/default-encryption-faq.html): AES256, aws:kms or
 *   aws:kms:dsse, anything else 400 InvalidArgument; PutObject,
 *   CreateMultipartUpload, UploadPart, CompleteMultipartUpload and
 *   HeadObject answer the header with the algorithm used (and the KMS key
 *   id for aws:kms). Every bucket encrypts new objects with SSE-S3 (AES256)
 *   by default, so an object stored without the header answers AES256. An
 *   SSE-KMS object's ETag is not an MD5 of its data (API_Object.html, "ETag").
 * - Virtual-hosted-style requests (userguide/VirtualHosting.html): the
 *   bucket is the first label of the Host (`rides.s3.example:port`), the
 *   path is the key; path-style requests (`/rides/key`) work alike.
 *
 * Faults, to test the uploader's verification: a byte flipped in transit
 * (the server's checks reject the body), a byte flipped as stored (the
 * server keeps and reports other bytes than it received: a broken
 * S3-compatible server), a HEAD answering a wrong checksum, a server that
 * ignores the encryption asked for. Each counts down per request on keys
 * matching `faultKeys` (the segments, not their thumbnails).
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';

/** The Koa context of s3rver, as much of it as the front uses. */
export interface FrontContext {
  method: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  req: IncomingMessage;
  status: number;
  type: string;
  body: unknown;
  set(field: string, value: string): void;
  remove(field: string): void;
}

interface StoredPart {
  size: number;
  etag: string;
  sha256B64: string | null;
  md5Hex: string;
  lastModified: string;
}

interface Upload {
  key: string;
  algorithm: 'SHA256' | null;
  sse: Sse;
  parts: Map<number, StoredPart>;
}

interface Sse {
  algorithm: string;
  kmsKeyId: string | null;
}

interface StoredObject {
  checksumSha256: string | null;
  checksumType: 'FULL_OBJECT' | 'COMPOSITE';
  sse: Sse;
  /** The ETag S3 gives when it is not s3rver's (multipart: MD5 of MD5s with -N; SSE-KMS: not an MD5 of the data). */
  etag: string | null;
}

/** Fault counters: each counts down once per request it spoils. */
export interface FrontFaults {
  /** Bodies (object or part) with one byte flipped on their way in, before any check. */
  corruptInTransit: number;
  /** Bodies with one byte flipped after the checks, as stored: the server keeps, and reports the checksum of, other bytes. */
  corruptStored: number;
  /** HEAD answers (200) with a wrong x-amz-checksum-sha256. */
  wrongHeadChecksum: number;
  /** A server ignoring x-amz-server-side-encryption: `default` answers the bucket default (AES256), `none` no header at all. */
  sseIgnored: 'default' | 'none' | undefined;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MIN_PART_BYTES = 5 * 1024 * 1024;
const DEFAULT_KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000';
const SSE_ALGORITHMS = new Set(['AES256', 'aws:kms', 'aws:kms:dsse']);

const b64 = (buf: Buffer): string => buf.toString('base64');
const sha256 = (buf: Buffer): Buffer => createHash('sha256').update(buf).digest();
const md5 = (buf: Buffer): Buffer => createHash('md5').update(buf).digest();
const xmlText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The AWS behaviours above, as one Koa middleware step (`handle`). */
export class AwsS3Front {
  readonly faults: FrontFaults = { corruptInTransit: 0, corruptStored: 0, wrongHeadChecksum: 0, sseIgnored: undefined };
  /** Keys the faults apply to. */
  faultKeys: RegExp = /\.mkv$/;
  /** Most parts in one ListParts answer (S3 may give fewer than max-parts; a small page tests the client's paging). */
  listPartsPage = 1000;
  /** Requests the front answered or changed, by operation, to assert what the client used. */
  readonly seen = {
    listParts: 0,
    abort: 0,
    virtualHosted: 0,
    pathStyle: 0,
    badDigest: 0,
    headWithChecksumMode: 0,
  };
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, Upload>();

  constructor(
    readonly bucket: string,
    /** Host name of the endpoint for virtual-hosted-style requests (`BUCKET.serviceHost`). */
    readonly serviceHost: string,
  ) {}

  /** The checksum S3 would report for `key` (null: none stored). */
  storedChecksum(key: string): string | null {
    return this.objects.get(key)?.checksumSha256 ?? null;
  }

  /** Parts of the multipart uploads under way, per key. */
  partsHeld(key: string): number[] {
    for (const u of this.uploads.values()) if (u.key === key) return [...u.parts.keys()].sort((a, b) => a - b);
    return [];
  }

  /** Multipart uploads neither completed nor aborted, per key (S3 keeps, and bills, their parts until one or the other). */
  openUploads(key: string): number {
    return [...this.uploads.values()].filter((u) => u.key === key).length;
  }

  /** Handles one request (its signature already checked); `port` is s3rver's. */
  async handle(ctx: FrontContext, next: () => Promise<void>, port: number): Promise<void> {
    if (!this.route(ctx, port)) return;
    const [rawPath = '/', rawQuery = ''] = ctx.url.split('?');
    const prefix = `/${this.bucket}/`;
    if (!rawPath.startsWith(prefix)) return next();
    const key = decodeURIComponent(rawPath.slice(prefix.length));
    const q = new URLSearchParams(rawQuery);
    const uploadId = q.get('uploadId');
    const m = ctx.method;
    if (m === 'PUT' && uploadId !== null) return this.uploadPart(ctx, next, key, uploadId, q.get('partNumber'));
    if (m === 'PUT' && !('x-amz-copy-source' in ctx.headers)) return this.putObject(ctx, next, key);
    if (m === 'POST' && q.has('uploads')) return this.createMultipart(ctx, next, key);
    if (m === 'POST' && uploadId !== null) return this.complete(ctx, next, key, uploadId);
    if (m === 'GET' && uploadId !== null) return this.listParts(ctx, key, uploadId, q);
    if (m === 'DELETE' && uploadId !== null) return this.abort(ctx, key, uploadId);
    if (m === 'HEAD' || m === 'GET') return this.headOrGet(ctx, next, key);
    if (m === 'DELETE') {
      await next();
      if (ctx.status < 300) this.objects.delete(key);
      return;
    }
    return next();
  }

  /**
   * Virtual-hosted style (`rides.<serviceHost>`) becomes s3rver's path
   * style; the Host is set to s3rver's address so that s3rver's own vhost
   * rule (made for *.amazonaws.com) leaves the path alone.
   */
  private route(ctx: FrontContext, port: number): boolean {
    const host = (ctx.headers.host ?? '').replace(/:\d+$/, '');
    if (host.endsWith(`.${this.serviceHost}`)) {
      const bucket = host.slice(0, -this.serviceHost.length - 1);
      if (bucket !== this.bucket) {
        error(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
        return false;
      }
      this.seen.virtualHosted++;
      ctx.path = `/${bucket}${ctx.path}`;
    } else {
      this.seen.pathStyle++;
    }
    ctx.req.headers.host = `127.0.0.1:${port}`;
    return true;
  }

  private async putObject(ctx: FrontContext, next: () => Promise<void>, key: string): Promise<void> {
    const sse = this.requestedSse(ctx);
    if (!sse) return;
    const received = this.transit(key, await readBody(ctx.req));
    if (this.bodyRefused(ctx, received)) return;
    const stored = this.store(key, received);
    feed(ctx, stored);
    await next();
    if (ctx.status !== 200) return;
    const algorithm = ctx.headers['x-amz-checksum-sha256'] ? 'SHA256' : null;
    const etag = sse.algorithm.startsWith('aws:kms') ? randomBytes(16).toString('hex') : null;
    this.objects.set(key, {
      checksumSha256: algorithm ? b64(sha256(stored)) : null,
      checksumType: 'FULL_OBJECT',
      sse,
      etag,
    });
    if (etag) ctx.set('ETag', `"${etag}"`);
    if (algorithm) {
      ctx.set('x-amz-checksum-sha256', b64(sha256(stored)));
      ctx.set('x-amz-checksum-type', 'FULL_OBJECT');
    }
    this.answerSse(ctx, sse);
  }

  private async createMultipart(ctx: FrontContext, next: () => Promise<void>, key: string): Promise<void> {
    const sse = this.requestedSse(ctx);
    if (!sse) return;
    const algorithm = ctx.headers['x-amz-checksum-algorithm']?.toUpperCase() ?? null;
    if (algorithm !== null && !['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'].includes(algorithm)) {
      error(ctx, 400, 'InvalidRequest', 'Value for x-amz-checksum-algorithm header is invalid.');
      return;
    }
    if (algorithm !== null && algorithm !== 'SHA256') {
      error(ctx, 501, 'NotImplemented', `the test front implements SHA256 checksums only, not ${algorithm}`);
      return;
    }
    await next();
    if (ctx.status !== 200) return;
    const id = /<UploadId>([^<]+)<\/UploadId>/.exec(String(ctx.body))?.[1];
    if (!id) return;
    this.uploads.set(id, { key, algorithm, sse, parts: new Map() });
    if (algorithm) {
      ctx.set('x-amz-checksum-algorithm', algorithm);
      ctx.set('x-amz-checksum-type', 'COMPOSITE');
    }
    this.answerSse(ctx, sse);
  }

  private async uploadPart(
    ctx: FrontContext,
    next: () => Promise<void>,
    key: string,
    uploadId: string,
    partNumberText: string | null,
  ): Promise<void> {
    const upload = this.uploads.get(uploadId);
    const received = this.transit(key, await readBody(ctx.req));
    if (!upload || upload.key !== key) {
      noSuchUpload(ctx);
      return;
    }
    const partNumber = Number(partNumberText);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      error(ctx, 400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
      return;
    }
    if (upload.algorithm === 'SHA256' && !ctx.headers['x-amz-checksum-sha256']) {
      error(
        ctx,
        400,
        'InvalidRequest',
        'Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null',
      );
      return;
    }
    if (this.bodyRefused(ctx, received)) return;
    const stored = this.store(key, received);
    feed(ctx, stored);
    await next();
    if (ctx.status !== 200) return;
    const part: StoredPart = {
      size: stored.length,
      etag: md5(stored).toString('hex'),
      sha256B64: upload.algorithm ? b64(sha256(stored)) : null,
      md5Hex: md5(stored).toString('hex'),
      lastModified: new Date().toISOString(),
    };
    upload.parts.set(partNumber, part);
    ctx.set('ETag', `"${part.etag}"`);
    if (part.sha256B64) ctx.set('x-amz-checksum-sha256', part.sha256B64);
    this.answerSse(ctx, upload.sse);
  }

  private async complete(ctx: FrontContext, next: () => Promise<void>, key: string, uploadId: string): Promise<void> {
    const xml = await readBody(ctx.req);
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) {
      noSuchUpload(ctx);
      return;
    }
    if (this.bodyRefused(ctx, xml)) return;
    const listed = [...xml.toString('utf8').matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((mm) => {
      const block = mm[1] as string;
      const pick = (name: string): string | null =>
        new RegExp(`<${name}>([^<]*)</${name}>`).exec(block)?.[1]?.replace(/&quot;/g, '"') ?? null;
      return {
        partNumber: Number(pick('PartNumber')),
        etag: (pick('ETag') ?? '').replace(/"/g, ''),
        checksumSha256: pick('ChecksumSHA256'),
      };
    });
    if (listed.length === 0) {
      error(
        ctx,
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema',
      );
      return;
    }
    const used: StoredPart[] = [];
    for (let i = 0; i < listed.length; i++) {
      const p = listed[i] as (typeof listed)[number];
      if (i > 0 && p.partNumber <= (listed[i - 1] as (typeof listed)[number]).partNumber) {
        error(
          ctx,
          400,
          'InvalidPartOrder',
          'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
        );
        return;
      }
      if (upload.algorithm === 'SHA256' && !p.checksumSha256) {
        error(
          ctx,
          400,
          'InvalidRequest',
          `The upload was created using a sha256 checksum. The complete request must include the checksum for each part. It was missing for part ${p.partNumber} in the request.`,
        );
        return;
      }
      const stored = upload.parts.get(p.partNumber);
      if (
        !stored ||
        stored.etag !== p.etag ||
        (upload.algorithm === 'SHA256' && stored.sha256B64 !== p.checksumSha256)
      ) {
        error(
          ctx,
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
        );
        return;
      }
      if (i < listed.length - 1 && stored.size < MIN_PART_BYTES) {
        error(ctx, 400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.');
        return;
      }
      used.push(stored);
    }
    feed(ctx, xml);
    await next();
    if (ctx.status !== 200) return;
    const n = used.length;
    const etag = `${md5(Buffer.concat(used.map((p) => Buffer.from(p.md5Hex, 'hex')))).toString('hex')}-${n}`;
    const checksum = upload.algorithm
      ? `${b64(sha256(Buffer.concat(used.map((p) => Buffer.from(p.sha256B64 as string, 'base64')))))}-${n}`
      : null;
    this.objects.set(key, {
      checksumSha256: checksum,
      checksumType: 'COMPOSITE',
      sse: upload.sse,
      etag: upload.sse.algorithm.startsWith('aws:kms') ? randomBytes(16).toString('hex') : etag,
    });
    this.uploads.delete(uploadId);
    const stored = this.objects.get(key) as StoredObject;
    let body = String(ctx.body).replace(/<ETag>[^<]*<\/ETag>/, `<ETag>&quot;${stored.etag}&quot;</ETag>`);
    if (checksum)
      body = body.replace(
        '</CompleteMultipartUploadResult>',
        `<ChecksumSHA256>${checksum}</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>`,
      );
    ctx.body = body;
    this.answerSse(ctx, upload.sse);
  }

  private listParts(ctx: FrontContext, key: string, uploadId: string, q: URLSearchParams): void {
    this.seen.listParts++;
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) {
      noSuchUpload(ctx);
      return;
    }
    const maxParts = q.has('max-parts') ? Number(q.get('max-parts')) : 1000;
    const marker = q.has('part-number-marker') ? Number(q.get('part-number-marker')) : 0;
    if (!Number.isInteger(maxParts) || maxParts < 0 || !Number.isInteger(marker) || marker < 0) {
      error(ctx, 400, 'InvalidArgument', 'max-parts and part-number-marker must be non-negative integers');
      return;
    }
    const after = [...upload.parts.entries()].filter(([n]) => n > marker).sort(([a], [b]) => a - b);
    const page = after.slice(0, Math.min(maxParts, 1000, this.listPartsPage));
    const truncated = page.length < after.length;
    const last = page.length > 0 ? (page[page.length - 1] as (typeof page)[number])[0] : marker;
    const parts = page
      .map(
        ([n, p]) =>
          `<Part><PartNumber>${n}</PartNumber><LastModified>${p.lastModified}</LastModified><ETag>&quot;${p.etag}&quot;</ETag><Size>${p.size}</Size>${p.sha256B64 ? `<ChecksumSHA256>${p.sha256B64}</ChecksumSHA256>` : ''}</Part>`,
      )
      .join('');
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult xmlns="${XMLNS}"><Bucket>${this.bucket}</Bucket><Key>${xmlText(key)}</Key><UploadId>${uploadId}</UploadId>` +
      `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${last}</NextPartNumberMarker><MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>` +
      `${parts}<Initiator><ID>S3RVER</ID><DisplayName>S3RVER</DisplayName></Initiator><Owner><ID>S3RVER</ID><DisplayName>S3RVER</DisplayName></Owner><StorageClass>STANDARD</StorageClass>` +
      `${upload.algorithm ? `<ChecksumAlgorithm>${upload.algorithm}</ChecksumAlgorithm>` : ''}</ListPartsResult>`;
  }

  private abort(ctx: FrontContext, key: string, uploadId: string): void {
    this.seen.abort++;
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) {
      noSuchUpload(ctx);
      return;
    }
    this.uploads.delete(uploadId);
    ctx.status = 204;
    ctx.body = null;
  }

  private async headOrGet(ctx: FrontContext, next: () => Promise<void>, key: string): Promise<void> {
    await next();
    if (ctx.status !== 200 && ctx.status !== 206) return;
    const stored = this.objects.get(key);
    if (!stored) {
      this.answerSse(ctx, { algorithm: 'AES256', kmsKeyId: null });
      return;
    }
    if (stored.etag) ctx.set('ETag', `"${stored.etag}"`);
    ctx.remove('x-amz-checksum-sha256');
    if ((ctx.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED') {
      this.seen.headWithChecksumMode++;
      if (stored.checksumSha256) {
        let value = stored.checksumSha256;
        if (ctx.method === 'HEAD' && this.faults.wrongHeadChecksum > 0 && this.faultKeys.test(key)) {
          this.faults.wrongHeadChecksum--;
          const [digest = '', suffix] = value.split('-');
          const raw = Buffer.from(digest, 'base64');
          raw[0] = (raw[0] as number) ^ 0x01;
          value = suffix ? `${b64(raw)}-${suffix}` : b64(raw);
        }
        ctx.set('x-amz-checksum-sha256', value);
        ctx.set('x-amz-checksum-type', stored.checksumType);
      }
    }
    this.answerSse(ctx, stored.sse);
  }

  /** The encryption asked for (bucket default AES256 when none), or null after answering 400. */
  private requestedSse(ctx: FrontContext): Sse | null {
    const asked = ctx.headers['x-amz-server-side-encryption'];
    if (asked === undefined) return { algorithm: 'AES256', kmsKeyId: null };
    if (!SSE_ALGORITHMS.has(asked)) {
      error(ctx, 400, 'InvalidArgument', 'The encryption method specified is not supported');
      return null;
    }
    if (this.faults.sseIgnored) return { algorithm: 'AES256', kmsKeyId: null };
    return {
      algorithm: asked,
      kmsKeyId: asked.startsWith('aws:kms')
        ? (ctx.headers['x-amz-server-side-encryption-aws-kms-key-id'] ?? DEFAULT_KMS_KEY)
        : null,
    };
  }

  private answerSse(ctx: FrontContext, sse: Sse): void {
    if (this.faults.sseIgnored === 'none') return;
    ctx.set('x-amz-server-side-encryption', sse.algorithm);
    if (sse.kmsKeyId) ctx.set('x-amz-server-side-encryption-aws-kms-key-id', sse.kmsKeyId);
  }

  /** The body with one byte flipped when an in-transit fault is due. */
  private transit(key: string, body: Buffer): Buffer {
    if (this.faults.corruptInTransit <= 0 || !this.faultKeys.test(key) || body.length === 0) return body;
    this.faults.corruptInTransit--;
    return flipped(body);
  }

  /** What the server keeps: the body, or another one when a stored fault is due. */
  private store(key: string, body: Buffer): Buffer {
    if (this.faults.corruptStored <= 0 || !this.faultKeys.test(key) || body.length === 0) return body;
    this.faults.corruptStored--;
    return flipped(body);
  }

  /** S3's checks of a body against the checksum, Content-MD5 and signed SHA-256 sent with it; true after answering 400. */
  private bodyRefused(ctx: FrontContext, body: Buffer): boolean {
    const checksum = ctx.headers['x-amz-checksum-sha256'];
    if (checksum !== undefined) {
      const raw = Buffer.from(checksum, 'base64');
      if (raw.length !== 32 || b64(raw) !== checksum) {
        error(ctx, 400, 'InvalidRequest', 'Value for x-amz-checksum-sha256 header is invalid.');
        return true;
      }
      if (!raw.equals(sha256(body))) {
        this.seen.badDigest++;
        error(ctx, 400, 'BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
        return true;
      }
    }
    const contentMd5 = ctx.headers['content-md5'];
    if (contentMd5 !== undefined) {
      const raw = Buffer.from(contentMd5, 'base64');
      if (raw.length !== 16 || b64(raw) !== contentMd5) {
        error(ctx, 400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
        return true;
      }
      if (!raw.equals(md5(body))) {
        this.seen.badDigest++;
        error(ctx, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
        return true;
      }
    }
    const signed = ctx.headers['x-amz-content-sha256'];
    if (signed && /^[0-9a-f]{64}$/.test(signed) && signed !== sha256(body).toString('hex')) {
      error(
        ctx,
        400,
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
      return true;
    }
    return false;
  }
}

function flipped(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const at = Math.floor(copy.length / 2);
  copy[at] = (copy[at] as number) ^ 0xff;
  return copy;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Gives s3rver `body` to read as the request's. */
function feed(ctx: FrontContext, body: Buffer): void {
  const stream = new PassThrough();
  const headers = { ...ctx.req.headers, 'content-length': String(body.length) };
  Object.assign(stream, { headers, method: ctx.req.method, url: ctx.req.url });
  stream.end(body);
  ctx.req = stream as unknown as IncomingMessage;
}

function error(ctx: FrontContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlText(message)}</Message><RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
}

function noSuchUpload(ctx: FrontContext): void {
  error(
    ctx,
    404,
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  );
}
