/**
 * Rides as a timeline (docs/api.md, "Rides"): `GET /api/v1/rides` lists
 * segments grouped by continuous recording; each ride plays as one HLS
 * playlist of fragmented MP4 (`/api/v1/rides/ID/playlist.m3u8`, the
 * segments' MP4 conversions split into init and media parts by
 * fmp4-parts.ts). Ids and timelines stay put while rotation deletes a
 * ride's first segments (ride-timelines.ts); a part names a finished
 * segment of that ride (`NAME-SECONDS`), so a request can only reach a
 * segment the library lists (then opened and checked like every download).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { groupRides, JOIN_TOLERANCE_MS, type Ride } from '../recorder/clip-export.js';
import type { RecordingInfo } from '../recorder/recording-library.js';
import type { ApiContext } from './api-context.js';
import { ApiError, sendJson } from './api-responses.js';
import type { ApiRouter } from './api-router.js';
import { armIdleTimeout } from './file-responses.js';
import { fmp4Part } from './fmp4-parts.js';
import { ridePlaylist, type PlaylistEntry } from './ride-playlist.js';
import { RideTimelines, SAME_START_MS, type PlacedRide } from './ride-timelines.js';
import type { RidesListDocument } from './wire-types.js';

const API_V1 = '/api/v1';
const ERR: [string, string] = ['application/json', '{"error":{"code","message"}}'];
/** A ride id or part stem: a segment name without `.mkv` (ring or protected name), maybe `-SECONDS` after it. */
const STEM_RE = /^[A-Za-z0-9_-]{1,80}$/;
const PART_RE = /^([A-Za-z0-9_-]{1,80})\.(init\.mp4|m4s)$/;

/** The rides now, from the library's list, oldest first. */
async function currentRides(ctx: ApiContext): Promise<Ride[]> {
  const list = await ctx.recordings.list();
  const infos: RecordingInfo[] = list.map((r) => ({
    ...r,
    startedAtMs: r.startedAtMs ?? r.modifiedAtMs,
    protected: r.protected ?? false,
  }));
  return groupRides(infos, ctx.captureNow());
}

/** True when `entry`'s segment is listed, finished, with the start its part stem names. */
async function stillListed(ctx: ApiContext, entry: PlaylistEntry): Promise<boolean> {
  const list = await ctx.recordings.list();
  return list.some(
    (r) =>
      r.name === entry.name &&
      !r.inProgress &&
      Math.abs((r.startedAtMs ?? r.modifiedAtMs) - entry.startedAtMs) < SAME_START_MS,
  );
}

/** GET /api/v1/rides. */
async function ridesDocument(ctx: ApiContext, timelines: RideTimelines): Promise<RidesListDocument> {
  const [rides, moments] = await Promise.all([currentRides(ctx), ctx.moments?.list() ?? Promise.resolve([])]);
  const nowMs = ctx.captureNow();
  return {
    rides: timelines.place(rides).map(({ id, ride }) => {
      return {
        id,
        start: new Date(ride.startMs).toISOString(),
        end: new Date(ride.endMs).toISOString(),
        durationMs: Math.round(ride.endMs - ride.startMs),
        segments: ride.segments.map((s) => s.name),
        moments: moments.filter((m) => m.atMs >= ride.startMs && m.atMs <= ride.endMs).map((m) => m.id),
        // Also between two segments: at a cut the last one is finished before the next is listed,
        // and a page loading then would take a ride being recorded for a finished one.
        inProgress: ride.segments.some((s) => s.inProgress) || nowMs - ride.endMs <= JOIN_TOLERANCE_MS,
        playlistUrl: `${API_V1}/rides/${encodeURIComponent(id)}/playlist.m3u8`,
      };
    }),
  };
}

/** The ride with this id and the playable timeline of its finished segments; 404 otherwise. */
async function findRide(ctx: ApiContext, timelines: RideTimelines, id: string): Promise<PlacedRide> {
  if (!STEM_RE.test(id)) throw new ApiError('ERR_API_BAD_REQUEST', 'a ride id is a segment name without .mkv');
  const ride = timelines.place(await currentRides(ctx)).find((r) => r.id === id);
  if (!ride) throw new ApiError('ERR_NOT_FOUND', `no ride ${id} (GET /api/v1/rides lists them)`);
  return ride;
}

