/**
 * Rides on the recordings page: segments grouped by continuous recording
 * (GET /api/v1/rides), one collapsed row per ride (start, end, duration,
 * segments, moments), the segments listed compactly only when a ride is
 * opened (thumbnails lazy), a time picker that finds the ride recorded at a
 * time, and the ride player (ride-player.ts) with its moments marked on the
 * timeline, each with a "save clip" download.
 */
import type { MomentDocument, MomentsListDocument, RideDocument, RidesListDocument } from '../api/wire-types.js';
import { formatDuration } from './gallery.js';
import { RidePlayer } from './ride-player.js';
import { el } from './dom.js';
import { apiJson, listRecordings } from './web-api.js';

/** The ride whose recording covers `ms`, else the nearest one; undefined for none. */
export function rideAt(rides: readonly RideDocument[], ms: number): RideDocument | undefined {
  let best: RideDocument | undefined;
  let bestDist = Number.POSITIVE_INFINITY;
  for (const r of rides) {
    const s = Date.parse(r.start);
    const e = Date.parse(r.end);
    const dist = ms < s ? s - ms : ms > e ? ms - e : 0;
    if (dist < bestDist) {
      best = r;
      bestDist = dist;
    }
  }
  return best;
}

/** The rides section; call refresh() when the recordings page is shown. */
export class RideList {
  private readonly list = document.getElementById('ride-list') as HTMLOListElement;
  private readonly message = document.getElementById('rides-message') as HTMLElement;
  private readonly picker = document.getElementById('ride-time') as HTMLInputElement;
  private readonly player = new RidePlayer(
    document.getElementById('ride-player') as HTMLElement,
    document.getElementById('ride-video') as HTMLVideoElement,
    document.getElementById('ride-marks') as HTMLElement,
    (message) => {
      this.message.textContent = `Could not play the ride: ${message}`;
    },
  );
  private rides: RideDocument[] = [];
  private moments = new Map<string, MomentDocument>();
  /** Segment name -> its thumbnail URL (the thumbnail's name carries a time only the list knows). */
  private thumbs = new Map<string, string>();

  constructor() {
    document.getElementById('ride-find')?.addEventListener('submit', (e) => {
      e.preventDefault();
      this.find();
    });
  }

  async refresh(): Promise<void> {
    try {
      const [rides, moments, recordings] = await Promise.all([
        apiJson<RidesListDocument>('/api/v1/rides'),
        apiJson<MomentsListDocument>('/api/v1/moments').catch(() => ({ moments: [] as MomentDocument[] })),
        listRecordings().catch(() => ({ recordings: [] })),
      ]);
      this.thumbs = new Map(
        recordings.recordings.flatMap((r) => (r.thumbnailUrl ? [[r.name, r.thumbnailUrl] as const] : [])),
      );
      this.rides = Array.isArray(rides?.rides) ? rides.rides : [];
      this.moments = new Map((moments.moments ?? []).map((m) => [m.id, m]));
      this.render();
      this.message.textContent = this.rides.length === 0 ? 'No rides yet.' : '';
    } catch (err) {
      this.message.textContent = `Could not load the rides: ${(err as Error).message}`;
    }
  }

  /** Newest first: one row each, closed. 900 segments make a few dozen rows, not 900 cards. */
  private render(): void {
    this.list.replaceChildren(...[...this.rides].reverse().map((r) => this.row(r)));
    this.list.setAttribute('aria-label', `${this.rides.length} rides`);
  }

