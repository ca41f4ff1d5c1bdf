/**
 * Plays a ride as one timeline: the ride's HLS playlist of fragmented MP4
 * (GET /api/v1/rides/ID/playlist.m3u8), natively where the browser plays
 * HLS (Safari, iPhone), otherwise by appending the same init and media parts
 * to MediaSource (or ManagedMediaSource, which an iPhone without native HLS
 * would have) in order, each at its own timestamps (the camera placed them
 * on the ride's timeline), a window of them around the playhead; a ride being
 * recorded reloads its playlist for the segments finished since. Moments
 * are marks on the timeline with a "save clip" link (GET /api/v1/clip, an
 * MP4 download). `?ride-path=hls|mse|mms` forces a path.
 */
import type { MomentDocument, RideDocument } from '../api/wire-types.js';

/** One media segment of the playlist on the ride's timeline. */
export interface RideSegment {
  uri: string;
  init: string;
  start: number;
  duration: number;
  /** Capture time of its first frame, ms. */
  capturedAtMs: number;
}

/**
 * Parses the playlist the camera writes (ride-playlist.ts): EXT-X-MAP, PROGRAM-DATE-TIME, EXTINF, and
 * EXT-RV-TIMELINE-START (where the first segment sits on the ride's timeline: past 0 once rotation
 * deleted the ride's first segments; the parts' timestamps are on that timeline).
 */
export function parseRidePlaylist(text: string, base: string): { segments: RideSegment[]; ended: boolean } {
  const segments: RideSegment[] = [];
  let init = '';
  let pdt = Number.NaN;
  let dur = Number.NaN;
  let t = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-RV-TIMELINE-START:') && segments.length === 0) {
      const start = Number.parseFloat(line.slice(23));
      if (Number.isFinite(start) && start >= 0) t = start;
    } else if (line.startsWith('#EXT-X-MAP:')) init = new URL(/URI="([^"]+)"/.exec(line)?.[1] ?? '', base).href;
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) dur = Number.parseFloat(line.slice(8));
    else if (line && !line.startsWith('#') && Number.isFinite(dur)) {
      segments.push({ uri: new URL(line, base).href, init, start: t, duration: dur, capturedAtMs: pdt });
      t += dur;
      dur = Number.NaN;
    }
  }
  return { segments, ended: text.includes('#EXT-X-ENDLIST') };
}

/** Timeline seconds of capture time `ms` (through the segment that covers it). */
export function timelineAt(segments: readonly RideSegment[], ms: number): number {
  for (const s of segments)
    if (ms < s.capturedAtMs + s.duration * 1000) return s.start + Math.max(0, (ms - s.capturedAtMs) / 1000);
  const last = segments[segments.length - 1];
  return last ? last.start + last.duration : 0;
}

/** How a ride reaches the screen. */
export type RidePath = 'hls' | 'mse' | 'mms';

/** Why a ride cannot play in this browser (shown on the page). */
export const NO_RIDE_PATH = 'this browser plays neither HLS nor MediaSource nor ManagedMediaSource';

const managedMediaSource = (): (new () => MediaSource) | undefined =>
  (globalThis as { ManagedMediaSource?: new () => MediaSource }).ManagedMediaSource;

/**
 * Which path plays a ride here: the browser's own HLS player where it has
 * one, except for a ride still being recorded where a media source exists
 * too (Chromium's HLS player did not start on the growing playlist in our
 * test; the media-source path plays its finished segments and reloads).
 * A path forced with `?ride-path=` that this browser lacks is refused, not
 * swapped.
 */
export function ridePath(video: HTMLVideoElement, inProgress: boolean): RidePath {
  const has: Record<RidePath, boolean> = {
    hls: video.canPlayType('application/vnd.apple.mpegurl') !== '',
    mse: typeof MediaSource === 'function',
    mms: typeof managedMediaSource() === 'function',
  };
  const forced = new URLSearchParams(location.search).get('ride-path');
  if (forced === 'hls' || forced === 'mse' || forced === 'mms') {
    if (!has[forced]) throw new Error(`?ride-path=${forced}, but this browser has no ${forced.toUpperCase()}`);
    return forced;
  }
  const source: RidePath | undefined = has.mse ? 'mse' : has.mms ? 'mms' : undefined;
  if (has.hls && !(inProgress && source)) return 'hls';
  if (source) return source;
  throw new Error(NO_RIDE_PATH);
}

