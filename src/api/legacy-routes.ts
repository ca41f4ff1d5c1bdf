/**
 * The device's documented HTTP API (port 8000), answered exactly as the iOS
 * app and the developer docs' curl examples expect: same paths, methods,
 * plain-text bodies and status codes. What changed is safety: file
 * endpoints only serve files inside the recordings folder, the wipe is
 * refused cross-site, and files stream instead of being read into memory.
 */
import type { ApiContext } from './api-context.js';
import { ApiError, readBody, sendText } from './api-responses.js';
import type { ApiRequest, ApiRouter } from './api-router.js';
import type { RecordingEntry } from './api-services.js';
import type { RecordingFile } from '../recorder/recording-file.js';
import { parseThumbnailName } from '../recorder/segment-names.js';
import { armIdleTimeout, sendFile } from './file-responses.js';

/** The greeting of `GET /` (how apps recognise the camera). */
export const LEGACY_GREETING = 'Welcome to Velovision Rearview';

/**
 * The path a legacy file request names: the whole query (the device's form,
 * `?/opt/velovision/standalone_videos/log0001.mkv`) or its `path` parameter
 * (`?path=...`, what HTTP libraries build); percent-decoded once, NUL-free,
 * non-empty (else 400).
 */
export function legacyPathArgument(raw: string): string {
  if (raw.startsWith('path=')) {
    const values = new URLSearchParams(raw).getAll('path');
    if (values.length !== 1) throw new ApiError('ERR_API_BAD_REQUEST', 'Invalid path');
    return checkedLegacyPath(values[0] as string);
  }
  let path = raw;
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path);
    } catch {
      throw new ApiError('ERR_API_BAD_REQUEST', 'Invalid path');
    }
  }
  return checkedLegacyPath(path);
}

function checkedLegacyPath(decoded: string): string {
  const path = decoded.trim();
  if (path === '') throw new ApiError('ERR_API_BAD_REQUEST', 'Missing path');
  if (path.includes('\0')) throw new ApiError('ERR_API_BAD_REQUEST', 'Invalid path');
  return path;
}

const text = (s: string): [string, string] => ['text/plain', s];

/** The list body per listing: the store reuses one listing for a second, so the JSON is built once for it. */
const legacyListBodies = new WeakMap<readonly RecordingEntry[], Buffer>();

/**
 * The `date_updated` of a segment: the Unix seconds its thumbnail is named
 * with (the segment's start), else its start floored to seconds. The flow of
 * the device's docs (lesson 3) builds the thumbnail's path from it,
 * `<path without .mkv>_<date_updated>.jpg`; a modification time would break
 * that, and would change with every later write (sealing, repair).
 */
export function legacyDateUpdated(r: RecordingEntry): string {
  const t = r.thumbnail ? parseThumbnailName(r.thumbnail.name) : undefined;
  const ms = r.startedAtMs ?? r.modifiedAtMs;
  return String(t ? t.unixSeconds : Math.floor(ms / 1000));
}

/** `GET /list-local-videos` body: old to new in recording order (the store's order), `date_updated` as a string of Unix seconds. */
export function legacyListBody(list: readonly RecordingEntry[]): Buffer {
  let body = legacyListBodies.get(list);
  if (!body) {
    body = Buffer.from(JSON.stringify(list.map((r) => ({ path: r.path, date_updated: legacyDateUpdated(r) }))));
    legacyListBodies.set(list, body);
  }
  return body;
}