  private row(r: RideDocument): HTMLLIElement {
    const start = new Date(r.start);
    const end = new Date(r.end);
    const title = `${start.toLocaleDateString()} ${start.toLocaleTimeString()}–${end.toLocaleTimeString()}`;
    const facts = [
      r.inProgress ? '● recording now' : undefined,
      formatDuration(r.durationMs),
      `${r.segments.length} segment${r.segments.length === 1 ? '' : 's'}`,
      r.moments.length ? `${r.moments.length} moment${r.moments.length === 1 ? '' : 's'}` : undefined,
    ]
      .filter(Boolean)
      .join(' · ');
    const details = el('details', { className: 'rv-ride' });
    const summary = el('summary', {}, el('strong', { textContent: title }), ` ${facts}`);
    const play = el('button', { type: 'button', textContent: 'Play ride' });
    play.setAttribute('aria-label', `Play the ride from ${title}`);
    play.addEventListener('click', () => void this.play(r, title));
    const segs = el('ol', { className: 'rv-ride-segments' });
    // Segments only when opened: a closed ride costs one row.
    details.addEventListener('toggle', () => {
      if (!details.open || segs.childElementCount) return;
      segs.append(
        ...r.segments.map((name) => {
          const base = `/api/v1/recordings/${encodeURIComponent(name.replace(/\.mkv$/, ''))}`;
          const img = el('img', { alt: '', loading: 'lazy', decoding: 'async', width: 64, height: 36 });
          const thumb = this.thumbs.get(name);
          if (thumb) img.dataset.src = thumb;
          const link = el('a', { href: `${base}.mp4`, textContent: name });
          link.setAttribute('download', name.replace(/\.mkv$/, '.mp4'));
          return el('li', {}, img, link);
        }),
      );
      this.lazyThumbs(segs);
    });
    details.append(summary, el('div', { className: 'rv-ride-actions' }, play), segs);
    const li = el('li', {}, details);
    li.dataset.ride = r.id;
    return li;
  }

  /** Thumbnails load when scrolled into view (their names are resolved by the thumbnail route). */
  private lazyThumbs(root: HTMLElement): void {
    const imgs = [...root.querySelectorAll('img[data-src]')] as HTMLImageElement[];
    const load = (img: HTMLImageElement): void => {
      img.src = img.dataset.src ?? '';
      img.removeAttribute('data-src');
    };
    if (!('IntersectionObserver' in window)) {
      for (const i of imgs) load(i);
      return;
    }
    const io = new IntersectionObserver((entries) => {
      for (const e of entries)
        if (e.isIntersecting) {
          load(e.target as HTMLImageElement);
          io.unobserve(e.target);
        }
    });
    for (const i of imgs) io.observe(i);
  }

  private async play(r: RideDocument, title: string): Promise<void> {
    const moments = r.moments.map((id) => this.moments.get(id)).filter((m): m is MomentDocument => !!m);
    await this.openPlayer(r, title, moments);
  }

  /** Opens the player; a failure is said in the rides message, never swallowed. */
  private async openPlayer(r: RideDocument, title: string, moments: MomentDocument[], atMs?: number): Promise<void> {
    try {
      this.message.textContent = '';
      await this.player.open(r, title, moments, atMs);
    } catch (err) {
      this.message.textContent = `Could not play the ride: ${(err as Error).message}`;
    }
  }

  /** The time picker: opens the ride recorded at that local time (or the nearest one) and seeks there. */
  private find(): void {
    const ms = this.picker.valueAsNumber;
    if (!Number.isFinite(ms)) return;
    // datetime-local values are local wall time read as UTC: move them back to the local zone.
    const at = ms + new Date(ms).getTimezoneOffset() * 60_000;
    const ride = rideAt(this.rides, at);
    if (!ride) {
      this.message.textContent = 'No rides yet.';
      return;
    }
    const row = this.list.querySelector(`li[data-ride="${CSS.escape(ride.id)}"] details`) as HTMLDetailsElement | null;
    if (row) {
      row.open = true;
      row.scrollIntoView({ block: 'nearest' });
    }
    const start = new Date(ride.start);
    const moments = ride.moments.map((id) => this.moments.get(id)).filter((m): m is MomentDocument => !!m);
    void this.openPlayer(ride, start.toLocaleString(), moments, at);
  }
}
