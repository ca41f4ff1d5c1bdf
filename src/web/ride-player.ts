/**
 * Plays a ride as one timeline: the ride's HLS playlist of fragmented MP4
 * (GET /api/v1/rides/ID/playlist.m3u8), natively where the browser plays
 * HLS (Safari, iPhone: no MediaSource there), otherwise by appending the
 * same init and media parts to MediaSource in order, each placed right
 * after the previous one (timestampOffset), a window of them around the
 * playhead. Moments are marks on the timeline with a "save clip" link
 * (GET /api/v1/clip, an MP4 download). `?ride-path=hls|mse` forces a path.
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

/** Parses the playlist the camera writes (ride-playlist.ts): EXT-X-MAP, PROGRAM-DATE-TIME, EXTINF. */
export function parseRidePlaylist(text: string, base: string): { segments: RideSegment[]; ended: boolean } {
  const segments: RideSegment[] = [];
  let init = '';
  let pdt = Number.NaN;
  let dur = Number.NaN;
  let t = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-MAP:')) init = new URL(/URI="([^"]+)"/.exec(line)?.[1] ?? '', base).href;
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

/**
 * Which path plays a ride here: the browser's own HLS player where it has
 * one, except for a ride still being recorded where MediaSource exists too
 * (Chromium's HLS player did not start on the growing EVENT playlist in our
 * test; the MediaSource path plays its finished segments).
 */
export function ridePath(video: HTMLVideoElement, inProgress: boolean): 'hls' | 'mse' | 'none' {
  const forced = new URLSearchParams(location.search).get('ride-path');
  if (forced === 'hls' || forced === 'mse') return forced;
  const mse = typeof MediaSource === 'function';
  const hls = video.canPlayType('application/vnd.apple.mpegurl') !== '';
  if (hls && !(inProgress && mse)) return 'hls';
  return mse ? 'mse' : hls ? 'hls' : 'none';
}

const AHEAD_S = 30;
const BEHIND_S = 30;

/** The ride player box: the video, its marks, and the MSE feeder when used. */
export class RidePlayer {
  private session = 0;
  private objectUrl: string | undefined;
  segments: RideSegment[] = [];

  constructor(
    private readonly box: HTMLElement,
    private readonly video: HTMLVideoElement,
    private readonly marks: HTMLElement,
  ) {}

  /** Loads `ride` and starts it (at capture time `atMs` when given). */
  async open(ride: RideDocument, title: string, moments: MomentDocument[], atMs?: number): Promise<void> {
    const session = ++this.session;
    this.stop();
    this.box.hidden = false;
    const heading = this.box.querySelector('h3');
    if (heading) heading.textContent = `Ride from ${title}`;
    const res = await fetch(ride.playlistUrl);
    if (!res.ok) throw new Error(`playlist: ${res.status}`);
    const playlist = parseRidePlaylist(await res.text(), new URL(ride.playlistUrl, location.href).href);
    if (session !== this.session) return;
    this.segments = playlist.segments;
    const path = ridePath(this.video, ride.inProgress);
    this.box.dataset.path = path;
    this.renderMarks(moments);
    const startAt = atMs !== undefined ? timelineAt(this.segments, atMs) : 0;
    if (path === 'hls') {
      this.video.src = ride.playlistUrl;
      if (startAt > 0)
        this.video.addEventListener('loadedmetadata', () => (this.video.currentTime = startAt), { once: true });
    } else if (path === 'mse') await this.feed(session, startAt);
    else throw new Error('this browser plays neither HLS nor MediaSource');
    void this.video.play().catch(() => undefined); // autoplay refused: the controls start it
  }

  stop(): void {
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = undefined;
  }

  private renderMarks(moments: MomentDocument[]): void {
    const total = this.segments.reduce((n, s) => n + s.duration, 0);
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
          this.video.currentTime = timelineAt(this.segments, Date.parse(m.from));
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

  /** MediaSource: init once per map, then media parts in order, each right after the previous one. */
  private async feed(session: number, startAt: number): Promise<void> {
    const ms = new MediaSource();
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
    const first = this.segments[0];
    if (!first || session !== this.session) return;
    const sb = ms.addSourceBuffer('video/mp4; codecs="avc1.42E01F"');
    const done = (): Promise<void> =>
      new Promise((r) => (sb.updating ? sb.addEventListener('updateend', () => r(), { once: true }) : r()));
    const append = async (data: ArrayBuffer): Promise<void> => {
      await done();
      sb.appendBuffer(data);
      await done();
    };
    const total = this.segments.reduce((n, s) => n + s.duration, 0);
    ms.duration = total;
    let next = Math.max(
      0,
      this.segments.findIndex((s) => s.start + s.duration > startAt),
    );
    let initLoaded = '';
    let end = Number.NaN;
    this.video.addEventListener('seeking', () => {
      const t = this.video.currentTime;
      const b = sb.buffered;
      for (let i = 0; i < b.length; i++) if (t >= b.start(i) && t < b.end(i)) return;
      next = Math.max(
        0,
        this.segments.findIndex((s) => s.start + s.duration > t),
      );
      end = Number.NaN;
    });
    if (startAt > 0) this.video.currentTime = startAt;
    while (session === this.session) {
      const seg = this.segments[next];
      if (!seg) {
        if (ms.readyState === 'open') {
          await done();
          ms.endOfStream();
        }
        return;
      }
      if (this.video.currentTime + AHEAD_S < seg.start) {
        await new Promise((r) => this.video.addEventListener('timeupdate', r, { once: true }));
        continue;
      }
      if (seg.init !== initLoaded) {
        await append(await (await fetch(seg.init)).arrayBuffer());
        initLoaded = seg.init;
      }
      const data = await (await fetch(seg.uri)).arrayBuffer();
      if (session !== this.session) return;
      // Its timestamps already sit at seg.start (the camera moved them); place it exactly at the previous end.
      await done();
      sb.timestampOffset = Number.isFinite(end) && Math.abs(end - seg.start) < 0.5 ? end - seg.start : 0;
      await append(data);
      end = seg.start + sb.timestampOffset + seg.duration;
      const b = sb.buffered;
      // The real end of what was just appended (its last frame's end), so the next part joins without a hole.
      for (let i = 0; i < b.length; i++)
        if (b.start(i) <= end - seg.duration / 2 && b.end(i) >= end - 0.5) end = b.end(i);
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
