/**
 * One error hierarchy for the whole project. Every error we raise on purpose
 * carries a stable `code` (listed in docs/errors.md) so callers and tests can
 * branch on it without parsing messages.
 */

/** Stable error codes. Add new ones here and to docs/errors.md. */
export type ErrorCode =
  | 'ERR_H264_TRUNCATED'
  | 'ERR_H264_INVALID'
  | 'ERR_H264_UNSUPPORTED'
  | 'ERR_H264_NAL_TOO_LARGE'
  | 'ERR_H264_AU_TOO_LARGE'
  | 'ERR_H264_NO_START_CODE'
  | 'ERR_H264_MISSING_PARAMETER_SET'
  | 'ERR_SOURCE_EXITED'
  | 'ERR_SOURCE_STALLED'
  | 'ERR_SOURCE_SPAWN'
  | 'ERR_SOURCE_CONNECT'
  | 'ERR_CONFIG'
  | 'ERR_PATH_OUTSIDE'
  | 'ERR_NOT_FOUND'
  | 'ERR_RECORDER_IO'
  | 'ERR_DEVICE_UNAVAILABLE'
  | 'ERR_CONVERT'
  | 'ERR_CONVERT_BUSY'
  | 'ERR_SEGMENT_IN_PROGRESS'
  | 'ERR_SEGMENT_PROTECTED'
  | 'ERR_PROTECTED_FULL'
  | 'ERR_RATE_LIMITED'
  | 'ERR_NOT_RECORDING'
  | 'ERR_CLIP_GAP'
  | 'ERR_CLIENT_HTTP'
  | 'ERR_CLIENT_CONNECT'
  | 'ERR_CLIENT_TIMEOUT'
  | 'ERR_NOT_REARVIEW'
  | 'ERR_CLIENT_DECODE'
  | 'ERR_ABORTED'
  | 'ERR_API_BAD_REQUEST'
  | 'ERR_API_UNAUTHORIZED'
  | 'ERR_API_FORBIDDEN'
  | 'ERR_API_CROSS_SITE'
  | 'ERR_API_UNTRUSTED_NETWORK'
  | 'ERR_API_TOO_MANY_ATTEMPTS'
  | 'ERR_API_NO_TOKEN'
  | 'ERR_API_TOO_MANY_DOWNLOADS'
  | 'ERR_API_TOO_MANY_CLIENTS'
  | 'ERR_API_METHOD'
  | 'ERR_SETTINGS_WRITE'
  | 'ERR_WEBRTC_OFFER'
  | 'ERR_WEBRTC_UNAVAILABLE'
  | 'ERR_UPLOAD'
  | 'ERR_UPLOAD_CA'
  | 'ERR_UPLOAD_CREDENTIALS'
  | 'ERR_UPLOAD_VERIFY'
  | 'ERR_UPLOAD_SSE'
  | 'ERR_PUBLISH_NO_FFMPEG'
  | 'ERR_PUBLISH_CONNECT'
  | 'ERR_PUBLISH_TLS'
  | 'ERR_PUBLISH_AUTH'
  | 'ERR_PUBLISH_REFUSED'
  | 'ERR_PUBLISH_TIMEOUT'
  | 'ERR_PUBLISH_STALLED'
  | 'ERR_PUBLISH_EXITED'
  | 'ERR_PUBLISH_NO_WEBRTC'
  | 'ERR_INTERNAL';

/** Base class of every error this project raises on purpose. */
export class RearviewError extends Error {
  /** Stable machine-readable code, see docs/errors.md. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bitstream problem: malformed, truncated or over a configured cap. */
export class H264Error extends RearviewError {}

/** A capture source failed (exited, stalled, could not start or connect). */
export class SourceError extends RearviewError {}

/** Invalid configuration or command-line option. */
export class ConfigError extends RearviewError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options);
  }
}

/** True when `err` is one of ours with the given code. */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof RearviewError && err.code === code;
}
