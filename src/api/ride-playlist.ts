/**
 * A ride as an HLS playlist (RFC 8216, version 7) of fragmented MP4: each
 * finished segment is one media segment (`NAME-SECONDS.m4s`, the segment's
 * MP4 conversion without its moov, timestamps moved to the ride's
 * timeline), under the initialization section of the first segment listed
 * of its size (`NAME-SECONDS.init.mp4`: every segment has its own, alike
 * within a size). Pure: the routes are in ride-routes.ts, the timeline in
 * ride-timelines.ts.
 */

/** What the playlist needs of a segment. */
export interface PlaylistSegment {
  name: string;
  startedAtMs: number;
  /** Media duration, ms. */
  durationMs: number;
  width: number | null;
  height: number | null;
}

/** One entry of the playlist, with its place on the ride's timeline (ride-timelines.ts). */
export interface PlaylistEntry extends PlaylistSegment {
  /** Start on the ride's timeline, seconds. */
  offsetSeconds: number;
  /** The part stem of the first segment of its picture size in the ride (a new one starts a new init section). */
  mapStem: string;
  /** Its part stem: `NAME-SECONDS` (ride-timelines.ts partStem). */
  stem: string;
  /** Its media sequence number; the ride's first segment kept its number when the ring deleted older ones. */
  sequence: number;
}

/** The segment name without `.mkv`. */
export function segmentStem(name: string): string {
  return name.replace(/\.mkv$/i, '');
}

/**
 * The playlist text. `ended`: the ride is over (VOD, ENDLIST); otherwise a
 * live playlist the player reloads (not EVENT: once the ring is full it
 * deletes the ride's first segments, and MEDIA-SEQUENCE counts them).
 * EXT-X-START asks players to begin at the ride's start, not its live edge.
 * `#EXT-RV-TIMELINE-START` (ours; other players ignore tags they do not
 * know) says where the first segment sits on the ride's timeline: past 0
 * once rotation deleted the ride's first segments. A change of picture size starts a new
 * init section after EXT-X-DISCONTINUITY; the segments of one ride have no
 * other gap (rides split at gaps, clip-export.ts groupRides).
 */
export function ridePlaylist(all: readonly PlaylistEntry[], ended: boolean, from?: number): string {
  // `from` (timeline seconds): the playlist starts at the segment holding it, and EXT-X-START points at it
  // inside that segment. A browser's own HLS player counts its time from the playlist's first segment
  // (Chromium does), so the page, which cannot ask it where a capture time is, starts it there.
  const at = from === undefined ? -1 : all.findIndex((e) => e.offsetSeconds + e.durationMs / 1000 > from);
  const entries = at > 0 ? all.slice(at) : at < 0 && from !== undefined ? all.slice(-1) : all;
  const head = entries[0];
  const startOffset =
    from !== undefined && head ? Math.min(head.durationMs / 1000, Math.max(0, from - head.offsetSeconds)) : 0;
  const target = Math.max(1, ...entries.map((e) => Math.ceil(e.durationMs / 1000)));
  const first = entries[0]?.sequence ?? 0;
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-MEDIA-SEQUENCE:${first}`];
  if (ended) lines.push('#EXT-X-PLAYLIST-TYPE:VOD');
  lines.push('#EXT-X-INDEPENDENT-SEGMENTS', `#EXT-X-START:TIME-OFFSET=${startOffset.toFixed(3)},PRECISE=YES`);
  lines.push(`#EXT-RV-TIMELINE-START:${(entries[0]?.offsetSeconds ?? 0).toFixed(3)}`);
  let map: string | undefined;
  for (const e of entries) {
    if (e.mapStem !== map) {
      if (map !== undefined) lines.push('#EXT-X-DISCONTINUITY');
      map = e.mapStem;
      // The init section of this segment, the first listed of its size: with `from`, the ride's first
      // segment is older, the next one rotation deletes, and a player that fetched its init after the
      // playlist got a 404 (Chromium's player fails then, before any picture).
      lines.push(`#EXT-X-MAP:URI="${encodeURIComponent(e.stem)}.init.mp4"`);
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(e.startedAtMs).toISOString()}`);
    lines.push(`#EXTINF:${(e.durationMs / 1000).toFixed(3)},`);
    lines.push(`${encodeURIComponent(e.stem)}.m4s`);
  }
  if (ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
