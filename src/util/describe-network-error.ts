/**
 * The one wording of network failures, shared by the client library, the
 * commands and the relay source: plain words for socket errors, and the
 * messages for a failed connection, a lost one and the retry that follows
 * (docs/errors.md lists them).
 */

const WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_NONAME: 'unknown host',
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

/**
 * Describes a low-level network error in plain words ("connection refused",
 * "unknown host"), looking through `cause` chains as undici nests them.
 */
export function describeNetworkError(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      const word = WORDS[code];
      if (word) return word;
    }
    e = (e as { cause?: unknown }).cause;
  }
  // undici wraps the real reason ("bad port", "invalid URL") in a generic "fetch failed".
  const cause = (err as { cause?: unknown })?.cause;
  if (err instanceof Error && err.message === 'fetch failed' && cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** "cannot connect to tcp://cam:5000: connection refused" */
export function cannotConnectText(url: string, err: unknown): string {
  return `cannot connect to ${url}: ${describeNetworkError(err)}`;
}

/** "tcp://cam:5000: connection lost: connection reset" */
export function connectionLostText(url: string, err: unknown): string {
  return `${url}: connection lost: ${describeNetworkError(err)}`;
}

/** "<what went wrong>; reconnecting in 0.5 s" */
export function reconnectingText(reason: string, delayMs: number): string {
  return `${reason}; reconnecting in ${(delayMs / 1000).toFixed(1)} s`;
}