/** Adds the legacy routes to `router`. */
export function addLegacyRoutes(router: ApiRouter, ctx: ApiContext): void {
  const t = 'legacy' as const;
  router.add({
    method: 'GET',
    path: '/',
    doc: {
      tag: t,
      summary: 'Greeting',
      description: `Answers "${LEGACY_GREETING}" to curl and the app; a browser asking for text/html gets the web page instead.`,
      responses: { 200: text(LEGACY_GREETING) },
    },
    handler: ({ res }) => sendText(res, 200, LEGACY_GREETING),
  });
  router.add({
    method: 'GET',
    path: '/battery-percent',
    doc: {
      tag: t,
      summary: 'Battery state of charge, integer percent (may exceed 100)',
      responses: { 200: text('e.g. 87'), 500: text('Failed to get battery state of charge') },
    },
    handler: async ({ res }) => {
      const v = await ctx.device.battery.readPercent().catch(() => null);
      if (v === null) sendText(res, 500, 'Failed to get battery state of charge');
      else sendText(res, 200, String(Math.round(v)));
    },
  });
  router.add({
    method: 'GET',
    path: '/battery-millivolts',
    doc: {
      tag: t,
      summary: 'Battery cell voltage, integer mV',
      responses: { 200: text('e.g. 4078'), 500: text('Failed to get battery voltage') },
    },
    handler: async ({ res }) => {
      const v = await ctx.device.battery.readMillivolts().catch(() => null);
      if (v === null) sendText(res, 500, 'Failed to get battery voltage');
      else sendText(res, 200, String(Math.round(v)));
    },
  });
  router.add({
    method: 'GET',
    path: '/cpu-temp',
    doc: {
      tag: t,
      summary: 'CPU temperature, integer degrees Celsius (truncated, as the device)',
      responses: { 200: text('e.g. 48'), 500: text('Failed to read CPU temperature') },
    },
    handler: async ({ res }) => {
      const v = await ctx.device.thermal.readCelsius().catch(() => null);
      // Truncated like the device (`as i32` in cpu_temp.rs): 48.6 -> 48.
      if (v === null || !Number.isFinite(v)) sendText(res, 500, 'Failed to read CPU temperature');
      else sendText(res, 200, String(Math.trunc(v)));
    },
  });
  router.add({
    method: 'GET',
    path: '/is-charging',
    doc: {
      tag: t,
      summary: 'Charging state',
      responses: { 200: text('true or false'), 500: text('Failed to get charging status') },
    },
    handler: async ({ res }) => {
      const v = await ctx.device.charging.isCharging().catch(() => null);
      if (v === null) sendText(res, 500, 'Failed to get charging status');
      else sendText(res, 200, String(v));
    },
  });
  router.add({
    method: 'GET',
    path: '/camera-stream-status',
    doc: { tag: t, summary: 'Whether port 5000 is serving the live stream', responses: { 200: text('true or false') } },
    handler: ({ res }) => sendText(res, 200, String(ctx.stream().sourceRunning && ctx.modes.acceptsStreamClients())),
  });
  router.add({
    method: 'GET',
    path: '/list-local-videos',
    doc: {
      tag: t,
      summary: 'Recorded segments, old to new',
      description:
        'JSON array of {"path": absolute .mkv path, "date_updated": Unix seconds as a string}, oldest first in recording order (keep this order: names wrap, and a camera without a clock dates rides wrongly). date_updated is the segment start the thumbnail is named with: GET /download-thumbnail?<path without .mkv>_<date_updated>.jpg fetches it; it never changes once the segment is finished.',
      responses: {
        200: [
          'application/json',
          '[{"path":"/opt/velovision/standalone_videos/log0001.mkv","date_updated":"1713198307"}]',
        ],
      },
    },
    handler: async ({ res }) => {
      const body = legacyListBody(await ctx.recordings.list());
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': body.length,
        'cache-control': 'no-store',
      });
      res.end(body);
    },
  });
  router.add({
    method: 'GET',
    path: '/download-video',
    doc: {
      tag: t,
      summary: 'A segment converted to MP4 (streamed)',
      description:
        'The query is the absolute path of a .mkv from /list-local-videos: GET /download-video?/opt/velovision/standalone_videos/log0001.mkv, or GET /download-video?path=/opt/velovision/standalone_videos/log0001.mkv. Only files inside the recordings folder are served.',
      query: { '{path}': 'absolute path of the .mkv (the whole query string, or the path parameter)' },
      responses: {
        200: ['video/mp4', 'the MP4'],
        400: text('Invalid path'),
        404: text('Video not found'),
        429: text('Too many downloads'),
      },
    },
    handler: async ({ req, res, rawQuery }) => {
      await serveMp4(ctx, req, res, legacyPathArgument(rawQuery));
    },
  });
  router.add({
    method: 'POST',
    path: '/download-video',
    doc: {
      tag: t,
      summary: 'A segment as .mkv',
      description: 'The body is the absolute path of the .mkv (earliest firmware).',
      requestBody: ['text/plain', 'absolute path of the .mkv'],
      responses: {
        200: ['video/x-matroska', 'the .mkv'],
        400: text('Invalid path'),
        404: text('Video not found'),
        429: text('Too many downloads'),
      },
    },
    handler: async ({ req, res }) => {
      await sendRecording(
        ctx,
        req,
        res,
        await ctx.recordings.openSegment(legacyPathArgument(await readBody(req, 4096))),
        'video/x-matroska',
      );
    },
  });
  router.add({
    method: 'GET',
    path: '/download-thumbnail',
    doc: {
      tag: t,
      summary: 'A segment thumbnail JPEG',
      description:
        'GET /download-thumbnail?/opt/velovision/standalone_videos/log0001_1713198307.jpg (or ?path=...): the name is the segment path without .mkv, "_", and its date_updated from /list-local-videos.',
      query: { '{path}': 'absolute path of the .jpg (the whole query string, or the path parameter)' },
      responses: { 200: ['image/jpeg', 'the JPEG'], 400: text('Invalid path'), 404: text('Thumbnail not found') },
    },
    handler: async ({ req, res, rawQuery }) => {
      await sendRecording(
        ctx,
        req,
        res,
        await ctx.recordings.openThumbnail(legacyPathArgument(rawQuery)),
        'image/jpeg',
      );
    },
  });
  router.add({
    method: 'GET',
    path: '/wipe-local-videos',
    destructive: true,
    doc: {
      tag: t,
      summary: 'Deletes all finished recordings except the protected ones (moments)',
      description:
        'Kept as GET for the app; refused (403) when a browser says the request is cross-site. Segments kept by a moment stay: the answer then says how many ("Wiped 12 local videos; kept 3 protected by moments"); DELETE /api/v1/recordings?protected=true deletes those too.',
      responses: {
        200: text('Wiped N local videos (plus "; kept M protected by moments" when M > 0)'),
        403: text('Cross-site request refused'),
      },
    },
    handler: async ({ res }) => {
      const n = await ctx.recordings.removeAll();
      const kept = (await ctx.recordings.list()).filter((r) => r.protected && !r.inProgress).length;
      ctx.events.publish('recording-removed', { all: true, count: n });
      sendText(
        res,
        200,
        kept > 0 ? `Wiped ${n} local videos; kept ${kept} protected by moments` : `Wiped ${n} local videos`,
      );
    },
  });
  router.add({
    method: 'PUT',
    path: '/blink-on',
    destructive: true,
    doc: {
      tag: t,
      summary: 'LED blink pattern on (100 ms on, 1000 ms off)',
      responses: { 200: text('Turned on LED') },
    },
    handler: ({ res }) => {
      ctx.device.led.setBlink(true);
      sendText(res, 200, 'Turned on LED');
    },
  });
  router.add({
    method: 'PUT',
    path: '/blink-off',
    destructive: true,
    doc: {
      tag: t,
      summary: 'LED blink pattern off (back to the mode pattern)',
      responses: { 200: text('Turned off LED') },
    },
    handler: ({ res }) => {
      ctx.device.led.setBlink(false);
      sendText(res, 200, 'Turned off LED');
    },
  });
  router.add({
    method: 'PUT',
    path: '/restart-stream-mode',
    destructive: true,
    doc: {
      tag: t,
      summary: '(Re)opens the streaming window (exclusive mode); extends it when open',
      responses: { 200: text('Restarted streaming mode') },
    },
    handler: ({ res }) => {
      ctx.modes.restartStreamMode();
      sendText(res, 200, 'Restarted streaming mode');
    },
  });
}

