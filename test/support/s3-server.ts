/**
 * A real S3-compatible server for the upload tests: s3rver (npm), in this
 * process, on 127.0.0.1, with its default credentials (S3RVER / S3RVER).
 *
 * s3rver 3.7 does not verify SigV4 signatures (its authentication middleware
 * says "Signature version 4 calculation is unimplemented": any signature of
 * a known access key passes) nor payload hashes. So this harness puts its own
 * check in front of it, written from the AWS specification apart from
 * src/upload/sigv4.ts: every request's signature is recomputed from what
 * arrived (method, path, query, the signed headers) with the secret and a
 * mismatch answered 403 SignatureDoesNotMatch, as S3 does; every body is
 * hashed as it arrives and compared with the signed x-amz-content-sha256
 * (mismatches are collected in `payloadMismatches`). It records every request's method, URL and
 * headers (to assert what the uploader sends) and counts the objects created
 * per key (a completed multipart upload or a PUT each count one). It can be
 * stopped (open connections cut, as a crash would) and started again on the
 * same port and folder.
 */
import { createHash, createHmac } from 'node:crypto';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Server, Socket } from 'node:net';
import { EMPTY_SHA256, signRequest, uriEncode } from '../../src/upload/sigv4.js';
import { AwsS3Front, type FrontContext } from './aws-s3-front.js';

type KoaContext = FrontContext;

/** The parts of s3rver's FilesystemStore that {@link awaitWrites} replaces. */
interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: { bucket: string; key: string; metadata: unknown; content: Buffer | Readable }): Promise<Written>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<Written>;
}
interface Written {
  size: number;
  md5: string;
}

