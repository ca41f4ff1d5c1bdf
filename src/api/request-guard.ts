/**
 * Who may ask what: the optional API token (a Bearer header or the pairing
 * cookie), and the cross-site check that keeps another web page from
 * triggering destructive requests (wipe, delete, settings, LED, mode
 * restart) in a visitor's browser. Direct clients (curl, the iOS app) send
 * neither `Sec-Fetch-Site` nor `Origin` and keep working. Without a token,
 * requests also need a `Host` that DNS rebinding cannot produce
 * ({@link isTrustedHost}), and destructive ones a client on a trusted
 * network (http-api.ts). Limits: docs/api.md "Security".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * True when a browser says the request comes from another site: Sec-Fetch-Site
 * `cross-site`, `same-site` from a different origin (another host of the
 * same site), or an `Origin` whose host:port differs from `Host`.
 */
export function isCrossSiteRequest(req: IncomingMessage): boolean {
  const site = headerOf(req, 'sec-fetch-site')?.toLowerCase();
  const origin = headerOf(req, 'origin');
  const host = headerOf(req, 'host')?.toLowerCase();
  if (site === 'cross-site') return true;
  let originMatches: boolean | undefined;
  if (origin !== undefined) {
    // "null" (sandboxed frames, file: pages) is never our page.
    try {
      originMatches = origin !== 'null' && host !== undefined && new URL(origin).host.toLowerCase() === host;
    } catch {
      originMatches = false;
    }
  }
  if (site === 'same-site') return originMatches !== true;
  if (originMatches !== undefined) return !originMatches;
  // No Fetch Metadata and no Origin (e.g. an <img> on Safari before 16.4):
  // a Referer from another host still gives the page away.
  const referer = headerOf(req, 'referer');
  if (referer !== undefined && site === undefined) {
    try {
      return host === undefined || new URL(referer).host.toLowerCase() !== host;
    } catch {
      return true;
    }
  }
  return false;
}

/**
 * DNS-rebinding check: true when the `Host` header names the camera in a
 * way a rebinding attack cannot fake: an IP literal (`192.168.9.1:8000`,
 * `[fe80::1]`), `localhost` (or `*.localhost`), an mDNS `.local` name, or
 * the configured camera name. A page on `evil.example` rebound to the
 * camera's address still sends `Host: evil.example` and is refused. No
 * Host header (HTTP/1.0 tools) passes: browsers always send one.
 */
export function isTrustedHost(req: IncomingMessage, cameraName: string | undefined): boolean {
  const raw = headerOf(req, 'host')?.trim().toLowerCase();
  if (raw === undefined || raw === '') return true;
  let name: string;
  if (raw.startsWith('[')) {
    // "[v6]" or "[v6]:port", nothing else after the bracket.
    const end = raw.indexOf(']');
    return end > 0 && isIP(raw.slice(1, end)) === 6 && /^(:\d*)?$/.test(raw.slice(end + 1));
  } else {
    name = raw.replace(/:\d*$/, '').replace(/\.$/, '');
  }
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost') || name.endsWith('.local')) return true;
  const camera = cameraName?.trim().toLowerCase();
  return camera !== undefined && camera !== '' && name === camera;
}

/** Name of the pairing cookie that carries the API token for the web page. */
export const TOKEN_COOKIE = 'rearview_token';

/** How long a pairing lasts in the browser: a year, in seconds. */
const TOKEN_COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/**
 * The token a request carries: `Authorization: Bearer X` (apps, curl, the
 * client library) or the pairing cookie (the web page, its SSE feed and
 * WebSocket). Never the URL: a query string ends up in logs, history and
 * Referer headers.
 */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = headerOf(req, 'authorization');
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth.trim()) : null;
  if (m) return m[1];
  return cookieOf(req, TOKEN_COOKIE);
}

/**
 * `Set-Cookie` value that pairs a browser: HttpOnly (page scripts cannot read
 * it), SameSite=Strict (other sites' pages never send it). No `Secure`: the
 * camera serves plain http:// on its own Wi-Fi, where a Secure cookie would
 * never be sent back (docs/api.md says what that costs).
 */
export function pairingCookie(token: string): string {
  return `${TOKEN_COOKIE}=${token}; Path=/; Max-Age=${TOKEN_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict`;
}

/** `Set-Cookie` value that removes the pairing cookie. */
export function clearedPairingCookie(): string {
  return `${TOKEN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`;
}

/** The value of cookie `name` in the request's Cookie header(s), if any. */
function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value === '' ? undefined : value;
  }
  return undefined;
}

/**
 * Constant-time comparison of a presented token with the configured one.
 * Digests are compared, so the time does not give the token's length away either.
 */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
