/**
 * Who may ask what: the optional API token, and the cross-site check that
 * keeps another web page from triggering destructive requests (wipe, delete,
 * settings, LED, mode restart) in a visitor's browser. Direct clients (curl,
 * the iOS app) send neither `Sec-Fetch-Site` nor `Origin` and keep working.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

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
  return originMatches === false;
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
