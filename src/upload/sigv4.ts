/**
 * AWS Signature Version 4 for S3 requests (header authorisation), with
 * node:crypto only. Why our own and not the AWS SDK: see docs/design.md
 * ("Uploads"): the SDK costs 23-26 MB of RSS to load on a 512 MB camera, and
 * every request here needs only this and a precomputed payload hash.
 *
 * The payload hash is given by the caller (the segment's parts are hashed
 * once, before sending: src/upload/segment-hashes.ts), so a body of any size
 * is signed without being buffered; S3 checks it against the bytes it
 * receives (XAmzContentSHA256Mismatch otherwise).
 */
import { createHash, createHmac } from 'node:crypto';

/** Access key pair (and session token for temporary credentials). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** A request to sign. `path` is the raw path, already percent-encoded as it goes on the wire. */
export interface SignableRequest {
  method: string;
  host: string;
  path: string;
  /** Query parameters (unencoded); a value of '' for flags such as `uploads`. */
  query?: Record<string, string>;
  /** Headers to send and sign (names in any case). */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body ('e3b0...' for none), or UNSIGNED-PAYLOAD. */
  payloadSha256: string;
}

/** SHA-256 of the empty string, the payload hash of a request without a body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept; `/` kept only when `keepSlash`). */
export function uriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const ch of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(ch);
    if (/[A-Za-z0-9_.~-]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${ch.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The query string as signed and sent: keys sorted, both sides encoded. */
export function canonicalQuery(query: Record<string, string> = {}): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(query[k] as string)}`)
    .join('&');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * Signs `req` in place-free fashion: returns the headers to send (the given
 * ones plus host, x-amz-date, x-amz-content-sha256, the session token and
 * Authorization). `now` is the request time (ms since the epoch).
 */
export function signRequest(
  req: SignableRequest,
  credentials: S3Credentials,
  region: string,
  now: number,
  service = 's3',
): Record<string, string> {
  const amzDate = new Date(now).toISOString().replace(/[:-]|\.\d{3}/g, ''); // 20130524T000000Z
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  headers.host = req.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] = req.payloadSha256;
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    req.method,
    req.path,
    canonicalQuery(req.query),
    canonicalHeaders,
    signedHeaders,
    req.payloadSha256,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const kDate = hmac(`AWS4${credentials.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, region), service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
