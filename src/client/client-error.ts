/**
 * The error type of the client library: what failed (connect, timeout, an
 * HTTP status, a peer that is not a Rearview) with the URL it concerned, so
 * a one-line message is enough to act on.
 */
import { RearviewError, type ErrorCode } from '../errors.js';

/** Codes the client raises: ERR_CLIENT_CONNECT, ERR_CLIENT_TIMEOUT, ERR_CLIENT_HTTP, ERR_NOT_REARVIEW, ERR_ABORTED. */
export type ClientErrorCode = Extract<
  ErrorCode,
  'ERR_CLIENT_CONNECT' | 'ERR_CLIENT_TIMEOUT' | 'ERR_CLIENT_HTTP' | 'ERR_NOT_REARVIEW' | 'ERR_ABORTED'
>;

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

/** Plain words for a network error; shared with the commands and the relay source. */
export { describeNetworkError } from '../util/describe-network-error.js';