/**
 * Sends an opened and checked recording file and closes it; segments
 * (video) count against the download cap, thumbnails do not.
 */
export async function sendRecording(
  ctx: ApiContext,
  req: ApiRequest['req'],
  res: ApiRequest['res'],
  file: RecordingFile,
  contentType: string,
): Promise<void> {
  let release: (() => void) | undefined;
  try {
    if (contentType.startsWith('video/')) release = ctx.downloads.acquire();
    await sendFile(req, res, file, { contentType, idleTimeoutMs: ctx.downloadIdleTimeoutMs });
  } finally {
    release?.();
    await file.close();
  }
}

/** Serves the MP4 conversion of the segment named `segment` (as the client gave it) under the download cap. */
export async function serveMp4(
  ctx: ApiContext,
  req: ApiRequest['req'],
  res: ApiRequest['res'],
  segment: string,
): Promise<void> {
  // 400/404 before the 503/429 answers; the conversion opens and checks the segment again itself.
  await ctx.recordings.resolveSegment(segment);
  if (!ctx.mp4) throw new ApiError('ERR_CONVERT', 'MP4 conversion is not available in this build', 503);
  const release = ctx.downloads.acquire();
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  res.on('close', onClose);
  try {
    armIdleTimeout(res, ctx.downloadIdleTimeoutMs);
    await ctx.mp4(segment, req, res, abort.signal);
  } finally {
    res.off('close', onClose);
    release();
  }
}