/** Adds the ride routes to `router` (the list, the playlist and its parts). */
export function addRideRoutes(router: ApiRouter, ctx: ApiContext): void {
  const t = 'v1' as const;
  const timelines = new RideTimelines();
  router.add({
    method: 'GET',
    path: `${API_V1}/rides`,
    doc: {
      tag: t,
      summary: 'Rides (segments recorded back to back, no gap over 2 s), oldest first, with their segments and moments',
      responses: {
        200: [
          'application/json',
          'RidesListDocument: {"rides":[{"id","start","end","durationMs","segments","moments","inProgress","playlistUrl"}]}',
        ],
      },
    },
    handler: async ({ res }) => sendJson(res, 200, await ridesDocument(ctx, timelines)),
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/rides/:id/playlist.m3u8`,
    doc: {
      tag: t,
      summary: 'A ride as one HLS playlist (version 7) of fragmented MP4, one media segment per finished recording',
      query: {
        from: 'seconds on the ride timeline: the playlist starts at the segment holding that time, EXT-X-START at it',
        snapshot: '1: the segments finished now as a VOD playlist (EXT-X-ENDLIST) even while the ride is recorded',
      },
      description:
        "VOD with EXT-X-ENDLIST once the ride is over, a live playlist while it is recorded (MEDIA-SEQUENCE counts the first segments rotation deleted; ids and timelines do not move then); EXT-X-PROGRAM-DATE-TIME is each segment's capture time; EXT-X-DISCONTINUITY only where the picture size changes.",
      responses: {
        200: ['application/vnd.apple.mpegurl', 'the playlist'],
        400: ERR,
        404: ERR,
      },
    },
    handler: async ({ res, params, query }) => {
      const { ride, entries } = await findRide(ctx, timelines, params.id ?? '');
      const snapshot = query.get('snapshot');
      if (snapshot !== null && snapshot !== '1') throw new ApiError('ERR_API_BAD_REQUEST', 'snapshot: only 1');
      // A snapshot: the segments finished now, as VOD, for players that cannot seek a live playlist.
      const ended = snapshot === '1' || !ride.segments.some((s) => s.inProgress);
      let from: number | undefined;
      const fromText = query.get('from');
      if (fromText !== null) {
        from = /^\d{1,9}(\.\d{1,6})?$/.test(fromText) ? Number(fromText) : Number.NaN;
        if (!Number.isFinite(from))
          throw new ApiError('ERR_API_BAD_REQUEST', 'from: seconds on the ride timeline, e.g. 75.5');
      }
      const body = ridePlaylist(entries, ended, from);
      res.writeHead(200, {
        'content-type': 'application/vnd.apple.mpegurl',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(body);
    },
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/rides/:id/:part`,
    doc: {
      tag: t,
      summary:
        'A part of a ride playlist: NAME-SECONDS.init.mp4 (ftyp+moov) or NAME-SECONDS.m4s (moof+mdat on the ride timeline)',
      description:
        'NAME is a finished segment of the ride, without .mkv, SECONDS its start (Unix seconds). Counts against the download limit like an MP4 download.',
      responses: {
        200: ['video/mp4', 'the part (video/iso.segment for .m4s)'],
        400: ERR,
        404: ERR,
        429: ERR,
        503: ERR,
      },
    },
    handler: async ({ res, params }) => {
      const m = PART_RE.exec(params.part ?? '');
      if (!m) throw new ApiError('ERR_API_BAD_REQUEST', 'a ride part is NAME-SECONDS.init.mp4 or NAME-SECONDS.m4s');
      const { entries } = await findRide(ctx, timelines, params.id ?? '');
      const entry: PlaylistEntry | undefined = entries.find((e) => e.stem === m[1]);
      if (!entry) throw new ApiError('ERR_NOT_FOUND', `${m[1]} is not a finished segment of ride ${params.id}`);
      if (!ctx.mp4Source) throw new ApiError('ERR_CONVERT', 'MP4 conversion is not available in this build', 503);
      const init = m[2] === 'init.mp4';
      const release = ctx.downloads.acquire();
      let source: Awaited<ReturnType<NonNullable<ApiContext['mp4Source']>>> | undefined;
      try {
        source = await ctx.mp4Source(entry.name);
        // Ring names come back: between the list and the open, rotation may have deleted this segment and
        // started a new one under its name. Listed again after the open, the name still has its start only
        // if the file opened is the one the playlist names (a file open before the deletion stays readable).
        if (!(await stillListed(ctx, entry)))
          throw new ApiError('ERR_NOT_FOUND', `${m[1]} was deleted by rotation (read the playlist again)`);
        armIdleTimeout(res, ctx.downloadIdleTimeoutMs);
        const bytes = source.stream();
        const parts = fmp4Part(bytes, init ? 'init' : 'media', entry.offsetSeconds);
        // The first part before the headers: a segment that cannot be converted is a JSON error, not a cut body.
        const first = await parts.next();
        res.writeHead(200, {
          'content-type': init ? 'video/mp4' : 'video/iso.segment',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
        });
        async function* rest(): AsyncGenerator<Uint8Array> {
          if (!first.done) yield first.value;
          yield* parts;
        }
        try {
          await pipeline(Readable.from(rest(), { objectMode: false }), res);
        } finally {
          bytes.destroy(); // the init part stops after the moov
        }
      } catch (err) {
        if (!res.headersSent) throw err;
        res.destroy(err as Error);
      } finally {
        release();
        await source?.close();
      }
    },
  });
}
