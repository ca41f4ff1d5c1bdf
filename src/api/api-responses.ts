/** Small response helpers shared by the route files, and the error-to-status mapping. */
import type { ServerResponse } from 'node:http';
import { RearviewError, type ErrorCode } from '../errors.js';

/** HTTP status of each error code the API can answer with (others are 500). */
export const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = {
  ERR_PATH_OUTSIDE: 400,
  ERR_CONFIG: 400,
  ERR_API_BAD_REQUEST: 400,
  ERR_API_UNAUTHORIZED: 401,
  ERR_API_FORBIDDEN: 403,
  ERR_API_CROSS_SITE: 403,
  ERR_API_UNTRUSTED_NETWORK: 403,
  ERR_API_NO_TOKEN: 409,
  ERR_API_TOO_MANY_ATTEMPTS: 429,
  ERR_NOT_FOUND: 404,
  ERR_SEGMENT_IN_PROGRESS: 409,
  ERR_SEGMENT_PROTECTED: 409,
  ERR_PROTECTED_FULL: 507,
  ERR_RATE_LIMITED: 429,
  ERR_NOT_RECORDING: 503,
  ERR_CLIP_GAP: 409,
  ERR_API_METHOD: 405,
  ERR_API_TOO_MANY_DOWNLOADS: 429,
  ERR_API_TOO_MANY_CLIENTS: 429,
  ERR_DEVICE_UNAVAILABLE: 503,
  ERR_CONVERT_BUSY: 503,
  ERR_SETTINGS_WRITE: 503,
  ERR_WEBRTC_OFFER: 400,
  ERR_WEBRTC_UNAVAILABLE: 503,
};

/** An error the API answers with a given status. */
export class ApiError extends RearviewError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status = STATUS_OF_CODE[code] ?? 500,
  ) {
    super(code, message);
  }
}

/** Status for any thrown value. */
export function statusOf(err: unknown): number {
  if (err instanceof ApiError) return err.status;
  if (err instanceof RearviewError) return STATUS_OF_CODE[err.code] ?? 500;
  return 500;
}

/** Plain-text answer (the legacy API's style). */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(text);
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** `{ "error": { "code", "message" } }` with the error's status. */
export function sendJsonError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): void {
  const status = statusOf(err);
  const code = err instanceof RearviewError ? err.code : 'ERR_INTERNAL';
  const message = err instanceof RearviewError ? err.message : 'internal error';
  sendJson(res, status, { error: { code, message } }, headers);
}

/** Reads a request body up to `maxBytes` (400 beyond: bodies here are paths and small JSON). */
export async function readBody(req: import('node:http').IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new ApiError('ERR_API_BAD_REQUEST', `request body over ${maxBytes} bytes`, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
