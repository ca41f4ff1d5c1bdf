/**
 * The few S3 operations the uploader needs (HeadObject, PutObject,
 * CreateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload,
 * AbortMultipartUpload), over node:http/https with SigV4 (sigv4.ts).
 *
 * Standard S3 API only. Bodies stream from the file: nothing is buffered but
 * the small XML answers (at most 1 MiB read). No checksum trailers and no
 * `aws-chunked` encoding: every body is sent plain with Content-Length, its
 * SHA-256 in the signed `x-amz-content-sha256` header (S3 checks it), plus
 * `x-amz-checksum-sha256` and `Content-MD5` headers that S3 also checks and
 * that let a later HEAD prove what is stored (uploader.ts).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { LookupFunction } from 'node:net';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { RearviewError } from '../errors.js';
import { canonicalQuery, EMPTY_SHA256, signRequest, uriEncode, type S3Credentials } from './sigv4.js';

/** Where objects go. */
export interface S3Location {
  /** Endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:4569. */
  endpoint: URL;
  bucket: string;
  region: string;
  /** Bucket in the path (MinIO, most self-hosted servers) rather than in the host name. */
  pathStyle: boolean;
}

/** A failed S3 request: HTTP status and S3 error code when the server answered, the errno when it did not. */
export class S3RequestError extends RearviewError {
  constructor(
    message: string,
    readonly status: number | null,
    readonly s3Code: string | null,
    readonly errno: string | null,
  ) {
    super('ERR_UPLOAD', message);
  }

  /** The server was not reached or did not answer (offline: wait, nothing is wrong with the request). */
  get isNetwork(): boolean {
    return this.status === null && !this.isTls;
  }

  /** The endpoint was reached but its TLS certificate was refused (untrusted CA, wrong name, expired, or our clock). */
  get isTls(): boolean {
    return this.errno !== null && TLS_CERT_ERRORS.has(this.errno);
  }

  /** Credentials or permissions refused: retrying without a change will fail again. */
  get isAuth(): boolean {
    return (
      this.status === 403 ||
      this.s3Code === 'InvalidAccessKeyId' ||
      this.s3Code === 'SignatureDoesNotMatch' ||
      this.s3Code === 'AccessDenied'
    );
  }
}

/** Hashes of a body, all of the same bytes. */
export interface BodyHashes {
  sha256Hex: string;
  md5Hex: string;
}

/**
 * A request body read piece by piece into one reused buffer (the caller's,
 * or one the request allocates): `read(buf, at)` fills `buf` from byte `at`
 * of the body and resolves the bytes read. The buffer is written to the
 * socket and reused only once the write has completed, so a body of any
 * size costs one buffer (a stream of fresh chunks piled up 30 MB of buffers
 * before V8 collected them). Pieces are large (1 MiB) because every piece
 * costs a few promises and views: 64 KiB pieces (940 per 60 MB) made V8
 * grow its young generation by about 8 MB (bench/upload-bench.ts).
 */
export type BodyReader = (buf: Buffer, at: number) => Promise<number>;

/** Called before each piece of a body is written (the bandwidth cap waits here), with its size. */
export type BodyPacer = (bytes: number) => Promise<void>;

/** Size of a body buffer allocated by a request (when the caller gives none). */
const BODY_CHUNK_BYTES = 1024 * 1024;

/** What HEAD says about an object. */
export interface ObjectHead {
  size: number;
  etag: string | null;
  /** `x-amz-checksum-sha256` (base64, `-N` suffix for a multipart object) when the server keeps checksums. */
  checksumSha256: string | null;
  /** `x-amz-server-side-encryption`: how the server says the object is encrypted (null: it does not say). */
  sse: string | null;
  metadata: Record<string, string>;
}

/** What PutObject and CreateMultipartUpload answer that the uploader checks. */
export interface WriteAnswer {
  etag: string;
  /** `x-amz-server-side-encryption` of the answer (null: none). */
  sse: string | null;
}

/** A part of a multipart upload as the server lists it. */
export interface ListedPart {
  partNumber: number;
  size: number;
  etag: string;
  checksumSha256: string | null;
}