/**
 * The MSE type of an init section: `avc1.PPCCLL` from its avcC box (profile, constraints, level), so the
 * source buffer is opened for the stream the camera recorded (High here, Baseline on some cameras), not a
 * guess; Baseline 3.1 when no avcC is found.
 */
export function initCodec(init: ArrayBuffer): string {
  const b = new Uint8Array(init);
  for (let i = 4; i + 8 <= b.length; i++)
    if (b[i] === 0x61 && b[i + 1] === 0x76 && b[i + 2] === 0x63 && b[i + 3] === 0x43) {
      const hex = (n: number | undefined): string => (n ?? 0).toString(16).padStart(2, '0').toUpperCase();
      return `video/mp4; codecs="avc1.${hex(b[i + 5])}${hex(b[i + 6])}${hex(b[i + 7])}"`;
    }
  return 'video/mp4; codecs="avc1.42E01F"';
}

/** Largest hole in the buffer the player steps over, s (holes of a recording are capture stalls, under 2 s). */
const MAX_HOLE_S = 2;

/**
 * Where playback at `t` should go on when `t` sits in a hole of `b` (or within 50 ms of the end of a
 * range) and the next range starts within MAX_HOLE_S; undefined otherwise.
 */
export function holeEnd(b: TimeRanges, t: number): number | undefined {
  for (let i = 0; i < b.length; i++) {
    if (t >= b.start(i) && t < b.end(i) - 0.05) return undefined;
    if (b.start(i) > t) return b.start(i) - t <= MAX_HOLE_S ? b.start(i) + 0.001 : undefined;
  }
  return undefined;
}

/** Retries of the browser's own HLS player after an error with no picture shown between. */
const HLS_RETRIES = 3;

const AHEAD_S = 30;
const BEHIND_S = 30;

/** The ride player box: the video, its marks, and the MSE feeder when used. */
export class RidePlayer {
  private session = 0;
  private objectUrl: string | undefined;
  /** Removes the listeners of the ride being played. */
  private listeners: AbortController | undefined;
  segments: RideSegment[] = [];
  /**
   * The ride timeline's seconds at the element's time 0. 0 on the media-source paths (the parts'
   * timestamps are on the ride timeline). The browser's own HLS player may instead start its time at
   * the playlist's first segment (Chromium does, whatever the parts' timestamps): then it is that
   * segment's place, once rotation deleted the ride's first segments.
   */
  base = 0;

  constructor(
    private readonly box: HTMLElement,
    private readonly video: HTMLVideoElement,
    private readonly marks: HTMLElement,
    /** Where a failure after the start is said. */
    private readonly onError: (message: string) => void = () => undefined,
  ) {}

  /** Loads `ride` and starts it (at capture time `atMs` when given). */
  async open(ride: RideDocument, title: string, moments: MomentDocument[], atMs?: number): Promise<void> {
    this.stop();
    const session = this.session;
    this.box.hidden = false;
    const heading = this.box.querySelector('h3');
    if (heading) heading.textContent = `Ride from ${title}`;
    const res = await fetch(ride.playlistUrl);
    if (!res.ok) throw new Error(`playlist: ${res.status}`);
    const playlist = parseRidePlaylist(await res.text(), new URL(ride.playlistUrl, location.href).href);
    if (session !== this.session) return;
    this.segments = playlist.segments;
    this.renderMarks(moments);
    let path: RidePath;
    try {
      path = ridePath(this.video, ride.inProgress);
    } catch (err) {
      this.box.dataset.path = 'none';
      throw err;
    }
    this.box.dataset.path = path;
    this.base = 0;
    this.box.dataset.base = '0';
    const startAt = atMs !== undefined ? timelineAt(this.segments, atMs) : (this.segments[0]?.start ?? 0);
    this.listeners = new AbortController();
    const { signal } = this.listeners;
    if (path === 'hls') this.playHls(session, ride, startAt, signal);
    else {
      // A failed element (a decode error, a part it cannot read) is said, never a still black player.
      this.video.addEventListener(
        'error',
        () =>
          this.onError(`the browser's player failed: ${this.video.error?.message || `code ${this.video.error?.code}`}`),
        { signal },
      );
      const source = await this.openSource(path === 'mms');
      // The feeder runs on while the ride plays; its failure is said, not swallowed.
      this.feed(session, source, startAt, ride, playlist.ended).catch((err: Error) => {
        if (session === this.session) this.onError(`the ride stopped loading: ${err.message}`);
      });
    }
    void this.video.play().catch(() => undefined); // autoplay refused: the controls start it
  }

