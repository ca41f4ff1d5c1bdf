/**
 * Rides as a timeline (docs/api.md, "Rides"): `GET /api/v1/rides` lists
 * segments grouped by continuous recording; each ride plays as one HLS
 * playlist of fragmented MP4 (`/api/v1/rides/ID/playlist.m3u8`, the
 * segments' MP4 conversions split into init and media parts by
 * fmp4-parts.ts). A ride's id is its first segment's name without `.mkv`;
 * a part names a segment of that ride, so a request can only reach a
 * segment the library lists (then opened and checked like every download).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { groupRides, type Ride } from '../recorder/clip-export.js';
import type { RecordingInfo } from '../recorder/recording-library.js';
import type { ApiContext } from './api-context.js';
import { ApiError, sendJson } from './api-responses.js';
import type { ApiRouter } from './api-router.js';
import { armIdleTimeout } from './file-responses.js';
import { fmp4Part } from './fmp4-parts.js';
import { playlistEntries, ridePlaylist, segmentStem, type PlaylistEntry } from './ride-playlist.js';
import type { RidesListDocument } from './wire-types.js';

const API_V1 = '/api/v1';
const ERR: [string, string] = ['application/json', '{"error":{"code","message"}}'];
/** A ride id or part stem: a segment name without `.mkv` (ring or protected name). */
const STEM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PART_RE = /^([A-Za-z0-9_-]{1,64})\.(init\.mp4|m4s)$/;

/** The rides now, from the library's list, oldest first. */
export async function currentRides(ctx: ApiContext): Promise<Ride[]> {
  const list = await ctx.recordings.list();
  const infos: RecordingInfo[] = list.map((r) => ({
    ...r,
    startedAtMs: r.startedAtMs ?? r.modifiedAtMs,
    protected: r.protected ?? false,
  }));
  return groupRides(infos, ctx.captureNow());
}

/** The id of a ride: its first segment's name without `.mkv`. */
export function rideId(ride: Ride): string {
  return segmentStem(ride.segments[0]?.name ?? '');
}

/** GET /api/v1/rides. */
export async function ridesDocument(ctx: ApiContext): Promise<RidesListDocument> {
  const [rides, moments] = await Promise.all([currentRides(ctx), ctx.moments?.list() ?? Promise.resolve([])]);
  return {
    rides: rides.map((ride) => {
      const id = rideId(ride);
      return {
        id,
        start: new Date(ride.startMs).toISOString(),
        end: new Date(ride.endMs).toISOString(),
        durationMs: Math.round(ride.endMs - ride.startMs),
        segments: ride.segments.map((s) => s.name),
        moments: moments.filter((m) => m.atMs >= ride.startMs && m.atMs <= ride.endMs).map((m) => m.id),
        inProgress: ride.segments.some((s) => s.inProgress),
        playlistUrl: `${API_V1}/rides/${encodeURIComponent(id)}/playlist.m3u8`,
      };
    }),
  };
}

/** The ride with this id and the playable timeline of its finished segments; 404 otherwise. */
async function findRide(ctx: ApiContext, id: string): Promise<{ ride: Ride; entries: PlaylistEntry[] }> {
  if (!STEM_RE.test(id)) throw new ApiError('ERR_API_BAD_REQUEST', 'a ride id is a segment name without .mkv');
  const ride = (await currentRides(ctx)).find((r) => rideId(r) === id);
  if (!ride) throw new ApiError('ERR_NOT_FOUND', `no ride ${id} (GET /api/v1/rides lists them)`);
  const finished = ride.segments.filter((s) => !s.inProgress && s.durationMs !== null && s.durationMs > 0);
  return {
    ride,
    entries: playlistEntries(
      finished.map((s) => ({
        name: s.name,
        startedAtMs: s.startedAtMs,
        durationMs: s.durationMs as number,
        width: s.width,
        height: s.height,
      })),
    ),
  };
}

/** Adds the ride routes to `router` (the list, the playlist and its parts). */
export function addRideRoutes(router: ApiRouter, ctx: ApiContext): void {
  const t = 'v1' as const;
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
    handler: async ({ res }) => sendJson(res, 200, await ridesDocument(ctx)),
  });
  router.add({
    method: 'GET',
    path: `${API_V1}/rides/:id/playlist.m3u8`,
    doc: {
      tag: t,
      summary: 'A ride as one HLS playlist (version 7) of fragmented MP4, one media segment per finished recording',
      description:
        "VOD with EXT-X-ENDLIST once the ride is over, EVENT while it is recorded; EXT-X-PROGRAM-DATE-TIME is each segment's capture time; EXT-X-DISCONTINUITY only where the picture size changes.",
      responses: {
        200: ['application/vnd.apple.mpegurl', 'the playlist'],
        400: ERR,
        404: ERR,
      },
    },
    handler: async ({ res, params }) => {
      const { ride, entries } = await findRide(ctx, params.id ?? '');
      const ended = !ride.segments.some((s) => s.inProgress);
      const body = ridePlaylist(entries, ended);
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
      summary: 'A part of a ride playlist: NAME.init.mp4 (ftyp+moov) or NAME.m4s (moof+mdat on the ride timeline)',
      description:
        'NAME is a finished segment of the ride, without .mkv. Counts against the download limit like an MP4 download.',
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
      if (!m) throw new ApiError('ERR_API_BAD_REQUEST', 'a ride part is NAME.init.mp4 or NAME.m4s');
      const { entries } = await findRide(ctx, params.id ?? '');
      const entry = entries.find((e) => segmentStem(e.name) === m[1]);
      if (!entry) throw new ApiError('ERR_NOT_FOUND', `${m[1]} is not a finished segment of ride ${params.id}`);
      if (!ctx.mp4Source) throw new ApiError('ERR_CONVERT', 'MP4 conversion is not available in this build', 503);
      const init = m[2] === 'init.mp4';
      const release = ctx.downloads.acquire();
      let source: Awaited<ReturnType<NonNullable<ApiContext['mp4Source']>>> | undefined;
      try {
        source = await ctx.mp4Source(entry.name);
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