interface S3rverInstance {
  store: S3rverStore;
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer: Server;
  middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void>>;
  on(
    event: 'event',
    listener: (e: { Records: Array<{ eventName: string; s3: { object: { key: string } } }> }) => void,
  ): void;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** The bucket every test uses. */
export const TEST_BUCKET = 'rides';
/**
 * The endpoint's host name for virtual-hosted-style requests
 * (`rides.s3.rearview.test`), resolved to 127.0.0.1 by {@link testLookup}:
 * no DNS here answers such names (`.test` is reserved, RFC 2606).
 */
export const TEST_SERVICE_HOST = 's3.rearview.test';

/** A `lookup` for node:http that resolves TEST_SERVICE_HOST and its subdomains to 127.0.0.1 (anything else fails). */
export function testLookup(
  hostname: string,
  options: unknown,
  callback: (
    err: NodeJS.ErrnoException | null,
    address: string | { address: string; family: number }[],
    family?: number,
  ) => void,
): void {
  const ok = hostname === TEST_SERVICE_HOST || hostname.endsWith(`.${TEST_SERVICE_HOST}`);
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  if (!ok) {
    callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    return;
  }
  if (all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}
/** s3rver's default key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** One request as the server received it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** A running (or stopped) s3rver. */
export class S3TestServer {
  readonly requests: SeenRequest[] = [];
  /** Objects created, per key (a PUT or a completed multipart upload each). */
  readonly created = new Map<string, number>();
  /** Bodies whose SHA-256 differed from their signed x-amz-content-sha256. */
  readonly payloadMismatches: string[] = [];
  /** Whether the SigV4 and payload checks run (the bench turns them off to time the server alone). */
  verify = true;
  /** The secret signatures are checked with (s3rver's default key S3RVER). */
  secret = S3RVER_CREDENTIALS.secretAccessKey;
  /**
   * Makes HEAD answers about `.mkv` objects lie, to test verification:
   * `etag` gives a wrong MD5 ETag, `strip` no ETag nor checksum at all.
   */
  headTamper: 'etag' | 'strip' | undefined;
  /**
   * With `aws: true`, what s3rver lacks and S3 does, as AWS documents it
   * (test/support/aws-s3-front.ts): additional checksums checked, kept and
   * answered, ListParts, server-side encryption answered, virtual-hosted
   * style. Its fault counters spoil chosen requests.
   */
  readonly aws: AwsS3Front | undefined;
  /** Called as each request arrives (before it is checked or handled). */
  onRequest: ((method: string, url: string) => void) | undefined;
  private server: S3rverInstance | undefined;
  private sockets = new Set<Socket>();
  private constructor(
    readonly dir: string,
    public port: number,
    aws: boolean,
  ) {
    this.aws = aws ? new AwsS3Front(TEST_BUCKET, TEST_SERVICE_HOST) : undefined;
  }

  /** Starts s3rver on a free port (or `port`) over `dir` (a new temp folder by default); `aws`: see {@link aws}. */
  static async start(
    options: { dir?: string; port?: number; verify?: boolean; aws?: boolean } = {},
  ): Promise<S3TestServer> {
    const s = new S3TestServer(
      options.dir ?? mkdtempSync(join(tmpdir(), 'rearview-s3-')),
      options.port ?? 0,
      options.aws ?? false,
    );
    s.verify = options.verify ?? true;
    await s.run();
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The endpoint by name (virtual-hosted style needs one; resolve it with {@link testLookup}). */
  get namedEndpoint(): string {
    return `http://${TEST_SERVICE_HOST}:${this.port}`;
  }

  /** Starts it again (after stop()) on the same port and folder. */
  async run(): Promise<void> {
    const require = createRequire(import.meta.url);
    const S3rver = require('s3rver') as S3rverClass;
    const server = new S3rver({
      address: '127.0.0.1',
      port: this.port,
      directory: this.dir,
      silent: true,
      configureBuckets: [{ name: TEST_BUCKET }],
    });
    awaitWrites(server.store);
    server.middleware.unshift(async (ctx, next) => {
      this.requests.push({ method: ctx.method, url: ctx.url, headers: { ...ctx.headers } });
      this.onRequest?.(ctx.method, ctx.url);
      if (!this.verify && !this.headTamper && !this.aws) return next();
      const problem = this.verify ? verifySigV4(ctx.method, ctx.url, ctx.headers, this.secret) : undefined;
      if (problem) {
        ctx.status = 403;
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`;
        return;
      }
      if (this.aws) return this.aws.handle(ctx, next, this.port);
      if (this.headTamper && ctx.method === 'HEAD' && /\.mkv$/.test(ctx.url.split('?')[0] ?? '')) {
        await next();
        if (ctx.status !== 200) return;
        if (this.headTamper === 'etag') ctx.set('ETag', '"00000000000000000000000000000000"');
        else ctx.remove('ETag');
        ctx.remove('x-amz-checksum-sha256');
        return;
      }
      const claimed = ctx.headers['x-amz-content-sha256'];
      if (claimed && /^[0-9a-f]{64}$/.test(claimed) && ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        // Hash the body on its way to s3rver (which reads ctx.req) and compare once it is through.
        const hash = createHash('sha256');
        const tee = new PassThrough();
        ctx.req.on('data', (c: Buffer) => hash.update(c));
        ctx.req.pipe(tee);
        Object.assign(tee, { headers: ctx.req.headers });
        ctx.req = tee as unknown as typeof ctx.req;
        await next();
        const got = hash.digest('hex');
        if (got !== claimed) this.payloadMismatches.push(`${ctx.method} ${ctx.url}: body ${got}, signed ${claimed}`);
        return;
      }
      await next();
    });
    server.on('event', (e) => {
      for (const r of e.Records) {
        if (!r.eventName.startsWith('ObjectCreated')) continue;
        const key = decodeURIComponent(r.s3.object.key);
        this.created.set(key, (this.created.get(key) ?? 0) + 1);
      }
    });
    const { port } = await server.run();
    this.port = port;
    this.server = server;
    server.httpServer.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Stops it with open connections cut (a crash or a network drop, as the client sees it). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await server.close();
  }

  /** The object's bytes (a signed GET), or null when there is none. */
  getObject(key: string): Promise<Buffer | null> {
    const path = `/${TEST_BUCKET}/${uriEncode(key, true)}`;
    const host = `127.0.0.1:${this.port}`;
    const headers = signRequest(
      { method: 'GET', host, path, headers: {}, payloadSha256: EMPTY_SHA256 },
      S3RVER_CREDENTIALS,
      'us-east-1',
      Date.now(),
    );
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks) : null));
      });
      req.on('error', reject);
      req.end();
    });
  }
}

const enc = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Checks an AWS SigV4 Authorization header against the request as received
 * (AWS General Reference, "Create a canonical request for Signature Version
 * 4"). Returns what is wrong, or undefined when the signature matches.
 */
export function verifySigV4(
  method: string,
  url: string,
  headers: Record<string, string | undefined>,
  secret: string,
): string | undefined {
  const auth = headers.authorization;
  if (!auth) return 'no Authorization header';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return `malformed Authorization: ${auth}`;
  const [, , day, region, signedList, signature] = m as unknown as string[];
  const amzDate = headers['x-amz-date'] ?? '';
  if (!amzDate.startsWith(day as string)) return 'x-amz-date does not match the credential scope';
  const signed = (signedList as string).split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date') || !signed.includes('x-amz-content-sha256'))
    return 'host, x-amz-date and x-amz-content-sha256 must be signed';
  const [rawPath = '/', rawQuery = ''] = url.split('?');
  // The path goes on the wire encoded once, as S3 signs it (no normalisation for S3).
  const canonicalPath = rawPath
    .split('/')
    .map((seg) => enc(decodeURIComponent(seg)))
    .join('/');
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const [k = '', v = ''] = kv.split('=');
      return [enc(decodeURIComponent(k)), enc(decodeURIComponent(v))] as const;
    })
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signed.map((h) => `${h}:${(headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [method, canonicalPath, query, canonicalHeaders, signedList, headers['x-amz-content-sha256']].join(
    '\n',
  );
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secret}`)
    .update(day as string)
    .digest();
  for (const part of [region as string, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature
    ? undefined
    : 'The request signature we calculated does not match the signature you provided.';
}

/**
 * s3rver 3.7 answers a PUT (object or part) once the body has passed its hash,
 * before its file write has finished: under load a GET, HEAD or
 * CompleteMultipartUpload right after then reads a file short by the unwritten
 * tail (seen: a 3-part object stored 1 MiB short). These replacements write
 * the same files and metadata, and answer only once the write stream has
 * finished.
 */
function awaitWrites(store: S3rverStore): void {
  const write = async (path: string, content: Buffer | Readable): Promise<Written> => {
    await mkdir(dirname(path), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
    await pipeline(source, counted, createWriteStream(path));
    return { size, md5: md5.digest('hex') };
  };
  store.putObject = async (object) => {
    const written = await write(store.getResourcePath(object.bucket, object.key, 'object'), object.content);
    await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
    return written;
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const path = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const written = await write(path, content);
    await writeFile(`${path}.md5`, written.md5);
    return written;
  };
}
