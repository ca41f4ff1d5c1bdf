/**
 * The recordings gallery: thumbnails with date, time, duration and size;
 * play in the page (MP4, seekable), download, delete one, delete all (each
 * destructive action confirmed with the browser's own dialog, which screen
 * readers and keyboards handle), and the storage use.
 */
import { formatBytes } from '../util/units.js';
import type { RecordingsUsage, StatusDocument } from '../api/wire-types.js';
import { el } from './dom.js';
import { apiJson, listRecordings, type RecordingView } from './web-api.js';

/** "1:05" from milliseconds. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Cards shown at first and added by each "Show more". */
export const CARDS_PER_PAGE = 60;

/** The gallery section; call refresh() when it is shown. */
export class Gallery {
  private readonly list = document.getElementById('recording-list') as HTMLUListElement;
  private readonly message = document.getElementById('recordings-message') as HTMLElement;
  private readonly storage = document.getElementById('storage') as HTMLElement;
  private readonly player = document.getElementById('player') as HTMLDialogElement;
  private readonly playerVideo = document.getElementById('player-video') as HTMLVideoElement;
  private readonly playerTitle = document.getElementById('player-title') as HTMLElement;
  private readonly more = document.getElementById('more-recordings') as HTMLButtonElement;
  /** The recordings last listed, newest first, and how many of them have a card. */
  private all: RecordingView[] = [];
  private shown = 0;

  constructor() {
    document.getElementById('refresh-recordings')?.addEventListener('click', () => void this.refresh());
    document.getElementById('wipe')?.addEventListener('click', () => void this.wipe());
    this.more.addEventListener('click', () => this.showMore());
    this.player.addEventListener('close', () => {
      this.playerVideo.pause();
      this.playerVideo.removeAttribute('src');
      this.playerVideo.load();
    });
  }

  /** Reloads the list and the storage figures; `note` is shown as the result of the last action. */
  async refresh(note?: string): Promise<void> {
    try {
      const { recordings, usage } = await listRecordings();
      this.render(recordings);
      this.message.textContent = [note, recordings.length === 0 ? 'No recordings yet.' : ''].filter(Boolean).join(' ');
      if (usage) this.storage.textContent = storageText(usage);
      else void this.refreshStorage();
    } catch (err) {
      this.message.textContent = [note, `Could not load the recordings: ${(err as Error).message}`]
        .filter(Boolean)
        .join(' ');
    }
  }

  private async refreshStorage(): Promise<void> {
    try {
      const status = await apiJson<StatusDocument>('/api/v1/status');
      this.storage.textContent = storageText(status.disk);
    } catch {
      this.storage.textContent = '';
    }
  }

  private render(recordings: RecordingView[]): void {
    const total = recordings.reduce((sum, r) => sum + r.sizeBytes, 0);
    this.all = recordings;
    // The newest page only: a full card ring (900 one-minute segments) is hundreds of cards; the rides
    // above group them, and "Show more" adds the next page.
    this.shown = Math.min(recordings.length, Math.max(CARDS_PER_PAGE, Math.min(this.shown, recordings.length)));
    this.list.replaceChildren(...recordings.slice(0, this.shown).map((r) => this.card(r)));
    this.list.setAttribute('aria-label', `${recordings.length} recordings, ${formatBytes(total)}`);
    this.updateMore();
  }

  /** Adds the next page of cards. */
  private showMore(): void {
    const next = this.all.slice(this.shown, this.shown + CARDS_PER_PAGE);
    this.list.append(...next.map((r) => this.card(r)));
    this.shown += next.length;
    this.updateMore();
  }

  private updateMore(): void {
    const left = this.all.length - this.shown;
    this.more.hidden = left <= 0;
    this.more.textContent = `Show ${Math.min(left, CARDS_PER_PAGE)} more (${left} older not shown)`;
  }