  /**
   * The browser's own HLS player on the playlist. Its time 0 is found from what it can seek once it
   * has the metadata (ride-player's `base`). Rotation can delete a part between the playlist's reading
   * and its fetch: the player then fails (Chromium: DEMUXER_ERROR_COULD_NOT_PARSE, as the 404's body is
   * no MP4); it is started again at the capture time it was showing, from a fresh playlist, up to
   * HLS_RETRIES times with no picture between, then the failure is said.
   */
  private playHls(session: number, ride: RideDocument, startAt: number, signal: AbortSignal): void {
    let retries = 0;
    let want = startAt;
    const start = (): void => {
      // The playlist from the segment holding `want` (ride-playlist.ts `from`): its first segment is then
      // known, whatever rotation deleted before it, and so is where the player's time 0 is.
      const seg = this.segments.find((s) => s.start + s.duration > want) ?? this.segments[this.segments.length - 1];
      const first = seg?.start ?? 0;
      this.video.addEventListener(
        'loadedmetadata',
        () => {
          const s = this.video.seekable;
          const s0 = s.length ? s.start(0) : 0;
          // Where the player put the playlist's first segment: at its timestamps, or at 0.
          this.base = Math.abs(s0 - first) < Math.abs(s0) ? 0 : first;
          this.box.dataset.base = String(this.base);
          // EXT-X-START asked for `want`; a player that did not honour it is moved there.
          const to = want - this.base;
          if (Math.abs(this.video.currentTime - to) > 0.1) this.video.currentTime = Math.max(0, to);
        },
        { once: true, signal },
      );
      const url = new URL(ride.playlistUrl, location.href);
      if (seg && want > (this.segments[0]?.start ?? 0) + 0.05) url.searchParams.set('from', want.toFixed(3));
      // A ride being recorded as a snapshot (VOD) of its finished segments, continued when it ends:
      // Chromium's player cannot seek a live playlist, and fails one played at another rate than 1
      // (DEMUXER_ERROR_COULD_NOT_PARSE; media/filters/hls_live_rendition.cc).
      if (ride.inProgress) url.searchParams.set('snapshot', '1');
      this.video.src = url.href;
      void this.video.play().catch(() => undefined);
    };
    this.video.addEventListener('timeupdate', () => (retries = this.video.currentTime > 0 ? 0 : retries), { signal });
    if (ride.inProgress)
      this.video.addEventListener(
        'ended',
        () => {
          // The snapshot ran out: go on from its end with the segments finished since.
          const last = this.segments[this.segments.length - 1];
          const end = last ? last.start + last.duration : 0;
          void this.reloadPlaylist(session, ride).then((more) => {
            if (!more || session !== this.session) return;
            const next = this.segments.find((s) => s.start >= end - 0.05);
            if (!next) return;
            want = next.start;
            start();
          });
        },
        { signal },
      );
    this.video.addEventListener(
      'error',
      () => {
        const why = this.video.error?.message || `code ${this.video.error?.code}`;
        if (session !== this.session) return;
        if (retries >= HLS_RETRIES) {
          this.onError(`the browser's HLS player failed ${retries + 1} times: ${why}`);
          return;
        }
        retries++;
        // Where it was: what it showed, or, failing before its metadata (currentTime 0 then, on a time 0
        // that is not yet known), where it was asked to start. Not the ride's first segment: rotation
        // deletes that next, and playing there the player failed again and again, chasing the ring.
        const at = this.video.readyState >= 1 ? this.video.currentTime + this.base : want;
        void fetch(ride.playlistUrl)
          .then(async (res) => {
            if (!res.ok) throw new Error(`playlist: ${res.status}`);
            const p = parseRidePlaylist(await res.text(), new URL(ride.playlistUrl, location.href).href);
            if (session !== this.session) return;
            this.segments = p.segments;
            want = Math.max(at, this.segments[0]?.start ?? 0);
            start();
          })
          .catch((err: Error) => session === this.session && this.onError(`${why}; then ${err.message}`));
      },
      { signal },
    );
    start();
  }

  /** Reads the ride's playlist again into `segments`; false when the ride was closed meanwhile. */
  private async reloadPlaylist(session: number, ride: RideDocument): Promise<boolean> {
    try {
      const res = await fetch(ride.playlistUrl);
      if (!res.ok) throw new Error(`playlist: ${res.status}`);
      const p = parseRidePlaylist(await res.text(), new URL(ride.playlistUrl, location.href).href);
      if (session !== this.session) return false;
      this.segments = p.segments;
      return true;
    } catch (err) {
      if (session === this.session) this.onError((err as Error).message);
      return false;
    }
  }

