/**
 * The error type of the client library: what failed (connect, timeout, an
 * HTTP status, a peer that is not a Rearview) with the URL it concerned, so
 * a one-line message is enough to act on.
 */
import { RearviewError, type ErrorCode } from '../errors.js';

/** Codes the client raises: ERR_CLIENT_CONNECT, ERR_CLIENT_TIMEOUT, ERR_CLIENT_HTTP, ERR_NOT_REARVIEW, ERR_ABORTED. */
export type ClientErrorCode = Extract<ErrorCode, 'ERR_CLIENT_CONNECT' | 'ERR_CLIENT_TIMEOUT' | 'ERR_CLIENT_HTTP' | 'ERR_NOT_REARVIEW' | 'ERR_ABORTED'>;

/** A failed request or connection of the client library. */
export class ClientError extends RearviewError {
  /** The URL (http://... or tcp://...) the failure concerns. */
  readonly url: string;
  /** HTTP status for ERR_CLIENT_HTTP, else undefined. */
  readonly status: number | undefined;
  /** The server's stable error code from a `/api/v1` error body, when it sent one. */
  readonly remoteCode: string | undefined;

  constructor(
    code: ClientErrorCode,
    message: string,
    details: { url: string; status?: number; remoteCode?: string; cause?: unknown },
  ) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.url = details.url;
    this.status = details.status;
    this.remoteCode = details.remoteCode;
  }
}

/**
 * Describes a low-level network error in plain words ("connection refused",
 * "unknown host"), looking through `cause` chains as undici nests them.
 */
export function describeNetworkError(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      const words: Record<string, string> = {
        ECONNREFUSED: 'connection refused',
        ENOTFOUND: 'unknown host',
        EAI_AGAIN: 'host name lookup failed',
        EHOSTUNREACH: 'host unreachable',
        ENETUNREACH: 'network unreachable',
        ECONNRESET: 'connection reset',
        ETIMEDOUT: 'connection timed out',
        EPIPE: 'connection closed',
        UND_ERR_SOCKET: 'connection closed by the camera',
        UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
        UND_ERR_BODY_TIMEOUT: 'download stalled',
      };
      const word = words[code];
      if (word) return word;
    }
    e = (e as { cause?: unknown }).cause;
  }
  // undici wraps the real reason ("bad port", "invalid URL") in a generic "fetch failed".
  const cause = (err as { cause?: unknown })?.cause;
  if (err instanceof Error && err.message === 'fetch failed' && cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