  private card(r: RecordingView): HTMLLIElement {
    const date = Number.isFinite(r.startedAtMs) ? new Date(r.startedAtMs) : undefined;
    const when = date ? `${date.toLocaleDateString()} ${date.toLocaleTimeString()}` : r.name;
    const facts = [
      r.inProgress ? '● recording now' : undefined,
      r.durationMs !== undefined ? formatDuration(r.durationMs) : undefined,
      formatBytes(r.sizeBytes),
      r.width && r.height ? `${r.width}×${r.height}` : undefined,
    ]
      .filter(Boolean)
      .join(' · ');
    const thumb = r.thumbnailUrl
      ? el('img', {
          src: r.thumbnailUrl,
          alt: `First picture of the recording from ${when}`,
          loading: 'lazy',
          decoding: 'async',
        })
      : el('div', { className: 'nothumb', role: 'img', ariaLabel: 'No thumbnail' } as Partial<HTMLDivElement>);
    const play = el('button', { type: 'button', textContent: 'Play' });
    play.setAttribute('aria-label', `Play recording from ${when}`);
    play.addEventListener('click', () => this.play(r, when));
    const download = el('a', { href: r.downloadUrl, textContent: 'Download' });
    download.setAttribute('download', r.name.replace(/\.mkv$/, '.mp4'));
    download.setAttribute('aria-label', `Download recording from ${when}`);
    const mkv = r.mkvUrl ? el('a', { href: r.mkvUrl, textContent: 'MKV' }) : undefined;
    mkv?.setAttribute('download', r.name);
    mkv?.setAttribute('aria-label', `Download the original Matroska file of the recording from ${when}`);
    const del = el('button', { type: 'button', textContent: 'Delete' });
    del.setAttribute('aria-label', `Delete recording from ${when}`);
    // Deleting needs the camera: disabled while it does not answer (camera-watch.ts).
    del.dataset.needsCamera = '';
    del.disabled = document.body.dataset.offline === '1';
    del.addEventListener('click', () => void this.remove(r, when));
    const li = el(
      'li',
      { className: 'card' },
      thumb,
      el('div', { className: 'meta' }, el('strong', { textContent: when }), facts),
      el('div', { className: 'actions' }, ...(r.inProgress ? [] : [play, download, ...(mkv ? [mkv] : []), del])),
    );
    li.dataset.name = r.name;
    return li;
  }

  private play(r: RecordingView, when: string): void {
    this.playerTitle.textContent = `Recording from ${when}`;
    this.playerVideo.src = r.playUrl;
    this.player.showModal();
    void this.playerVideo.play().catch(() => {
      // autoplay refused: the player's own controls start it
    });
  }

  private async remove(r: RecordingView, when: string): Promise<void> {
    if (!confirm(`Delete the recording from ${when}? This cannot be undone.`)) return;
    let note: string;
    try {
      await apiJson(r.deleteUrl, { method: 'DELETE' });
      note = `Deleted the recording from ${when}.`;
    } catch (err) {
      note = `Could not delete it: ${(err as Error).message}`;
    }
    await this.refresh(note);
    // The focused card is gone: keep keyboard users in place, on the result.
    this.message.focus();
  }

  private async wipe(): Promise<void> {
    if (!confirm('Delete ALL recordings on the camera? This cannot be undone.')) return;
    let note: string;
    try {
      await apiJson('/api/v1/recordings', { method: 'DELETE' });
      note = 'All recordings deleted.';
    } catch (err) {
      note = `Could not delete the recordings: ${(err as Error).message}`;
    }
    await this.refresh(note);
    this.message.focus();
  }
}

/** "Recordings use 1.2 GB; 20 GB free of 32 GB" from the disk figures of /api/v1/recordings or /api/v1/status. */
export function storageText(disk: RecordingsUsage | null): string {
  if (!disk) return '';
  const parts = [`Recordings use ${formatBytes(disk.usedBytes)}`];
  if (disk.freeBytes !== null)
    parts.push(
      `${formatBytes(disk.freeBytes)} free${disk.totalBytes !== null ? ` of ${formatBytes(disk.totalBytes)}` : ''}`,
    );
  return parts.join('; ');
}
