/**
 * Device status (mode and streaming window, battery, charging, temperature,
 * clients, recording) kept live from the /api/v1/events Server-Sent Events
 * feed, with a polling fallback, and the settings form for /api/v1/settings
 * built from the values the camera reports.
 */
import { formatBytes } from '../util/units.js';
import { apiJson } from './web-api.js';

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

/** Where a set clock's time came from, in words. */
const CLOCK_SOURCES: Record<string, string> = {
  ntp: 'network time',
  client: 'from a phone or computer',
  system: "the system's clock",
};

/** The rows shown for a status object: label and text. */
export function statusRows(s: Json): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  const add = (label: string, value: unknown, fmt: (v: never) => string = (v) => String(v)): void => {
    if (value !== undefined && value !== null && value !== '') rows.push([label, fmt(value as never)]);
  };
  // Field names of the /api/v1/status document (src/api/status-document.ts), with a few aliases.
  add('Mode', first(s, 'mode'), (v: unknown) => String(v));
  const recordingState = get(s, 'recording.state');
  // The mode's 'both' is what the mode allows; the recording section says whether it really records.
  const notRecording = recordingState === 'off' || recordingState === 'paused' || recordingState === 'failed';
  add('Now', first(s, 'activity'), (v: unknown) =>
    v === 'both' && notRecording
      ? 'streaming, not recording'
      : String(v) + (s.modeReason ? ` (${String(s.modeReason)})` : ''),
  );
  add('Streaming window ends', first(s, 'windowEndsAtMs', 'windowEndsAt'), (v: string | number) =>
    new Date(v).toLocaleTimeString(),
  );
  add('Camera clock', get(s, 'clock.set'), (v: boolean) =>
    v
      ? `${new Date(String(get(s, 'clock.now'))).toLocaleString()} (${CLOCK_SOURCES[String(get(s, 'clock.source'))] ?? 'set'})`
      : 'clock not set',
  );
  add('Battery', first(s, 'battery.percent'), (v: number) => `${v} %`);
  const gauge = get(s, 'battery.gauge');
  if (gauge === 'missing') rows.push(['Battery', 'unknown: no fuel gauge answered']);
  else if (gauge === 'none') rows.push(['Battery', 'no fuel gauge']);
  add('Battery voltage', first(s, 'battery.millivolts'), (v: number) => `${(v / 1000).toFixed(2)} V`);
  add('Charging', first(s, 'battery.charging'), (v: boolean) => (v ? 'yes' : 'no'));
  add('Temperature', first(s, 'temperatureC'), (v: number) => `${v} °C`);
  add('Stream clients', first(s, 'stream.clients'), (v: unknown) => (Array.isArray(v) ? String(v.length) : String(v)));
  add('Resolution', first(s, 'stream.resolution'), (v: unknown) => String(v).replace('x', '×'));
  add('Frame rate', first(s, 'stream.fps'), (v: number) => `${Math.round(v * 10) / 10} fps`);
  add(
    'Bitrate',
    first(s, 'stream.measuredBitrateBps', 'stream.bitrateBps'),
    (v: number) => `${(v / 1e6).toFixed(2)} Mbit/s`,
  );
  const segment = get(s, 'recording.currentSegment') ? ` (${String(get(s, 'recording.currentSegment'))})` : '';
  const reason = String(get(s, 'recording.reason') ?? '');
  add('Recording', first(s, 'recording.active'), (v: unknown) => {
    switch (recordingState) {
      case 'failed':
        return `NOT RECORDING: ${String(get(s, 'recording.error') ?? reason)}`;
      case 'off':
        return `off: ${reason}`;
      case 'paused':
        return `paused: ${reason}`;
      case 'starting':
        return `starting: ${reason}`;
      default:
        return typeof v === 'boolean' ? (v ? `recording${segment}` : 'not recording') : String(v);
    }
  });
  // One line for uploads (absent when they are off): state, queue, uploaded, failures.
  add('Upload', get(s, 'upload.state'), (v: string) => {
    const n = (k: string): number =>
      typeof get(s, `upload.${k}`) === 'number' ? (get(s, `upload.${k}`) as number) : 0;
    const why = get(s, 'upload.reason');
    return `${v}: ${n('queueLength')} queued (${formatBytes(n('queueBytes'))}), ${n('uploaded')} uploaded, ${n('failures')} failure(s)${typeof why === 'string' ? ` (${why})` : ''}`;
  });
  // Publishing targets (URLs arrive masked): one short line each.
  const publish = get(s, 'publish');
  if (Array.isArray(publish))
    for (const p of publish as Json[])
      rows.push([
        'Publishing',
        `${String(p.url)}: ${String(p.state)}${p.state !== 'publishing' && p.lastError ? ` (${String(p.lastError)})` : ''}`,
      ]);
  add('Disk used by recordings', first(s, 'disk.usedBytes'), (v: number) => formatBytes(v));
  add(
    'Disk free',
    first(s, 'disk.freeBytes'),
    (v: number) =>
      formatBytes(v) +
      (typeof get(s, 'disk.totalBytes') === 'number' ? ` of ${formatBytes(get(s, 'disk.totalBytes') as number)}` : ''),
  );
  add(
    'Uptime',
    first(s, 'uptimeMs'),
    (v: number) => `${Math.floor(v / 3_600_000)} h ${Math.floor((v % 3_600_000) / 60_000)} min`,
  );
  add('Version', first(s, 'version'));
  const simulated = get(s, 'simulated');
  if (typeof simulated === 'object' && simulated !== null) {
    const parts = Object.entries(simulated as Json)
      .filter(([, v]) => v === true)
      .map(([k]) => k);
    if (parts.length > 0) rows.push(['Simulated hardware', parts.join(', ')]);
  }
  return rows;
}