/** Options of {@link S3Client}. */
export interface S3ClientOptions extends S3Location {
  credentials: () => S3Credentials;
  /** A request with no progress for this long fails, ms. Default 30000. */
  idleTimeoutMs?: number;
  /** Wall clock for the signature date. Default Date.now. */
  now?: () => number;
  /** PEM CA certificates trusted for an https endpoint besides Node's built-in roots (`uploadCa`). */
  ca?: string | undefined;
  /** Host name resolution (default the system's); the tests resolve a virtual-hosted test name with it. */
  lookup?: LookupFunction | undefined;
}

const MAX_ANSWER_BYTES = 1 << 20;

/** Minimal S3 client; see the file comment. */
export class S3Client {
  private readonly agent: HttpAgent;
  private readonly idleTimeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: S3ClientOptions) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.agent =
      options.endpoint.protocol === 'https:'
        ? new HttpsAgent({
            keepAlive: true,
            maxSockets: 2,
            // `ca` replaces the default roots: keep them, add the operator's.
            ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}),
          })
        : new HttpAgent({ keepAlive: true, maxSockets: 2 });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  /** HEAD: the object, or null when there is none. */
  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | null> {
    const { res } = await this.send('HEAD', key, {}, { 'x-amz-checksum-mode': 'ENABLED' }, undefined, signal, [404]);
    if (res.statusCode === 404) return null;
    const h = res.headers;
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(h))
      if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice(11)] = v;
    return {
      size: Number(h['content-length'] ?? -1),
      etag: typeof h.etag === 'string' ? h.etag.replace(/"/g, '') : null,
      checksumSha256: typeof h['x-amz-checksum-sha256'] === 'string' ? h['x-amz-checksum-sha256'] : null,
      sse: sseOf(res),
      metadata,
    };
  }

  /** PutObject of `size` bytes read by `body`. Returns the ETag and the encryption the server answers. */
  async put(
    key: string,
    body: BodyReader,
    size: number,
    hashes: BodyHashes,
    headers: Record<string, string>,
    signal?: AbortSignal,
    pace?: BodyPacer,
    buffer?: Buffer,
  ): Promise<WriteAnswer> {
    const { res } = await this.send(
      'PUT',
      key,
      {},
      { ...headers, ...bodyHeaders(size, hashes) },
      { read: body, size, pace, buffer },
      signal,
      [],
      hashes,
    );
    return { etag: etagOf(res), sse: sseOf(res) };
  }

  /** CreateMultipartUpload: the upload id, and the encryption the server answers. */
  async createMultipart(
    key: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<{ uploadId: string; sse: string | null }> {
    const { res, text } = await this.send('POST', key, { uploads: '' }, headers, undefined, signal);
    const id = tag(text, 'UploadId');
    if (!id) throw new S3RequestError(`CreateMultipartUpload for ${key}: no UploadId in the answer`, 200, null, null);
    return { uploadId: id, sse: sseOf(res) };
  }

  /** UploadPart: the part's ETag. */
  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: BodyReader,
    size: number,
    hashes: BodyHashes,
    signal?: AbortSignal,
    pace?: BodyPacer,
    buffer?: Buffer,
  ): Promise<string> {
    const { res } = await this.send(
      'PUT',
      key,
      { partNumber: String(partNumber), uploadId },
      bodyHeaders(size, hashes),
      { read: body, size, pace, buffer },
      signal,
      [],
      hashes,
    );
    return etagOf(res);
  }

  /**
   * ListParts: the parts the server holds, or 'unsupported' when the server
   * does not implement it (405/501: s3rver, for one), or null when the
   * upload is gone (NoSuchUpload: completed or aborted).
   */
  async listParts(key: string, uploadId: string, signal?: AbortSignal): Promise<ListedPart[] | 'unsupported' | null> {
    const parts: ListedPart[] = [];
    let marker = '0';
    for (let page = 0; page < 20; page++) {
      let text: string;
      try {
        ({ text } = await this.send(
          'GET',
          key,
          { uploadId, 'part-number-marker': marker, 'max-parts': '1000' },
          {},
          undefined,
          signal,
        ));
      } catch (err) {
        if (
          err instanceof S3RequestError &&
          (err.status === 405 || err.status === 501 || err.s3Code === 'NotImplemented')
        )
          return 'unsupported';
        if (err instanceof S3RequestError && err.s3Code === 'NoSuchUpload') return null;
        throw err;
      }
      for (const block of text.match(/<Part>[\s\S]*?<\/Part>/g) ?? []) {
        parts.push({
          partNumber: Number(tag(block, 'PartNumber')),
          size: Number(tag(block, 'Size')),
          etag: (tag(block, 'ETag') ?? '').replace(/&quot;|"/g, ''),
          checksumSha256: tag(block, 'ChecksumSHA256'),
        });
      }
      if (tag(text, 'IsTruncated') !== 'true') return parts;
      marker = tag(text, 'NextPartNumberMarker') ?? String(parts[parts.length - 1]?.partNumber ?? 0);
    }
    return parts;
  }

  /** CompleteMultipartUpload: the object's ETag. */
  async completeMultipart(
    key: string,
    uploadId: string,
    parts: ReadonlyArray<{ partNumber: number; etag: string; checksumSha256?: string | undefined }>,
    signal?: AbortSignal,
  ): Promise<string> {
    const xml = `<CompleteMultipartUpload>${parts
      .map(
        (p) =>
          `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${p.etag}"</ETag>${p.checksumSha256 ? `<ChecksumSHA256>${p.checksumSha256}</ChecksumSHA256>` : ''}</Part>`,
      )
      .join('')}</CompleteMultipartUpload>`;
    const { text } = await this.sendBuffer('POST', key, { uploadId }, Buffer.from(xml, 'utf8'), signal);
    // S3 may answer 200 with an <Error> body when completing fails late.
    const code = tag(text, 'Code');
    if (/<Error>/.test(text) && code)
      throw new S3RequestError(
        `CompleteMultipartUpload ${key}: ${code}: ${tag(text, 'Message') ?? ''}`,
        200,
        code,
        null,
      );
    return (tag(text, 'ETag') ?? '').replace(/&quot;|"/g, '');
  }

  /** AbortMultipartUpload (NoSuchUpload is fine: nothing to abort). */
  async abortMultipart(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.send('DELETE', key, { uploadId }, {}, undefined, signal);
    } catch (err) {
      if (err instanceof S3RequestError && err.s3Code === 'NoSuchUpload') return;
      throw err;
    }
  }

  private async sendBuffer(
    method: string,
    key: string,
    query: Record<string, string>,
    body: Buffer,
    signal?: AbortSignal,
  ): Promise<{ res: IncomingMessage; text: string }> {
    const { createHash } = await import('node:crypto');
    const hashes = {
      sha256Hex: createHash('sha256').update(body).digest('hex'),
      md5Hex: createHash('md5').update(body).digest('hex'),
    };
    return this.send(
      method,
      key,
      query,
      { 'content-type': 'application/xml', ...bodyHeaders(body.length, hashes) },
      { read: async (buf, at) => body.copy(buf, 0, at, Math.min(body.length, at + buf.length)), size: body.length },
      signal,
      [],
      hashes,
    );
  }

  /** One signed request; resolves with the answer (2xx or an `allowed` status), rejects with S3RequestError. */
  private send(
    method: string,
    key: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: { read: BodyReader; size: number; pace?: BodyPacer | undefined; buffer?: Buffer | undefined } | undefined,
    signal: AbortSignal | undefined,
    allowed: number[] = [],
    hashes?: BodyHashes,
  ): Promise<{ res: IncomingMessage; text: string }> {
    const { endpoint, bucket, pathStyle, region } = this.options;
    const host = pathStyle ? endpoint.host : `${bucket}.${endpoint.host}`;
    const path = pathStyle ? `/${uriEncode(bucket)}/${uriEncode(key, true)}` : `/${uriEncode(key, true)}`;
    const qs = canonicalQuery(query);
    const what = `${method} ${key}${query.uploadId ? ` (${query.partNumber ? `part ${query.partNumber}` : 'multipart'})` : ''}`;
    let signed: Record<string, string>;
    try {
      signed = signRequest(
        { method, host, path, query, headers, payloadSha256: hashes?.sha256Hex ?? EMPTY_SHA256 },
        this.options.credentials(),
        region,
        this.now(),
      );
    } catch (err) {
      return Promise.reject(err);
    }
    if (!body && method !== 'GET' && method !== 'HEAD') signed['content-length'] = '0';
    const requestFn = endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };
      const req = requestFn({
        protocol: endpoint.protocol,
        hostname: pathStyle ? endpoint.hostname : `${bucket}.${endpoint.hostname}`,
        port: endpoint.port || undefined,
        method,
        path: qs ? `${path}?${qs}` : path,
        headers: signed,
        agent: this.agent,
        signal,
        ...(this.options.lookup ? { lookup: this.options.lookup } : {}),
      });
      req.setTimeout(this.idleTimeoutMs, () =>
        fail(new S3RequestError(`${what}: no answer for ${this.idleTimeoutMs / 1000} s`, null, null, 'ETIMEDOUT')),
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const errno = err.code ?? (err.name === 'AbortError' ? 'ABORT_ERR' : 'EIO');
        fail(new S3RequestError(`${what}: ${describeNetworkError(err)}`, null, null, errno));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (c: Buffer) => {
          length += c.length;
          if (length <= MAX_ANSWER_BYTES) chunks.push(c);
        });
        res.on('error', (err) => fail(new S3RequestError(`${what}: ${err.message}`, null, null, 'EIO')));
        res.on('end', () => {
          if (settled) return;
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if ((status >= 200 && status < 300) || allowed.includes(status)) {
            settled = true;
            resolve({ res, text });
            return;
          }
          const code = tag(text, 'Code') ?? (status === 404 ? 'NotFound' : status === 403 ? 'AccessDenied' : null);
          const message = tag(text, 'Message');
          fail(
            new S3RequestError(
              `${what}: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`,
              status,
              code,
              null,
            ),
          );
        });
      });
      if (body) {
        // One buffer: read a piece, wait for the cap, write it, reuse the buffer once the write is done.
        const buf = body.buffer ?? Buffer.allocUnsafe(Math.min(BODY_CHUNK_BYTES, Math.max(1, body.size)));
        void (async () => {
          for (let at = 0; at < body.size && !settled; ) {
            let n: number;
            try {
              n = await body.read(buf.subarray(0, Math.min(buf.length, body.size - at)), at);
              if (n === 0) throw new Error(`the file ended at ${at} of ${body.size} bytes`);
            } catch (err) {
              fail(new S3RequestError(`${what}: reading the file: ${(err as Error).message}`, null, null, 'EIO'));
              return;
            }
            await body.pace?.(n);
            if (settled) return;
            await new Promise<void>((resolve) => req.write(buf.subarray(0, n), () => resolve()));
            at += n;
          }
          if (!settled) req.end();
        })();
      } else {
        req.end();
      }
    });
  }
}

/** Content-Length, Content-MD5 and x-amz-checksum-sha256 of a body (each one checked by S3 against what arrives). */
function bodyHeaders(size: number, hashes: BodyHashes): Record<string, string> {
  return {
    'content-length': String(size),
    'content-md5': Buffer.from(hashes.md5Hex, 'hex').toString('base64'),
    'x-amz-checksum-sha256': Buffer.from(hashes.sha256Hex, 'hex').toString('base64'),
  };
}

function sseOf(res: IncomingMessage): string | null {
  const v = res.headers['x-amz-server-side-encryption'];
  return typeof v === 'string' ? v : null;
}

function etagOf(res: IncomingMessage): string {
  const etag = res.headers.etag;
  return typeof etag === 'string' ? etag.replace(/"/g, '') : '';
}

/** The text of the first `<name>` element (S3's answers are flat enough for this). */
function tag(xml: string, name: string): string | null {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? (m[1] as string).replace(/&quot;/g, '"').replace(/&amp;/g, '&') : null;
}

/** OpenSSL's and Node's codes for a certificate refused. */
const TLS_CERT_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A network error in words: the endpoint is offline, unknown, refusing or not answering, or its certificate refused. */
function describeNetworkError(err: NodeJS.ErrnoException): string {
  if (err.code === 'CERT_NOT_YET_VALID' || err.code === 'CERT_HAS_EXPIRED')
    return `the endpoint's TLS certificate is refused (${err.code}: ${err.message}); is the camera's clock set?`;
  if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the endpoint's TLS certificate is for another host name (${err.message})`;
  if (err.code && TLS_CERT_ERRORS.has(err.code))
    return `the endpoint's TLS certificate is not trusted (${err.code}: ${err.message}); give its CA with uploadCa (--upload-ca FILE) or NODE_EXTRA_CA_CERTS`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the endpoint up?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found (offline?)';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'network unreachable (offline?)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset';
    default:
      return err.message;
  }
}
