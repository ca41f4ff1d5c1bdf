/**
 * Who may ask what: the optional API token, and the cross-site check that
 * keeps another web page from triggering destructive requests (wipe, delete,
 * settings, LED, mode restart) in a visitor's browser. Direct clients (curl,
 * the iOS app) send neither `Sec-Fetch-Site` nor `Origin` and keep working.
 * Without a token, destructive requests also need a `Host` that DNS
 * rebinding cannot produce ({@link isTrustedHost}). Limits: docs/api.md "Security".
 */
import { timingSafeEqual } from 'node:crypto';
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

/** The token a request carries: `Authorization: Bearer X` or the `token` query parameter. */
export function requestToken(req: IncomingMessage, queryToken: string | null): string | undefined {
  const auth = headerOf(req, 'authorization');
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  if (m) return m[1];
  return queryToken ?? undefined;
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Splits a raw query into the token (if any) and the rest. Legacy routes use
 * the whole query as a file path, so only a leading `token=...&` or a
 * trailing `&token=...` is taken out.
 */
export function splitTokenFromQuery(rawQuery: string): { rest: string; token: string | null } {
  const lead = /^token=([^&]*)(?:&|$)/.exec(rawQuery);
  if (lead) return { rest: rawQuery.slice(lead[0].length), token: safeDecode(lead[1] as string) };
  const trail = /&token=([^&]*)$/.exec(rawQuery);
  if (trail) return { rest: rawQuery.slice(0, trail.index), token: safeDecode(trail[1] as string) };
  return { rest: rawQuery, token: null };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