  stop(): void {
    this.session++;
    this.listeners?.abort();
    this.listeners = undefined;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = undefined;
  }

  private renderMarks(moments: MomentDocument[]): void {
    const last = this.segments[this.segments.length - 1];
    const total = last ? last.start + last.duration : 0;
    this.marks.replaceChildren(
      ...moments.map((m) => {
        const at = timelineAt(this.segments, Date.parse(m.at));
        const li = document.createElement('li');
        li.style.setProperty('--rv-at', `${total > 0 ? (100 * at) / total : 0}%`);
        const seek = document.createElement('button');
        seek.type = 'button';
        const when = new Date(m.at).toLocaleTimeString();
        seek.textContent = `${when}${m.note ? ` ${m.note}` : ''}`;
        seek.setAttribute('aria-label', `Go to the moment at ${when}`);
        seek.addEventListener('click', () => {
          this.video.currentTime = Math.max(0, timelineAt(this.segments, Date.parse(m.from)) - this.base);
        });
        const save = document.createElement('a');
        save.href = m.clipUrl;
        save.textContent = 'Save clip';
        // An MP4 with a plain name: phones offer it to the photo library.
        save.setAttribute('download', `rearview-${m.at.replace(/[:.]/g, '-')}.mp4`);
        save.setAttribute('aria-label', `Save the clip of the moment at ${when} as MP4`);
        li.append(seek, ' ', save);
        return li;
      }),
    );
  }

  /** A new MediaSource (or ManagedMediaSource) on the video element, open. */
  private async openSource(managed: boolean): Promise<MediaSource> {
    const Managed = managedMediaSource();
    if (managed && !Managed) throw new Error('this browser has no ManagedMediaSource');
    // A ManagedMediaSource plays only when AirPlay has an alternative or is turned off.
    if (managed) this.video.disableRemotePlayback = true;
    const ms = managed && Managed ? new Managed() : new MediaSource();
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    if (ms.readyState !== 'open') await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
    return ms;
  }

