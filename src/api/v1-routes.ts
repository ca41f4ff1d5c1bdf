/**
 * The JSON API under `/api/v1` (docs/api.md): status, recordings (list,
 * download as .mkv/.mp4/.jpg with Range, delete), settings, live events,
 * plus `/metrics` and the OpenAPI document. Errors are
 * `{ "error": { "code", "message" } }` with a real status.
 */
import { ConfigError } from '../errors.js';
import type { ApiContext } from './api-context.js';
import { ApiError, readBody, sendJson, sendText } from './api-responses.js';
import type { RecordingEntry } from './api-services.js';
import type { ClockSetResult, RecordingDocument, RecordingsListDocument, RecordingsUsage } from './wire-types.js';
import type { ApiRouter } from './api-router.js';
import { sendRecording, serveMp4 } from './legacy-routes.js';
import { openApiDocument } from './openapi-document.js';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './prometheus-metrics.js';
import { buildStatus, clockDocument } from './status-document.js';

/** Base path of the JSON API. */
export const API_V1 = '/api/v1';

/** The public view of a recording (no absolute paths). */
export function recordingView(r: RecordingEntry): RecordingDocument {
  const base = `${API_V1}/recordings/`;
  return {
    name: r.name,
    startedAt: r.startedAtMs === null ? null : new Date(r.startedAtMs).toISOString(),
    modifiedAt: new Date(r.modifiedAtMs).toISOString(),
    durationMs: r.durationMs,
    sizeBytes: r.sizeBytes,
    width: r.width,
    height: r.height,
    resolution: r.width !== null && r.height !== null ? `${r.width}x${r.height}` : null,
    inProgress: r.inProgress,
    protected: r.protected ?? false,
    downloadUrl: base + encodeURIComponent(r.name),
    mp4Url: base + encodeURIComponent(r.name.replace(/\.mkv$/i, '.mp4')),
    thumbnailUrl: r.thumbnail ? base + encodeURIComponent(r.thumbnail.name) : null,
  };
}

const json = (s: string): [string, string] => ['application/json', s];

/** The list body per listing and usage (the store reuses both for a second or two): built once for them. */
const listBodies = new WeakMap<readonly RecordingEntry[], { usage: RecordingsUsage | null; body: Buffer }>();

function recordingsBody(list: readonly RecordingEntry[], usage: RecordingsUsage | null): Buffer {
  const cached = listBodies.get(list);
  if (cached && cached.usage === usage) return cached.body;
  // The store's order: recording order, oldest first (RecordingLibrary.list), never re-sorted by time.
  const doc: RecordingsListDocument = { recordings: list.map(recordingView), usage };
  const body = Buffer.from(JSON.stringify(doc));
  listBodies.set(list, { usage, body });
  return body;
}
const ERR = json('{"error":{"code","message"}}');

