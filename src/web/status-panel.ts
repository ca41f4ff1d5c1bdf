/**
 * Device status (mode and streaming window, battery, charging, temperature,
 * clients, recording) kept live from the /api/v1/events Server-Sent Events
 * feed, with a polling fallback, and the settings form for /api/v1/settings
 * built from the values the camera reports.
 */
import { formatBytes } from '../util/units.js';
import { apiJson, withToken } from './web-api.js';

type Json = Record<string, unknown>;

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Json)[key];
  }
  return cur;
}

function first(obj: unknown, ...paths: string[]): unknown {
  for (const p of paths) {
    const v = get(obj, p);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** The rows shown for a status object: label and text. */
export function statusRows(s: Json): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  const add = (label: string, value: unknown, fmt: (v: never) => string = (v) => String(v)): void => {
    if (value !== undefined && value !== null && value !== '') rows.push([label, fmt(value as never)]);
  };
  // Field names of the /api/v1/status document (src/api/status-document.ts), with a few aliases.
  add('Mode', first(s, 'mode'), (v: unknown) => String(v));
  add('Now', first(s, 'activity'), (v: unknown) => String(v) + (s.modeReason ? ` (${String(s.modeReason)})` : ''));
  add('Streaming window ends', first(s, 'windowEndsAtMs', 'windowEndsAt'), (v: string | number) => new Date(v).toLocaleTimeString());
  add('Battery', first(s, 'battery.percent'), (v: number) => `${v} %`);
  add('Battery voltage', first(s, 'battery.millivolts'), (v: number) => `${(v / 1000).toFixed(2)} V`);
  add('Charging', first(s, 'battery.charging'), (v: boolean) => (v ? 'yes' : 'no'));
  add('Temperature', first(s, 'temperatureC'), (v: number) => `${v} °C`);
  add('Stream clients', first(s, 'stream.clients'), (v: unknown) => (Array.isArray(v) ? String(v.length) : String(v)));
  add('Resolution', first(s, 'stream.resolution'), (v: unknown) => String(v).replace('x', '×'));
  add('Frame rate', first(s, 'stream.fps'), (v: number) => `${Math.round(v * 10) / 10} fps`);
  add('Bitrate', first(s, 'stream.measuredBitrateBps', 'stream.bitrateBps'), (v: number) => `${(v / 1e6).toFixed(2)} Mbit/s`);
  add('Recording', first(s, 'recording.active'), (v: unknown) =>
    typeof v === 'boolean' ? (v ? `recording${get(s, 'recording.currentSegment') ? ` (${String(get(s, 'recording.currentSegment'))})` : ''}` : 'not recording') : String(v));
  add('Disk used by recordings', first(s, 'disk.usedBytes'), (v: number) => formatBytes(v));
  add('Disk free', first(s, 'disk.freeBytes'), (v: number) => formatBytes(v) + (typeof get(s, 'disk.totalBytes') === 'number' ? ` of ${formatBytes(get(s, 'disk.totalBytes') as number)}` : ''));
  add('Uptime', first(s, 'uptimeMs'), (v: number) => `${Math.floor(v / 3_600_000)} h ${Math.floor((v % 3_600_000) / 60_000)} min`);
  add('Version', first(s, 'version'));
  const simulated = get(s, 'simulated');
  if (typeof simulated === 'object' && simulated !== null) {
    const parts = Object.entries(simulated as Json).filter(([, v]) => v === true).map(([k]) => k);
    if (parts.length > 0) rows.push(['Simulated hardware', parts.join(', ')]);
  }
  return rows;
}

/** The status section; start() when shown, stop() when hidden. */
export class StatusPanel {
  private readonly list = document.getElementById('status-list') as HTMLElement;
  private readonly live = document.getElementById('status-live') as HTMLElement;
  private readonly form = document.getElementById('settings-form') as HTMLFormElement;
  private readonly fields = document.getElementById('settings-fields') as HTMLElement;
  private readonly formMessage = document.getElementById('settings-message') as HTMLElement;
  private events: EventSource | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private status: Json = {};
  private settings: Json = {};

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.save();
    });
  }

  start(): void {
    void this.load();
    void this.loadSettings();
    if (typeof EventSource === 'function' && !this.events) {
      const es = new EventSource(withToken('/api/v1/events'));
      this.events = es;
      const onEvent = (ev: MessageEvent): void => {
        try {
          const data = JSON.parse(String(ev.data)) as Json;
          // A full status, or a partial update merged into the last one.
          this.status = { ...this.status, ...((data.status as Json | undefined) ?? data) };
          this.render();
          this.live.textContent = 'Updating live.';
        } catch {
          // not JSON: ignore
        }
      };
      es.onmessage = onEvent;
      es.addEventListener('status', onEvent as EventListener);
      es.addEventListener('mode', onEvent as EventListener);
      es.onerror = () => {
        this.live.textContent = 'Live updates interrupted; retrying.';
      };
    }
    // Polling as a safety net when the event feed is missing.
    this.poll ??= setInterval(() => void this.load(), 5000);
  }

  stop(): void {
    this.events?.close();
    this.events = undefined;
    clearInterval(this.poll);
    this.poll = undefined;
  }

  private async load(): Promise<void> {
    try {
      this.status = await apiJson<Json>('/api/v1/status');
      this.render();
    } catch (err) {
      this.live.textContent = `Status unavailable: ${(err as Error).message}`;
    }
  }

  private render(): void {
    const rows = statusRows(this.status);
    this.list.replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }));
  }

  private async loadSettings(): Promise<void> {
    try {
      const body = await apiJson<Json>('/api/v1/settings');
      this.settings = (body.settings as Json | undefined) ?? body;
      this.renderSettings();
    } catch (err) {
      this.formMessage.textContent = `Settings unavailable: ${(err as Error).message}`;
    }
  }

  /** One labelled input per setting, typed from its current value. */
  private renderSettings(): void {
    const inputs: HTMLElement[] = [];
    for (const [key, value] of Object.entries(this.settings)) {
      if (typeof value === 'object' && value !== null) continue;
      const id = `setting-${key}`;
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.id = id;
      input.name = key;
      if (typeof value === 'boolean') {
        label.className = 'check';
        input.type = 'checkbox';
        input.checked = value;
        label.append(input, key);
      } else {
        input.type = typeof value === 'number' ? 'number' : 'text';
        input.value = String(value ?? '');
        label.append(key, input);
      }
      label.htmlFor = id;
      inputs.push(label);
    }
    this.fields.replaceChildren(...inputs);
  }

  private async save(): Promise<void> {
    const patch: Json = {};
    for (const [key, old] of Object.entries(this.settings)) {
      const input = this.form.elements.namedItem(key) as HTMLInputElement | null;
      if (!input) continue;
      const value = typeof old === 'boolean' ? input.checked : typeof old === 'number' ? Number(input.value) : input.value;
      if (value !== old) patch[key] = value;
    }
    if (Object.keys(patch).length === 0) {
      this.formMessage.textContent = 'Nothing changed.';
      return;
    }
    try {
      const body = await apiJson<Json>('/api/v1/settings', { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(patch) });
      this.settings = (body?.settings as Json | undefined) ?? body ?? { ...this.settings, ...patch };
      this.renderSettings();
      this.formMessage.textContent = 'Saved.';
    } catch (err) {
      this.formMessage.textContent = `Not saved: ${(err as Error).message}`;
    }
  }
}