/** How one setting is edited. `scale`: stored value = shown value × scale (ms shown as s). */
interface SettingField {
  key: string;
  label: string;
  kind: 'text' | 'number' | 'bool' | 'select';
  options?: string[];
  scale?: number;
  min?: number;
}

/** The /api/v1/settings values the form knows, in display order. */
const SETTING_FIELDS: SettingField[] = [
  { key: 'cameraName', label: 'Camera name', kind: 'text' },
  { key: 'resolution', label: 'Resolution', kind: 'select', options: ['640x360', '1280x720', '1920x1080'] },
  { key: 'video.fps', label: 'Frame rate (fps)', kind: 'number', min: 1 },
  { key: 'video.bitrateBps', label: 'Bitrate (kbit/s)', kind: 'number', scale: 1000, min: 1 },
  { key: 'video.intraPeriod', label: 'Keyframe every (frames)', kind: 'number', min: 1 },
  { key: 'video.profile', label: 'H.264 profile', kind: 'select', options: ['baseline', 'main', 'high'] },
  { key: 'record', label: 'Record while streaming', kind: 'bool' },
  { key: 'segmentMs', label: 'Segment length (seconds)', kind: 'number', scale: 1000, min: 1 },
  { key: 'maxFiles', label: 'Keep at most this many segments', kind: 'number', min: 1 },
  { key: 'maxBytes', label: 'Recordings may use at most (MB, 0 = no limit)', kind: 'number', scale: 1_000_000, min: 0 },
  { key: 'minFreeBytes', label: 'Keep free on the card (MB)', kind: 'number', scale: 1_000_000, min: 0 },
  { key: 'minFreePercent', label: 'Keep free on the card (%)', kind: 'number', min: 0 },
  { key: 'streamWindowMs', label: 'Streaming window in exclusive mode (seconds)', kind: 'number', scale: 1000, min: 1 },
  {
    key: 'join',
    label: 'New viewers start at',
    kind: 'select',
    options: ['latest-keyframe', 'next-keyframe', 'live-edge'],
  },
  { key: 'timestamps', label: 'Capture-time stamps in the stream', kind: 'bool' },
];

