/**
 * Rider features of the JSON API (docs/api.md): moments (mark "now", list,
 * delete) and a clip by wall-clock time as one MP4 (rides: ride-routes.ts). Marking and deleting follow the rules
 * of every state-changing route (token, trusted networks, same-site).
 */
import type { ServerResponse } from 'node:http';
import { RearviewError } from '../errors.js';
import type { MomentInfo, MomentSource } from '../recorder/moment-store.js';
import { parseDurationMs } from '../util/units.js';
import type { ApiContext } from './api-context.js';
import { ApiError, readBody, sendJson } from './api-responses.js';
import type { ApiRouter } from './api-router.js';
import { armIdleTimeout } from './file-responses.js';
import type { MomentDeleteResult, MomentDocument, MomentsListDocument } from './wire-types.js';

const API_V1 = '/api/v1';
const json = (s: string): [string, string] => ['application/json', s];
const ERR = json('{"error":{"code","message"}}');

/** ISO 8601 with a date, a time and a zone (Z or ±hh:mm): a time without a zone is ambiguous on a camera. */
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses a query time; ERR_API_BAD_REQUEST naming the parameter otherwise. */
export function parseClipTime(value: string | null, name: string): number {
  if (value === null || value === '')
    throw new ApiError('ERR_API_BAD_REQUEST', `missing "${name}" (ISO 8601, e.g. 2026-12-03T08:14:05Z)`);
  if (value.length > 40 || !ISO_RE.test(value))
    throw new ApiError(
      'ERR_API_BAD_REQUEST',
      `"${name}" is not an ISO 8601 time with a zone (e.g. 2026-12-03T08:14:05Z or 2026-12-03T09:14:05+01:00)`,
    );
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new ApiError('ERR_API_BAD_REQUEST', `"${name}" is not a valid date`);
  return ms;
}

/** The public view of a moment. */
export function momentView(m: MomentInfo): MomentDocument {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    id: m.id,
    at: iso(m.atMs),
    from: iso(m.fromMs),
    to: iso(m.toMs),
    note: m.note,
    source: m.source,
    clockSet: m.clockSet,
    segments: [...m.segments],
    pendingSegments: [...m.pendingSegments],
    bytes: m.bytes,
    complete: m.complete,
    clipUrl: `${API_V1}/clip?from=${encodeURIComponent(iso(m.fromMs))}&to=${encodeURIComponent(iso(m.toMs))}`,
  };
}

function momentsOf(ctx: ApiContext): NonNullable<ApiContext['moments']> {
  if (!ctx.moments)
    throw new ApiError(
      'ERR_NOT_RECORDING',
      'moments need the recorder: the camera was started with recording off',
      503,
    );
  return ctx.moments;
}

/** Marks a moment (API, page or button), confirms it on the LED and the event feed. */
export async function markMoment(ctx: ApiContext, source: MomentSource, note?: unknown): Promise<MomentDocument> {
  const m = await momentsOf(ctx).mark({ note, source });
  ctx.device.led.markMoment();
  const doc = momentView(m);
  ctx.events.publish('moment', doc);
  return doc;
}

