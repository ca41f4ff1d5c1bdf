/**
 * The ride playlist text (ride-playlist.ts) and the page's pure helpers that
 * read it (ride-player.ts): the whole ride, `from` (the playlist the page gives
 * a browser's own HLS player, starting at the segment holding that time), the
 * page's parse of both, the codec of an init section, and the buffer-hole rule.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ridePlaylist, type PlaylistEntry } from '../../src/api/ride-playlist.js';
import { holeEnd, initCodec, parseRidePlaylist, timelineAt } from '../../src/web/ride-player.js';

/** Three 2 s segments placed from 10 s on the timeline (rotation deleted the first five). */
const entries: PlaylistEntry[] = [0, 1, 2].map((i) => ({
  name: `log000${i}.mkv`,
  startedAtMs: Date.UTC(2026, 11, 3, 8, 0, 2 * i),
  durationMs: 2000,
  width: 640,
  height: 360,
  offsetSeconds: 10 + 2 * i,
  mapStem: 'log0000-1796284800',
  stem: `log000${i}-${1796284800 + 2 * i}`,
  sequence: 5 + i,
}));
const BASE = 'http://camera/api/v1/rides/log0000/playlist.m3u8';

function ranges(...r: [number, number][]): TimeRanges {
  return { length: r.length, start: (i: number) => r[i]?.[0] ?? 0, end: (i: number) => r[i]?.[1] ?? 0 };
}

describe('ride playlist', () => {
  it('lists the whole ride from its place on the timeline, VOD once ended', () => {
    const text = ridePlaylist(entries, true);
    assert.match(text, /#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-PLAYLIST-TYPE:VOD\n/);
    assert.match(text, /#EXT-X-START:TIME-OFFSET=0\.000,PRECISE=YES\n#EXT-RV-TIMELINE-START:10\.000\n/);
    assert.match(text, /#EXT-X-ENDLIST\n$/);
    const { segments, ended } = parseRidePlaylist(text, BASE);
    assert.equal(ended, true);
    assert.deepEqual(
      segments.map((s) => [s.uri.split('/').pop(), s.start, s.duration]),
      [
        ['log0000-1796284800.m4s', 10, 2],
        ['log0001-1796284802.m4s', 12, 2],
        ['log0002-1796284804.m4s', 14, 2],
      ],
    );
    assert.equal(timelineAt(segments, Date.UTC(2026, 11, 3, 8, 0, 3)), 13);
  });

  it('from: starts at the segment holding the time, EXT-X-START inside it; live without ENDLIST', () => {
    const text = ridePlaylist(entries, false, 12.5);
    assert.match(text, /#EXT-X-MEDIA-SEQUENCE:6\n/);
    assert.doesNotMatch(text, /PLAYLIST-TYPE|ENDLIST/);
    assert.match(text, /#EXT-X-START:TIME-OFFSET=0\.500,PRECISE=YES\n#EXT-RV-TIMELINE-START:12\.000\n/);
    // The init section of the first segment listed, not of the ride's first (the next that rotation deletes).
    assert.match(
      text,
      /#EXT-X-MAP:URI="log0001-1796284802\.init\.mp4"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-03T08:00:02\.000Z/,
    );
    const { segments } = parseRidePlaylist(text, BASE);
    assert.deepEqual(
      segments.map((s) => s.start),
      [12, 14],
    );
    // Before the first segment: the whole ride; past the end: the last segment, EXT-X-START at its end.
    assert.equal(ridePlaylist(entries, true, 3), ridePlaylist(entries, true));
    assert.match(ridePlaylist(entries, true, 99), /TIME-OFFSET=2\.000,PRECISE=YES\n#EXT-RV-TIMELINE-START:14\.000\n/);
  });

  it('the source buffer type comes from the init section avcC', () => {
    // ... 'avcC' then configurationVersion 1, profile 0x64 (High), constraints 0x00, level 0x1f.
    const init = Uint8Array.from([0, 0, 0, 16, 0x61, 0x76, 0x63, 0x43, 1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 0]);
    assert.equal(initCodec(init.buffer), 'video/mp4; codecs="avc1.64001F"');
    assert.equal(initCodec(new ArrayBuffer(32)), 'video/mp4; codecs="avc1.42E01F"');
  });

  it('steps over a hole of up to 2 s in front of the playhead, nothing else', () => {
    const b = ranges([4.1, 6.667], [7.2, 38.4]);
    assert.equal(holeEnd(b, 6.7)?.toFixed(3), '7.201');
    assert.equal(holeEnd(b, 6.65)?.toFixed(3), '7.201', 'within 50 ms of a range end');
    assert.equal(holeEnd(b, 5), undefined, 'inside a range');
    assert.equal(holeEnd(b, 39), undefined, 'past the buffer: data still to come');
    assert.equal(holeEnd(ranges([0, 2], [5, 9]), 2), undefined, 'a 3 s hole is not a recording stall');
  });
});