  /**
   * Init once per map, then media parts in order, each right after the previous one; a ride being
   * recorded reloads its playlist when the parts run out (its timeline does not move: ride-timelines.ts).
   */
  private async feed(
    session: number,
    ms: MediaSource,
    startAt: number,
    ride: RideDocument,
    ended: boolean,
  ): Promise<void> {
    if (!this.segments[0] || session !== this.session) return;
    // Opened on the first init section, for the codec it names.
    let sb: SourceBuffer | undefined;
    const done = (): Promise<void> =>
      new Promise((r) => (sb?.updating ? sb.addEventListener('updateend', () => r(), { once: true }) : r()));
    const append = async (data: ArrayBuffer): Promise<void> => {
      await done();
      sb ??= ms.addSourceBuffer(initCodec(data));
      sb.appendBuffer(data);
      await done();
    };
    const buffered = (): TimeRanges | { length: 0 } => sb?.buffered ?? { length: 0 };
    /** The camera's answer to the last part that was not found. */
    let lastMissing = '';
    /** A part's bytes; undefined when it is gone (404: rotation deleted the segment since the playlist). */
    const fetchPart = async (url: string): Promise<ArrayBuffer | undefined> => {
      const res = await fetch(url);
      if (res.status === 404) {
        lastMissing = await res.text().catch(() => '');
        return undefined;
      }
      if (!res.ok) throw new Error(`${new URL(url).pathname.split('/').pop()}: ${res.status}`);
      return res.arrayBuffer();
    };
    /** The playlist again; `next` becomes its first segment at or after `from` on the timeline. */
    const reload = async (from: number): Promise<boolean> => {
      const res = await fetch(ride.playlistUrl);
      if (!res.ok) throw new Error(`playlist: ${res.status}`);
      const playlist = parseRidePlaylist(await res.text(), new URL(ride.playlistUrl, location.href).href);
      if (session !== this.session) return false;
      this.segments = playlist.segments;
      ended = playlist.ended;
      const i = this.segments.findIndex((s) => s.start >= from - 0.001);
      next = i < 0 ? this.segments.length : i;
      if (ended && ms.readyState === 'open') ms.duration = total();
      return true;
    };
    const total = (): number => {
      const last = this.segments[this.segments.length - 1];
      return last ? last.start + last.duration : 0;
    };
    if (ended) ms.duration = total();
    let next = Math.max(
      0,
      this.segments.findIndex((s) => s.start + s.duration > startAt),
    );
    let initLoaded = '';
    /** Timeline start of the last part appended (new playlists continue after it). */
    let lastStart = Number.NEGATIVE_INFINITY;
    const signal = this.listeners?.signal ?? new AbortController().signal;
    this.video.addEventListener(
      'seeking',
      () => {
        const t = this.video.currentTime;
        const b = buffered() as TimeRanges;
        for (let i = 0; i < b.length; i++) if (t >= b.start(i) && t < b.end(i)) return;
        next = Math.max(
          0,
          this.segments.findIndex((s) => s.start + s.duration > t),
        );
      },
      { signal },
    );
    /**
     * Where playback should start, until it is there. A seek before the element has metadata is
     * not kept by every engine (Chromium stayed at 0 with the ride's timeline starting at 16 s,
     * once rotation had deleted its first segments): it is made again once data is buffered.
     */
    let want: number | undefined = startAt;
    const seekToStart = (): void => {
      const b = buffered() as TimeRanges;
      if (want === undefined || this.video.readyState < 1 || b.length === 0) return;
      const to = Math.max(want, b.start(0));
      if (Math.abs(this.video.currentTime - to) > 0.05) this.video.currentTime = to;
      want = undefined;
    };
    // The metadata can arrive after the last append before the feeder waits (for the playhead, or
    // for the next segment): the seek is made then too, or playback waits at 0 before a gap forever.
    this.video.addEventListener('loadedmetadata', seekToStart, { signal });
    // Over a hole in the buffer: WebKitGTK shows a capture stall of a recording as one (it keeps the
    // nominal duration of the frame before it, not the trun's) and waits in it for ever; Chromium and
    // Firefox play on. So the page steps over.
    const hop = setInterval(() => {
      const to = holeEnd(buffered() as TimeRanges, this.video.currentTime);
      if (to !== undefined && !this.video.paused && !this.video.seeking) this.video.currentTime = to;
    }, 250);
    signal.addEventListener('abort', () => clearInterval(hop), { once: true });
    if (startAt > 0) this.video.currentTime = startAt;
    while (session === this.session) {
      const seg = this.segments[next];
      if (!seg) {
        if (ended) {
          if (ms.readyState === 'open') {
            await done();
            ms.endOfStream();
          }
          return;
        }
        // Being recorded: the next segment is listed once finished (a segment's length from now at most).
        const last = this.segments[this.segments.length - 1];
        await new Promise((r) => setTimeout(r, Math.max(1000, (last?.duration ?? 2) * 500)));
        if (session !== this.session) return;
        if (!(await reload(lastStart + 0.002))) return;
        continue;
      }
      if (this.video.currentTime + AHEAD_S < seg.start) {
        await new Promise((r) => this.video.addEventListener('timeupdate', r, { once: true, signal }));
        if (signal.aborted) return;
        continue;
      }
      const init = seg.init !== initLoaded ? await fetchPart(seg.init) : undefined;
      const data = seg.init === initLoaded || init ? await fetchPart(seg.uri) : undefined;
      if (session !== this.session) return;
      if (!data) {
        // Rotated away since the playlist was read: go on from the first segment still there.
        if (!(await reload(seg.start))) return;
        const gone = seg.init !== initLoaded && !init ? seg.init : seg.uri;
        if (this.segments.some((s) => s.uri === gone || s.init === gone))
          throw new Error(`${gone.split('/').pop()}: 404 ${lastMissing}`);
        const first = this.segments[next];
        if (first && buffered().length === 0) want = first.start;
        continue;
      }
      if (init) {
        await append(init);
        initLoaded = seg.init;
      }
      // Appended at its own timestamps: the camera placed them on the ride timeline (seg.start), where
      // the previous part's last frame ends. Not at the buffered end: WebKitGTK counts every frame as
      // long as the init section's VUI clock says (half a second, fmp4-parts.ts RIDE_VUI_TIMING).
      if (!sb) throw new Error(`${seg.init.split('/').pop()}: no init section before the media`);
      await append(data);
      lastStart = seg.start;
      seekToStart();
      const b = sb.buffered;
      next++;
      const behind = this.video.currentTime - BEHIND_S;
      if (behind > 1 && b.length && b.start(0) < behind) {
        await done();
        sb.remove(0, behind);
        await done();
      }
    }
  }
}