/** Adds the moment, clip and ride routes to `router`. */
export function addMomentRoutes(router: ApiRouter, ctx: ApiContext): void {
  const t = 'v1' as const;
  router.add({
    method: 'POST',
    path: `${API_V1}/moments`,
    destructive: true,
    doc: {
      tag: t,
      summary:
        'Marks "now": the segments covering [now - momentBefore, now + momentAfter] are kept out of rotation and wipe; the LED confirms (solid 1 s)',
      requestBody: [
        'application/json',
        '{"note":"car passed too close"} (optional, at most 200 characters; "source":"page" from the web page); an empty body is fine',
      ],
      responses: {
        201: json('MomentDocument'),
        400: ERR,
        403: ERR,
        429: json('{"error":{"code":"ERR_RATE_LIMITED",...}}: one mark per 5 s'),
        503: ERR,
        507: json(
          '{"error":{"code":"ERR_PROTECTED_FULL",...}}: protected data would pass --max-protected; recording goes on',
        ),
      },
    },
    handler: async ({ req, res }) => {
      const text = await readBody(req, 4096);
      let body: { note?: unknown; source?: unknown } = {};
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          throw new ApiError('ERR_API_BAD_REQUEST', 'body is not valid JSON');
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw new ApiError('ERR_API_BAD_REQUEST', 'expected {"note": "..."}');
      }
      if (body.source !== undefined && body.source !== 'api' && body.source !== 'page')
        throw new ApiError('ERR_API_BAD_REQUEST', 'source: expected "api" or "page"');
      const doc = await markMoment(ctx, (body.source as MomentSource | undefined) ?? 'api', body.note);
      sendJson(res, 201, doc, { location: `${API_V1}/moments/${doc.id}` });
    },
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/moments`,
    doc: {
      tag: t,
      summary: 'Moments, oldest first: id, time, window, note, protected segments, bytes',
      responses: { 200: json('MomentsListDocument: {"moments":[MomentDocument],"beforeMs":N,"afterMs":N}'), 503: ERR },
    },
    handler: async ({ res }) => {
      const m = momentsOf(ctx);
      const doc: MomentsListDocument = {
        moments: (await m.list()).map(momentView),
        beforeMs: m.beforeMs,
        afterMs: m.afterMs,
      };
      sendJson(res, 200, doc);
    },
  });
  router.add({
    method: 'DELETE',
    path: `${API_V1}/moments/:id`,
    destructive: true,
    doc: {
      tag: t,
      summary: 'Deletes a moment and the protected segments no other moment holds',
      responses: {
        200: json('MomentDeleteResult: {"deleted":"id","deletedSegments":[...]}'),
        400: ERR,
        403: ERR,
        404: ERR,
      },
    },
    handler: async ({ res, params }) => {
      const result: MomentDeleteResult = await momentsOf(ctx).remove(params.id as string);
      for (const name of result.deletedSegments) ctx.events.publish('recording-removed', { name });
      sendJson(res, 200, result);
    },
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/clip`,
    doc: {
      tag: t,
      summary:
        'One MP4 of the recording between two capture times, across segments, without re-encoding: from the keyframe at or before "from" to "to"',
      description:
        'from and to (or duration: "30s", "2min") are ISO 8601 times with a zone. A stretch without recording inside the range is refused (409 ERR_CLIP_GAP naming it). Headers: X-Clip-Start (capture time of the first frame), X-Clip-Lead-In-Ms (how much before "from" it starts), X-Clip-Segments. Counts against the download limit.',
      query: {
        from: 'ISO 8601 start (required)',
        to: 'ISO 8601 end (or duration)',
        duration: 'length instead of "to", e.g. 30s; at most --clip-max (1 h)',
      },
      responses: {
        200: ['video/mp4', 'the clip (fragmented MP4, streamed)'],
        400: ERR,
        409: ERR,
        429: ERR,
        503: ERR,
      },
    },
    handler: async ({ req, res, query }) => {
      const clips = ctx.clips;
      if (!clips)
        throw new ApiError(
          'ERR_NOT_RECORDING',
          'clips need the recorder: the camera was started with recording off',
          503,
        );
      const fromMs = parseClipTime(query.get('from'), 'from');
      let toMs: number;
      if (query.has('duration')) {
        if (query.has('to')) throw new ApiError('ERR_API_BAD_REQUEST', 'give "to" or "duration", not both');
        let ms: number;
        try {
          ms = parseDurationMs(query.get('duration') as string, 'duration', 's');
        } catch (err) {
          throw new ApiError('ERR_API_BAD_REQUEST', (err as Error).message);
        }
        toMs = fromMs + ms;
      } else toMs = parseClipTime(query.get('to'), 'to');
      const plan = await clips.plan(fromMs, toMs);
      const release = ctx.downloads.acquire();
      try {
        armIdleTimeout(res, ctx.downloadIdleTimeoutMs);
        await streamClip(res, req.method === 'HEAD', plan, clips);
      } finally {
        release();
      }
    },
  });
}

/** Streams an export: headers once the first frame is known (X-Clip-Start), chunked body. */
async function streamClip(
  res: ServerResponse,
  headOnly: boolean,
  plan: Awaited<ReturnType<NonNullable<ApiContext['clips']>['plan']>>,
  clips: NonNullable<ApiContext['clips']>,
): Promise<void> {
  let startMs: number | undefined;
  const name = `clip-${new Date(plan.fromMs).toISOString().replace(/[:.]/g, '-')}.mp4`;
  const head = (): void => {
    if (res.headersSent) return;
    res.writeHead(200, {
      'content-type': 'video/mp4',
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-clip-start': new Date(startMs ?? plan.fromMs).toISOString(),
      'x-clip-end': new Date(plan.toMs).toISOString(),
      'x-clip-lead-in-ms': String(Math.max(0, Math.round(plan.fromMs - (startMs ?? plan.fromMs)))),
      'x-clip-segments': plan.segments.map((s) => s.name).join(', '),
      // No Content-Length (streamed as it is cut): an estimate for progress bars, the segments' bytes in the range.
      'x-clip-estimated-bytes': String(estimateBytes(plan)),
    });
  };
  if (headOnly) {
    head();
    res.end();
    return;
  }
  const write = (chunk: Uint8Array): Promise<void> => {
    head();
    if (res.destroyed) return Promise.reject(new RearviewError('ERR_ABORTED', 'the client went away'));
    return new Promise((resolve, reject) => {
      const ok = res.write(chunk, (err) => (err ? reject(err) : undefined));
      if (ok) resolve();
      else {
        const onDrain = (): void => {
          res.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          res.off('drain', onDrain);
          reject(new RearviewError('ERR_ABORTED', 'the client went away'));
        };
        res.once('drain', onDrain);
        res.once('close', onClose);
      }
    });
  };
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  try {
    await clips.export(
      plan,
      write,
      (ms) => {
        startMs = ms;
      },
      abort.signal,
    );
  } catch (err) {
    if (!res.headersSent) throw err; // a JSON error before any byte
    res.destroy(err as Error); // cut mid-body: the client sees an incomplete download, never a truncated "complete" file
    return;
  } finally {
    res.off('close', onClose);
  }
  head();
  res.end();
}

/** The bytes of the range in its segments, pro rata of each segment's time in it. */
function estimateBytes(plan: {
  fromMs: number;
  toMs: number;
  segments: { startedAtMs: number; durationMs: number | null; sizeBytes: number }[];
}): number {
  let n = 0;
  for (const s of plan.segments) {
    const dur = s.durationMs ?? 0;
    if (dur <= 0) {
      n += s.sizeBytes;
      continue;
    }
    const inRange = Math.min(plan.toMs, s.startedAtMs + dur) - Math.max(plan.fromMs, s.startedAtMs);
    n += Math.round(s.sizeBytes * Math.max(0, Math.min(1, inRange / dur)));
  }
  return n;
}
