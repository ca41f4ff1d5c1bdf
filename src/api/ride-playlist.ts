/**
 * A ride as an HLS playlist (RFC 8216, version 7) of fragmented MP4: each
 * finished segment is one media segment (`NAME.m4s`, the segment's MP4
 * conversion without its moov, timestamps moved to the ride's timeline),
 * under the initialization section of the first segment of its size
 * (`NAME.init.mp4`). Pure: the routes are in ride-routes.ts.
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

/** One entry of the playlist, with its place on the ride's timeline. */
export interface PlaylistEntry extends PlaylistSegment {
  /** Start on the ride's timeline (sum of the earlier durations), seconds. */
  offsetSeconds: number;
  /** The segment whose init section this one plays under. */
  mapName: string;
}

/** The segment name without `.mkv`: the stem of its playlist URIs. */
export function segmentStem(name: string): string {
  return name.replace(/\.mkv$/i, '');
}

/** Timeline of a ride's finished segments: offsets and init sections. */
export function playlistEntries(segments: readonly PlaylistSegment[]): PlaylistEntry[] {
  const out: PlaylistEntry[] = [];
  let offsetMs = 0;
  let map: PlaylistEntry | undefined;
  for (const s of segments) {
    const sameSize = map && map.width === s.width && map.height === s.height;
    const entry: PlaylistEntry = { ...s, offsetSeconds: offsetMs / 1000, mapName: sameSize && map ? map.name : s.name };
    if (!sameSize) map = entry;
    out.push(entry);
    offsetMs += s.durationMs;
  }
  return out;
}

/**
 * The playlist text. `ended`: the ride is over (VOD, ENDLIST); otherwise an
 * EVENT playlist the player reloads. A change of picture size starts a new
 * init section after EXT-X-DISCONTINUITY; the segments of one ride have no
 * other gap (rides split at gaps, clip-export.ts groupRides).
 */
export function ridePlaylist(entries: readonly PlaylistEntry[], ended: boolean): string {
  const target = Math.max(1, ...entries.map((e) => Math.ceil(e.durationMs / 1000)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    `#EXT-X-PLAYLIST-TYPE:${ended ? 'VOD' : 'EVENT'}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  let map: string | undefined;
  for (const e of entries) {
    if (e.mapName !== map) {
      if (map !== undefined) lines.push('#EXT-X-DISCONTINUITY');
      map = e.mapName;
      lines.push(`#EXT-X-MAP:URI="${encodeURIComponent(segmentStem(e.mapName))}.init.mp4"`);
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(e.startedAtMs).toISOString()}`);
    lines.push(`#EXTINF:${(e.durationMs / 1000).toFixed(3)},`);
    lines.push(`${encodeURIComponent(segmentStem(e.name))}.m4s`);
  }
  if (ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