function settingInput(spec: SettingField, value: unknown): HTMLElement {
  const id = `setting-${spec.key.replace('.', '-')}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  let input: HTMLInputElement | HTMLSelectElement;
  if (spec.kind === 'select') {
    const select = document.createElement('select');
    const options = [...(spec.options ?? [])];
    if (!options.includes(String(value))) options.unshift(String(value));
    for (const o of options)
      select.append(new Option(o.replace(/^(\d+)x(\d+)$/, '$1×$2'), o, false, o === String(value)));
    input = select;
  } else {
    const el = document.createElement('input');
    if (spec.kind === 'bool') {
      el.type = 'checkbox';
      el.checked = value === true;
      label.className = 'check';
    } else if (spec.kind === 'number') {
      el.type = 'number';
      el.step = 'any';
      if (spec.min !== undefined) el.min = String(spec.min);
      el.value = String(Number(value) / (spec.scale ?? 1));
    } else {
      el.type = 'text';
      el.value = String(value ?? '');
    }
    input = el;
  }
  input.id = id;
  input.name = spec.key;
  input.dataset.key = spec.key;
  input.dataset.kind = spec.kind === 'select' ? 'text' : spec.kind;
  if (spec.scale) input.dataset.scale = String(spec.scale);
  if (spec.kind === 'bool') label.append(input, spec.label);
  else label.append(spec.label, input);
  return label;
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
      const es = new EventSource('/api/v1/events');
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
    this.list.replaceChildren(
      ...rows.flatMap(([k, v]) => {
        const dt = document.createElement('dt');
        dt.textContent = k;
        const dd = document.createElement('dd');
        dd.textContent = v;
        return [dt, dd];
      }),
    );
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

  /** One labelled input per setting: the known ones with friendly labels and units, then any others. */
  private renderSettings(): void {
    const inputs: HTMLElement[] = [];
    const seen = new Set<string>(['settingsFile', 'video']);
    for (const spec of SETTING_FIELDS) {
      const value = get(this.settings, spec.key);
      if (value === undefined) continue;
      seen.add(spec.key);
      inputs.push(settingInput(spec, value));
    }
    for (const [key, value] of Object.entries(this.settings)) {
      // Objects, lists and null are read-only views (publish, upload, STUN/TURN servers): no input for them.
      if (seen.has(key) || typeof value === 'object') continue;
      inputs.push(
        settingInput(
          {
            key,
            label: key,
            kind: typeof value === 'boolean' ? 'bool' : typeof value === 'number' ? 'number' : 'text',
          },
          value,
        ),
      );
    }
    this.fields.replaceChildren(...inputs);
  }

  private async save(): Promise<void> {
    const patch: Json = {};
    const video: Json = {};
    for (const input of Array.from(this.form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-key]'))) {
      const key = input.dataset.key as string;
      const kind = input.dataset.kind as SettingField['kind'];
      const scale = Number(input.dataset.scale ?? '1');
      const old = get(this.settings, key);
      let value: unknown;
      if (kind === 'bool') value = (input as HTMLInputElement).checked;
      else if (kind === 'number') value = Math.round(Number(input.value) * scale);
      else value = input.value;
      if (value === old) continue;
      if (kind === 'number' && !Number.isFinite(value as number)) {
        this.formMessage.textContent = `${key}: not a number`;
        input.focus();
        return;
      }
      if (key.startsWith('video.')) video[key.slice(6)] = value;
      else patch[key] = value;
    }
    if (Object.keys(video).length > 0) patch.video = video;
    if (Object.keys(patch).length === 0) {
      this.formMessage.textContent = 'Nothing changed.';
      return;
    }
    try {
      const body = await apiJson<Json>('/api/v1/settings', {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(patch),
      });
      if (body && typeof body === 'object') this.settings = body;
      this.renderSettings();
      const applied = body?.applied as { restartedSource?: boolean } | undefined;
      // Keys the daemon saved but cannot apply while running (PATCH answer's restartRequired).
      const pending = Array.isArray(body?.restartRequired) ? (body.restartRequired as unknown[]).map(String) : [];
      const later = pending.length > 0 ? ` ${pending.join(', ')}: takes effect when the camera restarts.` : '';
      this.formMessage.textContent =
        (applied?.restartedSource ? 'Saved; the camera restarted its encoder.' : 'Saved.') + later;
    } catch (err) {
      this.formMessage.textContent = `Not saved: ${(err as Error).message}`;
    }
  }
}
