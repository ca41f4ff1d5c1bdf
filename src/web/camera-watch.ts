/**
 * Watches the camera from every section of the page: polls /api/v1/status
 * and shows, above whatever section is open, a red "NOT RECORDING: <reason>"
 * when recording failed, an amber "Recording off" when it was turned off,
 * and, when the camera stops answering, "Camera offline: last seen N s ago"
 * with the stale values greyed and the buttons that need the camera
 * (`data-needs-camera`) disabled. It also keeps the camera's name in the
 * header.
 *
 * The camera has no real-time clock: while its status says "clock not set",
 * the page gives it this device's time (`POST /api/v1/clock`, once; the
 * camera takes it only from clients allowed to change it) and shows "Camera
 * clock not set" until it is.
 */
import { showCameraName } from './page-layout.js';
import { apiJson, ApiError } from './web-api.js';

type Json = Record<string, unknown>;

/** How often the camera is asked, ms. */
const POLL_MS = 2000;
/** A status request slower than this counts as no answer, ms. */
const TIMEOUT_MS = 5000;

/** What the recording banner says: its level and its words; undefined when recording (no banner). */
export interface RecordingBanner {
  level: 'error' | 'off' | 'paused';
  text: string;
}

/** The banner for a status document's `recording` section (none while recording or starting). */
export function recordingBanner(status: Json): RecordingBanner | undefined {
  const rec = (typeof status.recording === 'object' && status.recording !== null ? status.recording : {}) as Json;
  const reason = typeof rec.reason === 'string' ? rec.reason : '';
  switch (rec.state) {
    case 'failed':
      return { level: 'error', text: `NOT RECORDING: ${typeof rec.error === 'string' ? rec.error : reason}` };
    case 'off':
      return { level: 'off', text: `Recording off: ${reason}` };
    case 'paused':
      return { level: 'paused', text: `Not recording now: ${reason}` };
    default:
      return undefined;
  }
}

/**
 * The clock banner for a status document: undefined when the camera's clock
 * is set (or the camera does not say). `refused` is why this page could not
 * set it, when it tried and failed.
 */
export function clockBanner(status: Json, refused?: string): string | undefined {
  const clock = (typeof status.clock === 'object' && status.clock !== null ? status.clock : {}) as Json;
  if (clock.set !== false) return undefined;
  const why = refused ? `this page could not give it the time (${refused})` : 'giving it the time of this device';
  return `Camera clock not set: ${why}. Recordings made meanwhile get their true times once it is set.`;
}

/** "5 s", "3 min", "2 h" ago. */
export function agoText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** The watcher; start() once. */
export class CameraWatch {
  private readonly recording = document.getElementById('recording-banner') as HTMLElement;
  private readonly offline = document.getElementById('offline-banner') as HTMLElement;
  private readonly clock = document.getElementById('clock-banner') as HTMLElement | null;
  /** This page sent its time already (once per page: the camera keeps the first client's). */
  private clockSent = false;
  /** Why the camera refused this page's time (not on a trusted network, no token). */
  private clockRefused: string | undefined;
  private poll: ReturnType<typeof setTimeout> | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  /** When the camera last answered (ms, this browser's clock); undefined before the first answer. */
  private lastSeenMs: number | undefined;
  private online = true;
  private running = false;
  /** A status request is out: its answer schedules the next one. */
  private inFlight = false;

  /** Starts polling; idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (!this.inFlight) void this.check();
    // The "last seen" count moves every second, between polls too.
    this.ticker ??= setInterval(() => this.renderOffline(), 1000);
  }

  /** True while the camera answers (or before the first failed request). */
  get isOnline(): boolean {
    return this.online;
  }

  private async check(): Promise<void> {
    this.poll = undefined;
    if (!this.running) return;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    let again = true;
    this.inFlight = true;
    try {
      const status = await apiJson<Json>('/api/v1/status', { signal: abort.signal });
      this.seen();
      // The camera's name in the header on every section, whatever the live path (WebRTC has no config message).
      if (typeof status.cameraName === 'string') showCameraName(status.cameraName);
      this.renderRecording(status);
      this.renderClock(status);
      if ((status.clock as Json | undefined)?.set === false && !this.clockSent) await this.sendClock();
    } catch (err) {
      // An HTTP error still means the camera answered. 401/429: this browser is not paired (or
      // holds an old pairing); asking again every 2 s would only count as wrong tokens.
      if (err instanceof ApiError && err.status > 0) {
        this.seen();
        if (err.status === 401 || err.status === 429) again = false;
      } else this.setOnline(false);
    } finally {
      this.inFlight = false;
      clearTimeout(timer);
      if (again && this.running) this.poll = setTimeout(() => void this.check(), POLL_MS);
      else this.running = false;
    }
  }

  private seen(): void {
    this.lastSeenMs = Date.now();
    this.setOnline(true);
  }

  private setOnline(online: boolean): void {
    const changed = this.online !== online;
    this.online = online;
    if (online) delete document.body.dataset.offline;
    else document.body.dataset.offline = '1';
    if (changed) {
      for (const el of Array.from(
        document.querySelectorAll<HTMLButtonElement | HTMLInputElement>('[data-needs-camera]'),
      ))
        el.disabled = !online;
    }
    this.renderOffline();
  }

  private renderRecording(status: Json): void {
    const banner = recordingBanner(status);
    this.recording.hidden = banner === undefined;
    const text = banner?.text ?? '';
    if (this.recording.textContent !== text) this.recording.textContent = text;
    this.recording.dataset.level = banner?.level ?? 'none';
  }

  /** Gives the camera this device's time (ms since the epoch, read as the request leaves). */
  private async sendClock(): Promise<void> {
    this.clockSent = true;
    try {
      await apiJson<Json>('/api/v1/clock', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ epochMs: Date.now() }),
      });
      this.clockRefused = undefined;
    } catch (err) {
      this.clockRefused = err instanceof Error ? err.message : String(err);
    }
  }

  private renderClock(status: Json): void {
    if (!this.clock) return;
    const text = clockBanner(status, this.clockRefused) ?? '';
    this.clock.hidden = text === '';
    if (this.clock.textContent !== text) this.clock.textContent = text;
  }

  private renderOffline(): void {
    this.offline.hidden = this.online;
    if (this.online) return;
    const seen =
      this.lastSeenMs === undefined
        ? 'The camera does not answer: it may be switched off or out of Wi-Fi range.'
        : `Camera offline: last seen ${agoText(Date.now() - this.lastSeenMs)} ago. The values shown are from then; changes wait until it is back.`;
    if (this.offline.textContent !== seen) this.offline.textContent = seen;
  }

  /** Stops polling (while the page must be paired first). */
  stop(): void {
    this.running = false;
    clearTimeout(this.poll);
    clearInterval(this.ticker);
    this.poll = undefined;
    this.ticker = undefined;
  }
}
