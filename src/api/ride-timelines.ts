/**
 * Ride ids and ride timelines that stay put while rotation deletes a ride's
 * oldest segments. A ride is found from the files (clip-export.ts
 * groupRides), so without memory its id (its first segment's name) and the
 * place of every segment on its timeline (the sum of the durations before
 * it) would change each time the ring deletes its first segment: a page
 * holding the id would get 404, and a player that loaded the playlist would
 * get parts whose timestamps moved by a segment's length. So each segment,
 * once seen, keeps its ride id, its offset on the ride's timeline and its
 * media sequence number for as long as it is listed (memory only: after a
 * restart the timelines start again from the segments there are).
 *
 * A segment is known by its name and its start: ring names are reused, and
 * a part URL names both, so a stale URL is a 404, never another recording.
 * The start a listing gives can move by a fraction of a second (where it was
 * read from changes when the segment closes and its thumbnail is made), so a
 * name whose start moved less than SAME_START_MS keeps its part stem; a name
 * reused by the ring starts a whole ring later.
 */
import type { Ride } from '../recorder/clip-export.js';
import type { RecordingInfo } from '../recorder/recording-library.js';
import { segmentStem, type PlaylistEntry } from './ride-playlist.js';

/** A ride with its id and the playlist entries of its finished segments. */
export interface PlacedRide {
  id: string;
  ride: Ride;
  entries: PlaylistEntry[];
}

interface Remembered {
  ride: string;
  /** The part stem the segment was first given (its start second as first listed). */
  stem: string;
  /** Its start as first listed, ms. */
  startMs: number;
  /** Offset on the ride's timeline, ms; undefined until the segment is finished. */
  offsetMs?: number;
  seq?: number;
}

/** `NAME-SECONDS`: a segment's name without `.mkv` and its start, in Unix seconds. */
export function partStem(s: Pick<RecordingInfo, 'name' | 'startedAtMs'>): string {
  return `${segmentStem(s.name)}-${Math.floor(s.startedAtMs / 1000)}`;
}

/** Starts of one segment as two listings give them differ by less than this. */
export const SAME_START_MS = 2000;

const finished = (s: RecordingInfo): boolean => !s.inProgress && s.durationMs !== null && s.durationMs > 0;

/** The memory of ride ids and timelines of one daemon. */
export class RideTimelines {
  private known = new Map<string, Remembered>();

  /** Ids and timelines of `rides` (oldest first, as groupRides gives them); forgets segments no longer listed. */
  place(rides: readonly Ride[]): PlacedRide[] {
    const next = new Map<string, Remembered>();
    const taken = new Set<string>();
    /** What is remembered of `s` (by name, when its start is the same one). */
    const recall = (s: RecordingInfo): Remembered | undefined => {
      const r = this.known.get(s.name);
      return r && Math.abs(r.startMs - s.startedAtMs) < SAME_START_MS ? r : undefined;
    };
    const out = rides.map((ride) => {
      const keys = ride.segments.map((s) => recall(s)?.stem ?? partStem(s));
      // The ride keeps the id one of its segments remembers (the oldest first); a ride split in two keeps it in its first half.
      let id = ride.segments.map((s) => recall(s)?.ride).find((r): r is string => r !== undefined && !taken.has(r));
      if (id === undefined) {
        const first = ride.segments[0];
        const plain = segmentStem(first?.name ?? '');
        const inUse = (c: string): boolean => taken.has(c) || [...this.known.values()].some((k) => k.ride === c);
        id = first && inUse(plain) ? partStem(first) : plain;
      }
      taken.add(id);
      const rideId = id;
      const remembered = (s: RecordingInfo): Remembered | undefined => {
        const r = recall(s);
        return r && r.ride === rideId ? r : undefined;
      };
      const done = ride.segments.filter(finished);
      const doneKeys = done.map((s) => recall(s)?.stem ?? partStem(s));
      // Where nothing before it is remembered, a segment is placed back from the first one that is.
      const anchor = done.findIndex((s) => remembered(s)?.offsetMs !== undefined);
      const entries: PlaylistEntry[] = [];
      let mapName: string | undefined;
      let map: RecordingInfo | undefined;
      done.forEach((s, i) => {
        const key = doneKeys[i] as string;
        const prev = entries[i - 1];
        const mem = remembered(s);
        let offsetMs: number;
        let seq: number;
        if (
          mem?.offsetMs !== undefined &&
          mem.seq !== undefined &&
          (!prev || mem.offsetMs >= prev.offsetSeconds * 1000)
        ) {
          offsetMs = mem.offsetMs;
          seq = Math.max(mem.seq, prev ? prev.sequence + 1 : 0);
        } else if (prev) {
          offsetMs = prev.offsetSeconds * 1000 + prev.durationMs;
          seq = prev.sequence + 1;
        } else if (anchor > 0) {
          const a = remembered(done[anchor] as RecordingInfo) as Remembered;
          const before = done.slice(0, anchor).reduce((n, d) => n + (d.durationMs as number), 0);
          offsetMs = Math.max(0, (a.offsetMs as number) - before);
          seq = Math.max(0, (a.seq as number) - anchor);
        } else {
          offsetMs = 0;
          seq = 0;
        }
        const sameSize = map && map.width === s.width && map.height === s.height;
        if (!sameSize) {
          map = s;
          mapName = key;
        }
        entries.push({
          name: s.name,
          startedAtMs: s.startedAtMs,
          durationMs: s.durationMs as number,
          width: s.width,
          height: s.height,
          offsetSeconds: offsetMs / 1000,
          mapStem: mapName as string,
          stem: key,
          sequence: seq,
        });
        next.set(s.name, { ride: rideId, stem: key, startMs: recall(s)?.startMs ?? s.startedAtMs, offsetMs, seq });
      });
      ride.segments.forEach((s, i) => {
        if (!next.has(s.name) && !finished(s))
          next.set(s.name, { ride: rideId, stem: keys[i] as string, startMs: recall(s)?.startMs ?? s.startedAtMs });
      });
      return { id: rideId, ride, entries };
    });
    this.known = next;
    return out;
  }
}
