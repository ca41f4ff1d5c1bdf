/**
 * Pairing a browser with the camera's API token (docs/api.md "Pairing"):
 * `POST /api/v1/pair` checks a token typed once (or scanned from another
 * paired phone's QR code) and answers with the HttpOnly, SameSite=Strict
 * cookie that carries it from then on; `GET` says whether a token is needed
 * and, to a client that already has it, the token itself (for the QR code);
 * `DELETE` removes the cookie. The routes are public (they check the token
 * themselves), and every wrong token counts against the client's address.
 */
import type { ApiContext } from './api-context.js';
import { ApiError, readBody, sendJson } from './api-responses.js';
import type { ApiRouter } from './api-router.js';
import { clearedPairingCookie, pairingCookie, requestToken, tokenMatches } from './request-guard.js';
import type { TokenAttemptLimiter } from './token-attempt-limiter.js';
import { API_V1 } from './v1-routes.js';

/** Path of the pairing endpoint. */
export const PAIR_PATH = `${API_V1}/pair`;

const json = (s: string): [string, string] => ['application/json', s];
const ERR = json('{"error":{"code","message"}}');

/**
 * Checks the token a request presents against `expected`, counting wrong
 * ones per address; throws 429 while the address is blocked and 401 for a
 * wrong or missing token. Shared by the request guard and pairing.
 */
export function checkPresentedToken(
  presented: string | undefined,
  expected: string,
  address: string | undefined,
  attempts: TokenAttemptLimiter,
): void {
  if (presented !== undefined) {
    const waitMs = attempts.retryAfterMs(address);
    if (waitMs > 0)
      throw new ApiError(
        'ERR_API_TOO_MANY_ATTEMPTS',
        `too many wrong tokens from this address; try again in ${Math.ceil(waitMs / 1000)} s`,
      );
  }
  if (!tokenMatches(presented, expected)) {
    if (presented !== undefined) attempts.failed(address);
    throw new ApiError(
      'ERR_API_UNAUTHORIZED',
      'missing or wrong API token (Authorization: Bearer TOKEN, or pair this browser: POST /api/v1/pair)',
    );
  }
}

/** Adds GET, POST and DELETE /api/v1/pair to `router`. */
export function addPairingRoutes(router: ApiRouter, ctx: ApiContext, attempts: TokenAttemptLimiter): void {
  const t = 'v1' as const;
  router.add({
    method: 'GET',
    path: PAIR_PATH,
    public: true,
    doc: {
      tag: t,
      summary: 'Whether this client is paired',
      description:
        '{"tokenRequired": bool, "paired": bool}, plus "token" for a client that presents the right token (cookie or Bearer), so a paired page can show it as a QR code.',
      responses: { 200: json('pairing state'), 401: ERR, 429: ERR },
    },
    handler: ({ req, res }) => {
      const expected = ctx.config().apiToken;
      if (expected === undefined) {
        sendJson(res, 200, { tokenRequired: false, paired: false });
        return;
      }
      const presented = requestToken(req);
      if (presented === undefined) {
        sendJson(res, 200, { tokenRequired: true, paired: false });
        return;
      }
      checkPresentedToken(presented, expected, req.socket.remoteAddress, attempts);
      sendJson(res, 200, { tokenRequired: true, paired: true, token: expected });
    },
  });
  router.add({
    method: 'POST',
    path: PAIR_PATH,
    public: true,
    destructive: true,
    doc: {
      tag: t,
      summary: 'Pair this browser: sets the token cookie',
      description:
        'The token in the JSON body {"token": "..."} or in Authorization: Bearer. Answers {"paired": true} with Set-Cookie rearview_token (HttpOnly, SameSite=Strict). Wrong tokens are rate-limited per address (429).',
      requestBody: json('{"token": "..."} (optional when Authorization: Bearer is sent)'),
      responses: { 200: json('{"paired": true}'), 400: ERR, 401: ERR, 409: ERR, 429: ERR },
    },
    handler: async ({ req, res }) => {
      const expected = ctx.config().apiToken;
      if (expected === undefined)
        throw new ApiError(
          'ERR_API_NO_TOKEN',
          'this camera has no API token to pair with (set one with --api-token-file)',
        );
      let presented = requestToken(req);
      const body = await readBody(req, 4096);
      if (body.trim() !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          throw new ApiError('ERR_API_BAD_REQUEST', 'body must be JSON: {"token": "..."}');
        }
        const token = (parsed as { token?: unknown } | null)?.token;
        if (typeof token !== 'string' || token === '')
          throw new ApiError('ERR_API_BAD_REQUEST', 'body must be JSON: {"token": "..."}');
        presented = token.trim();
      }
      checkPresentedToken(presented, expected, req.socket.remoteAddress, attempts);
      ctx.logger.info(`paired a browser from ${req.socket.remoteAddress ?? '?'}`);
      sendJson(res, 200, { paired: true }, { 'set-cookie': pairingCookie(expected) });
    },
  });
  router.add({
    method: 'DELETE',
    path: PAIR_PATH,
    public: true,
    destructive: true,
    doc: {
      tag: t,
      summary: 'Unpair this browser: removes the token cookie',
      responses: { 200: json('{"paired": false}') },
    },
    handler: ({ res }) => {
      sendJson(res, 200, { paired: false }, { 'set-cookie': clearedPairingCookie() });
    },
  });
}