/** Adds /api/v1, /metrics and the OpenAPI document to `router`. */
export function addV1Routes(router: ApiRouter, ctx: ApiContext): void {
  const t = 'v1' as const;
  router.add({
    method: 'GET',
    path: `${API_V1}/status`,
    doc: {
      tag: t,
      summary:
        'Camera status: mode and window, stream clients with lag and drops, resolution, fps, bitrate, recording, disk, battery, temperature, charging, simulated parts, uptime, version',
      responses: { 200: json('StatusDocument') },
    },
    handler: async ({ res }) => sendJson(res, 200, await buildStatus(ctx)),
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/recordings`,
    doc: {
      tag: t,
      summary: 'Recordings, old to new, with ISO dates, duration, size, resolution and URLs',
      responses: { 200: json('RecordingsListDocument: {"recordings":[RecordingDocument],"usage":{...}}') },
    },
    handler: async ({ req, res }) => {
      const [list, usage] = await Promise.all([ctx.recordings.list(), ctx.recordings.usage().catch(() => null)]);
      const body = recordingsBody(list, usage);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': body.length,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  });
  router.add({
    method: 'DELETE',
    path: `${API_V1}/recordings`,
    destructive: true,
    doc: {
      tag: t,
      summary:
        'Deletes every finished recording except protected ones (moments); ?protected=true deletes those too, with every moment',
      query: { protected: '"true": also delete protected segments and all moments (default false)' },
      responses: { 200: json('{"deleted":N,"keptProtected":N}'), 400: ERR, 403: ERR },
    },
    handler: async ({ res, query }) => {
      const p = query.get('protected');
      if (p !== null && p !== 'true' && p !== 'false')
        throw new ApiError('ERR_API_BAD_REQUEST', 'protected: expected true or false');
      let deleted = await ctx.recordings.removeAll();
      if (p === 'true' && ctx.moments) deleted += await ctx.moments.removeAll();
      const keptProtected = (await ctx.recordings.list()).filter((r) => r.protected && !r.inProgress).length;
      ctx.events.publish('recording-removed', { all: true, count: deleted });
      sendJson(res, 200, { deleted, keptProtected });
    },
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/recordings/:name`,
    doc: {
      tag: t,
      summary:
        'One recording: NAME.mkv (Matroska), NAME.mp4 (converted on the fly) or its thumbnail .jpg; Range supported',
      responses: {
        200: ['video/x-matroska', 'the file (video/mp4 for .mp4, image/jpeg for .jpg)'],
        206: ['video/x-matroska', 'a byte range'],
        400: ERR,
        404: ERR,
        416: ERR,
        429: ERR,
      },
    },
    handler: async ({ req, res, params }) => {
      const name = params.name as string;
      if (/\.mp4$/i.test(name)) {
        await serveMp4(ctx, req, res, name.replace(/\.mp4$/i, '.mkv'));
      } else if (/\.jpe?g$/i.test(name)) {
        await sendRecording(ctx, req, res, await ctx.recordings.openThumbnail(name), 'image/jpeg');
      } else if (/\.mkv$/i.test(name)) {
        await sendRecording(ctx, req, res, await ctx.recordings.openSegment(name), 'video/x-matroska');
      } else {
        throw new ApiError('ERR_NOT_FOUND', `no such recording: ${name} (names end in .mkv, .mp4 or .jpg)`);
      }
    },
  });
  router.add({
    method: 'DELETE',
    path: `${API_V1}/recordings/:name`,
    destructive: true,
    doc: {
      tag: t,
      summary: 'Deletes one recording and its thumbnail',
      responses: { 200: json('{"deleted":"log0001.mkv"}'), 400: ERR, 403: ERR, 404: ERR },
    },
    handler: async ({ res, params }) => {
      const name = params.name as string;
      await ctx.recordings.resolveSegment(name); // 400/404 before anything is touched
      const holders = ctx.moments?.holders(name) ?? [];
      if (holders.length > 0)
        throw new ApiError(
          'ERR_SEGMENT_PROTECTED',
          `${name} is kept by moment ${holders.map((h) => h.id).join(', ')}: DELETE /api/v1/moments/<id> releases it`,
        );
      await ctx.recordings.remove(name);
      ctx.events.publish('recording-removed', { name });
      sendJson(res, 200, { deleted: name });
    },
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/settings`,
    doc: { tag: t, summary: 'Settings that can be changed at run time', responses: { 200: json('SettingsDocument') } },
    handler: ({ res }) => sendJson(res, 200, ctx.settings.view()),
  });
  router.add({
    method: 'PATCH',
    path: `${API_V1}/settings`,
    destructive: true,
    doc: {
      tag: t,
      summary:
        'Changes settings: validated, persisted, applied live where possible (video changes restart the source); restartRequired lists what waits for the next start',
      requestBody: [
        'application/json',
        'SettingsPatch: {"resolution":"1280x720","video":{"bitrateBps":"4M","fps":30},"segmentMs":"60s","streamWindowMs":"90s",...}',
      ],
      responses: {
        200: json(
          'SettingsPatchResult: SettingsDocument plus {"changed":[...],"applied":{"restartedSource":bool,"restartRequired":[...]},"restartRequired":[...]}',
        ),
        400: ERR,
        403: ERR,
      },
    },
    handler: async ({ req, res }) => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, 64 * 1024));
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError('ERR_API_BAD_REQUEST', 'body is not valid JSON');
      }
      try {
        const result = await ctx.settings.patch(body);
        if (result.changed.includes('streamWindowMs')) ctx.modes.setStreamWindowMs(result.streamWindowMs);
        ctx.events.publish('settings', result);
        sendJson(res, 200, result);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        throw err;
      }
    },
  });
  router.add({
    method: 'POST',
    path: `${API_V1}/clock`,
    // Changes state: only from clients that may change settings (token, or the trusted networks).
    destructive: true,
    doc: {
      tag: t,
      summary:
        "Gives the camera the client's time while its clock is not set (no real-time clock, no network time): the first client wins, network time wins over clients",
      requestBody: ['application/json', '{"epochMs": 1764700000000} (the client\'s time when it sent the request)'],
      responses: {
        200: json('ClockSetResult: ClockDocument plus {"applied":bool,"differenceMs":N}'),
        400: ERR,
        403: ERR,
      },
    },
    handler: async ({ req, res }) => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, 1024));
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError('ERR_API_BAD_REQUEST', 'body is not valid JSON');
      }
      const epochMs = (body as { epochMs?: unknown } | null)?.epochMs;
      if (typeof epochMs !== 'number' || !Number.isFinite(epochMs))
        throw new ApiError('ERR_API_BAD_REQUEST', 'expected {"epochMs": <ms since the Unix epoch>}');
      let applied: boolean;
      try {
        applied = ctx.clock.setFromClient(epochMs);
      } catch (err) {
        throw new ApiError('ERR_API_BAD_REQUEST', (err as Error).message);
      }
      const doc = clockDocument(ctx.clock);
      const result: ClockSetResult = { ...doc, applied, differenceMs: Math.round(doc.nowMs - epochMs) };
      sendJson(res, 200, result);
    },
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/events`,
    doc: {
      tag: t,
      summary: 'Server-Sent Events: hello, status (every 2 s), mode, recording-added, recording-removed, settings',
      responses: { 200: ['text/event-stream', 'the event feed'] },
    },
    handler: ({ res }) => ctx.events.attach(res),
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/openapi.json`,
    doc: { tag: t, summary: 'This OpenAPI 3.1 document', responses: { 200: json('OpenAPI document') } },
    handler: ({ res }) => sendJson(res, 200, openApiDocument(router, ctx.version)),
  });
  router.add({
    method: 'GET',
    path: '/metrics',
    doc: {
      tag: 'ops',
      summary: 'Prometheus metrics (text exposition format 0.0.4)',
      responses: { 200: ['text/plain', 'metrics'] },
    },
    handler: async ({ res }) => {
      const status = await buildStatus(ctx);
      sendText(
        res,
        200,
        renderMetrics(status, ctx.requestCounts, ctx.downloads.refused, ctx.eventLoopDelay.buckets()),
        {
          'content-type': PROMETHEUS_CONTENT_TYPE,
        },
      );
    },
  });
}
