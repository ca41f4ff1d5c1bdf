/**
 * WHEP (WebRTC-HTTP Egress Protocol, the egress twin of WHIP, RFC 9725):
 * `POST /api/v1/whep` takes a viewer's SDP offer and answers with the SDP
 * answer (every ICE candidate in it: no trickle) and the session's URL in
 * `Location`; `DELETE` on that URL ends the session. `PATCH` (trickle ICE)
 * is answered 405, as the draft allows when the answer holds all
 * candidates. Access is the live view's: the WebSocket's check (network
 * allow-list, token, same-site Origin, the camera's Host).
 */
import { ApiError, readBody } from './api-responses.js';
import type { ApiContext } from './api-context.js';
import type { ApiRouter } from './api-router.js';
import { WebRtcRefusal } from '../outputs/webrtc-output.js';
import { MAX_OFFER_BYTES } from '../outputs/whep-offer.js';
import { API_V1 } from './v1-routes.js';

/** Path of the WHEP endpoint; sessions are `${WHEP_PATH}/<id>`. */
export const WHEP_PATH = `${API_V1}/whep`;

const ERR: [string, string] = ['application/json', '{"error":{"code","message"}}'];

function checkAccess(ctx: ApiContext, req: import('node:http').IncomingMessage): void {
  const refusal = ctx.web?.authorize?.(req);
  if (refusal) {
    const code =
      refusal.status === 401
        ? 'ERR_API_UNAUTHORIZED'
        : refusal.status === 429
          ? 'ERR_API_TOO_MANY_ATTEMPTS'
          : 'ERR_API_FORBIDDEN';
    throw new ApiError(code, `live view refused: ${refusal.reason}`, refusal.status);
  }
}

/** Adds the WHEP endpoint and its session resources to `router`. */
export function addWhepRoutes(router: ApiRouter, ctx: ApiContext): void {
  router.add({
    method: 'POST',
    path: WHEP_PATH,
    doc: {
      tag: 'v1',
      summary:
        'WebRTC live view (WHEP): an SDP offer in, the SDP answer with all ICE candidates out, the session URL in Location',
      requestBody: ['application/sdp', 'the viewer’s SDP offer (recvonly H.264 video; optional data channel "clock")'],
      responses: {
        201: ['application/sdp', 'the SDP answer'],
        400: ERR,
        403: ERR,
        415: ERR,
        429: ERR,
        503: ERR,
      },
    },
    handler: async ({ req, res }) => {
      checkAccess(ctx, req);
      const webrtc = ctx.web?.webrtc;
      if (!webrtc)
        throw new ApiError('ERR_WEBRTC_UNAVAILABLE', 'WebRTC is turned off on this camera (webrtcMaxViewers 0)');
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/sdp')
        throw new ApiError('ERR_API_BAD_REQUEST', 'the offer must be sent as Content-Type: application/sdp', 415);
      const offer = await readBody(req, MAX_OFFER_BYTES);
      try {
        const { id, answer } = await webrtc.createSession(offer, req.socket.remoteAddress ?? '?');
        res.writeHead(201, {
          'content-type': 'application/sdp',
          location: `${WHEP_PATH}/${id}`,
          'cache-control': 'no-store',
        });
        res.end(answer);
      } catch (err) {
        if (!(err instanceof WebRtcRefusal)) throw err;
        if (err.reason === 'offer') throw new ApiError('ERR_WEBRTC_OFFER', err.message);
        if (err.reason === 'full') throw new ApiError('ERR_API_TOO_MANY_CLIENTS', err.message, 503);
        if (err.reason === 'rate') throw new ApiError('ERR_API_TOO_MANY_CLIENTS', err.message, 429);
        throw new ApiError('ERR_WEBRTC_UNAVAILABLE', err.message);
      }
    },
  });
  router.add({
    method: 'DELETE',
    path: `${WHEP_PATH}/:id`,
    doc: {
      tag: 'v1',
      summary: 'Ends a WebRTC session (the URL from the POST’s Location)',
      responses: { 200: ['text/plain', 'ended'], 403: ERR, 404: ERR },
    },
    handler: ({ req, res, params }) => {
      checkAccess(ctx, req);
      const id = params.id as string;
      if (!/^[0-9a-f]{24}$/.test(id) || !ctx.web?.webrtc?.deleteSession(id))
        throw new ApiError('ERR_NOT_FOUND', 'no such WebRTC session');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ended\n');
    },
  });
}
