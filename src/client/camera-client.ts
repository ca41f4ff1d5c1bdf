/**
 * `CameraClient`: typed access to every HTTP endpoint of a Rearview camera on
 * port 8000, the device's documented legacy routes and the `/api/v1` JSON API
 * (docs/client.md). Node only (downloads write files): the global `fetch` of Node >= 20 (undici),
 * a timeout on every request, and errors that say what failed.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, stat, truncate } from 'node:fs/promises';
import { makeDirectory } from '../util/make-directory.js';
import { dirname } from 'node:path';
import type {
  MomentDeleteResult,
  MomentDocument,
  MomentsListDocument,
  RideDocument,
  RidesListDocument,
  ClockSetResult,
  RecordingDocument,
  RecordingsListDocument,
  SettingsDocument,
  SettingsPatch,
  SettingsPatchResult,
  StatusDocument,
} from '../api/wire-types.js';
import { ClientError, describeNetworkError } from './client-error.js';

export type {
  MomentDeleteResult,
  MomentDocument,
  MomentsListDocument,
  RideDocument,
  RidesListDocument,
  ClockDocument,
  ClockSetResult,
  RecordingDocument,
  RecordingsListDocument,
  SettingsDocument,
  SettingsPatch,
  SettingsPatchResult,
  StatusDocument,
} from '../api/wire-types.js';

/** Options of {@link CameraClient}. */
export interface CameraClientOptions {
  /** Time allowed for a request to answer, in ms. Default 5000. For downloads, the longest pause between two chunks. */
  timeoutMs?: number;
  /** Access token sent as `Authorization: Bearer` when the camera was started with `--api-token`. */
  token?: string;
  /** The fetch implementation (tests, proxies). Default: the global fetch. */
  fetch?: typeof fetch;
}

/** One entry of the legacy `GET /list-local-videos`. */
export interface LegacyVideoEntry {
  /** Absolute path of the `.mkv` segment on the camera. */
  path: string;
  /** Last modification time, Unix seconds as a string (older firmware: an ISO-like date). */
  date_updated: string;
}

/** One recording as listed by `GET /api/v1/recordings` ({@link RecordingDocument}), with an absolute thumbnail URL. */
export interface Recording {
  /** File name, e.g. `log0001.mkv`. */
  name: string;
  /** Size of the `.mkv` in bytes. */
  sizeBytes: number;
  /** Start time, ISO 8601; the last modification time when the start is not known. */
  startedAt: string;
  /** Duration in ms, when known. */
  durationMs: number | undefined;
  /** Video size in pixels, when known. */
  width: number | undefined;
  height: number | undefined;
  /** True while the camera is still writing this segment. */
  inProgress: boolean;
  /** Kept by a moment: out of rotation and wipe (false from cameras that do not say). */
  protected: boolean;
  /** Absolute URL of the thumbnail JPEG, when there is one. */
  thumbnailUrl: string | undefined;
  /** The entry exactly as the camera sent it. */
  raw: RecordingDocument;
}

/** `GET /api/v1/status`: the camera's state (docs/api.md). */
export type CameraStatus = StatusDocument;

/** `GET /api/v1/settings`: resolution, bitrate, fps, segment length, streaming window, ... (docs/api.md). */
export type CameraSettings = SettingsDocument;

/** Progress of a download: bytes on disk so far (including a resumed part) and the total when known. */
export type DownloadProgress = (receivedBytes: number, totalBytes: number | undefined) => void;

/** Options of {@link CameraClient.download}. */
export interface DownloadOptions {
  /** `'mkv'` (default): the segment itself, byte for byte; `'mp4'`: converted by the camera. */
  format?: 'mkv' | 'mp4';
  /** Called as bytes arrive (at most once per chunk). */
  onProgress?: DownloadProgress;
  /**
   * Continue a previous attempt from `<dest>.part` with an HTTP Range request
   * (default true). The part file is renamed to `dest` only once complete.
   */
  resume?: boolean;
  /** Cancels the download; the part file stays for a later resume. */
  signal?: AbortSignal;
}

/** What {@link CameraClient.download} did. */
export interface DownloadResult {
  /** Final file path. */
  path: string;
  /** Size of the complete file in bytes. */
  bytes: number;
  /** Bytes transferred by this call (less than `bytes` when resumed). */
  transferredBytes: number;
  /** True when an earlier partial download was continued. */
  resumed: boolean;
}

/** What to cut with {@link CameraClient.clip}: a start and an end, or a start and a length. Dates or ISO 8601 strings with a zone. */
export type ClipRange = { from: Date | string; to: Date | string } | { from: Date | string; durationMs: number };

/** Options of {@link CameraClient.clip}. */
export interface ClipOptions {
  /** Bytes on disk so far and the camera's estimate of the total (a clip is streamed without a length). */
  onProgress?: DownloadProgress;
  signal?: AbortSignal;
}

/** What {@link CameraClient.clip} saved. */
export interface ClipDownloadResult {
  path: string;
  bytes: number;
  /** Capture time of the clip's first frame (the keyframe at or before `from`), ISO 8601. */
  start: string;
  /** How much before `from` the clip starts, ms. */
  leadInMs: number;
  /** The segments it spans. */
  segments: string[];
}

/** The greeting the camera answers on `GET /`; anything else is not a Rearview. */
export const REARVIEW_GREETING = 'Welcome to Velovision Rearview';

/** Default API port of the camera. */
export const DEFAULT_API_PORT = 8000;

/**
 * Turns `host`, `host:port`, `http://host:port` or `[v6]:port` into the API
 * base URL (`http://host:8000` by default), without a trailing slash.
 */
export function cameraBaseUrl(camera: string, defaultPort = DEFAULT_API_PORT): string {
  const text = camera.trim();
  if (text === '') throw new TypeError('camera: expected a host name or address');
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`camera: cannot read "${camera}" as host[:port]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`camera: expected http:// or a host name, got "${camera}"`);
  if (!url.port) url.port = String(defaultPort);
  return `${url.protocol}//${url.host}`;
}

/** Longest wait for a clip's answer to begin, ms (the converter may be busy with a download). */
const CLIP_ANSWER_TIMEOUT_MS = 60_000;

/** Typed client of one camera's HTTP API. Stateless apart from its options: no close() needed. */
export class CameraClient {
  /** Base URL such as `http://192.168.9.1:8000`. */
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  /** `camera`: `host`, `host:port` or `http://host:port` (port 8000 by default). */
  constructor(camera: string, options: CameraClientOptions = {}) {
    this.baseUrl = cameraBaseUrl(camera);
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0)
      throw new RangeError(`timeoutMs must be a positive number, got ${this.timeoutMs}`);
    this.token = options.token;
    this.fetchImpl = options.fetch ?? fetch;
  }

  // ---- legacy routes (the device's documented API) ----

  /** `GET /`: the greeting text. */
  async greeting(): Promise<string> {
    return this.text('GET', '/');
  }

  /** Throws ERR_NOT_REARVIEW unless `GET /` answers the Rearview greeting. */
  async assertRearview(): Promise<void> {
    let text: string;
    try {
      text = await this.greeting();
    } catch (err) {
      if (err instanceof ClientError && err.code === 'ERR_CLIENT_HTTP') {
        throw new ClientError(
          'ERR_NOT_REARVIEW',
          `${this.baseUrl} is not a Rearview camera (GET / answered HTTP ${err.status})`,
          { url: err.url, status: err.status, cause: err },
        );
      }
      throw err;
    }
    if (text.trim() !== REARVIEW_GREETING) {
      throw new ClientError(
        'ERR_NOT_REARVIEW',
        `${this.baseUrl} is not a Rearview camera (GET / answered ${JSON.stringify(text.slice(0, 40))})`,
        { url: `${this.baseUrl}/` },
      );
    }
  }

  /** `GET /battery-percent`: state of charge in percent (may exceed 100). */
  async batteryPercent(): Promise<number> {
    return this.integer('/battery-percent');
  }

  /** `GET /battery-millivolts`: cell voltage in mV. */
  async batteryMillivolts(): Promise<number> {
    return this.integer('/battery-millivolts');
  }

  /** `GET /cpu-temp`: CPU temperature in whole degrees Celsius. */
  async cpuTemperatureC(): Promise<number> {
    return this.integer('/cpu-temp');
  }

  /** `GET /is-charging`. */
  async isCharging(): Promise<boolean> {
    return this.boolean('/is-charging');
  }

  /** `GET /camera-stream-status`: true while the port-5000 stream is served. */
  async cameraStreamStatus(): Promise<boolean> {
    return this.boolean('/camera-stream-status');
  }

  /** `GET /list-local-videos`: segments sorted old to new, with absolute camera paths. */
  async listLocalVideos(): Promise<LegacyVideoEntry[]> {
    const body = await this.json('GET', '/list-local-videos');
    if (!Array.isArray(body)) throw this.badBody('/list-local-videos', 'expected a JSON array');
    return body as LegacyVideoEntry[];
  }

  /** `GET /download-thumbnail?<absolute path>`: the JPEG bytes. */
  async legacyThumbnail(cameraPath: string): Promise<Uint8Array> {
    return (await this.call('GET', `/download-thumbnail?${cameraPath}`)).body;
  }

  /**
   * Legacy download to a file: `'mp4'` uses `GET /download-video?<path>` (converted),
   * `'mkv'` the older `POST /download-video` with the path as body (the segment itself).
   * No resume: the legacy routes have no Range support.
   */
  async legacyDownload(
    cameraPath: string,
    dest: string,
    options: Omit<DownloadOptions, 'resume'> = {},
  ): Promise<DownloadResult> {
    const format = options.format ?? 'mp4';
    await ensureFolder(dirname(dest));
    const res =
      format === 'mp4'
        ? await this.request('GET', `/download-video?${cameraPath}`, { signal: options.signal })
        : await this.request('POST', '/download-video', { body: cameraPath, signal: options.signal });
    return this.saveBody(res, dest, { offset: 0, onProgress: options.onProgress, signal: options.signal });
  }

  /** `GET /wipe-local-videos`: deletes every recording (legacy route). */
  async legacyWipe(): Promise<string> {
    return this.text('GET', '/wipe-local-videos');
  }

  /** `PUT /blink-on`: LED blink pattern on. */
  async blinkOn(): Promise<string> {
    return this.text('PUT', '/blink-on');
  }

  /** `PUT /blink-off`: LED blink pattern off. */
  async blinkOff(): Promise<string> {
    return this.text('PUT', '/blink-off');
  }

  /** `PUT /restart-stream-mode`: (re)opens the streaming window (exclusive mode). */
  async restartStreamMode(): Promise<string> {
    return this.text('PUT', '/restart-stream-mode');
  }

  // ---- /api/v1 ----

  /** `GET /api/v1/status`. */
  async status(): Promise<CameraStatus> {
    return (await this.json('GET', '/api/v1/status')) as CameraStatus;
  }

  /** True when the camera has the `/api/v1` API (ours), false for the original device firmware. */
  async hasV1(): Promise<boolean> {
    try {
      await this.status();
      return true;
    } catch (err) {
      if (err instanceof ClientError && err.code === 'ERR_CLIENT_HTTP' && (err.status === 404 || err.status === 501))
        return false;
      throw err;
    }
  }

  /** `GET /api/v1/recordings`, normalised, old to new. */
  async recordings(): Promise<Recording[]> {
    const body = await this.json('GET', '/api/v1/recordings');
    const list =
      typeof body === 'object' && body !== null ? (body as Partial<RecordingsListDocument>).recordings : undefined;
    if (!Array.isArray(list)) throw this.badBody('/api/v1/recordings', 'expected {"recordings":[...]}');
    return list.map((entry) => this.toRecording(entry));
  }

  /** URL of a recording's bytes (`/api/v1/recordings/:name`), optionally as MP4. */
  recordingUrl(name: string, format: 'mkv' | 'mp4' = 'mkv'): string {
    const file = format === 'mp4' ? name.replace(/\.mkv$/i, '.mp4') : name;
    return `${this.baseUrl}/api/v1/recordings/${encodeURIComponent(file)}`;
  }

  /**
   * Downloads a recording to `dest` through `GET /api/v1/recordings/:name`,
   * streaming to disk with flat memory. With `resume` (default) bytes go to
   * `<dest>.part`, a later call continues it with a Range request, and the
   * part is renamed to `dest` once its size matches the server's.
   */
  async download(name: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
    const path = `/api/v1/recordings/${encodeURIComponent(options.format === 'mp4' ? name.replace(/\.mkv$/i, '.mp4') : name)}`;
    const part = `${dest}.part`;
    await ensureFolder(dirname(dest));
    let offset = 0;
    if (options.resume !== false) {
      offset = await stat(part).then(
        (s) => s.size,
        () => 0,
      );
    }
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.request('GET', path, { headers, signal: options.signal, okStatuses: [416] });
    if (res.status === 416) {
      // The part already holds everything (or more: the file shrank). Check against the real size.
      await res.body?.cancel();
      const total = parseContentRangeTotal(res.headers.get('content-range'));
      if (total !== undefined && total === offset) {
        await rename(part, dest);
        options.onProgress?.(offset, total);
        return { path: dest, bytes: offset, transferredBytes: 0, resumed: true };
      }
      await truncate(part, 0);
      return this.download(name, dest, { ...options, resume: false });
    }
    const resumed = res.status === 206 && offset > 0;
    if (!resumed) offset = 0; // a 200 answers with the whole file: start over
    const result = await this.saveBody(res, part, { offset, onProgress: options.onProgress, signal: options.signal });
    await rename(part, dest);
    return { ...result, path: dest, resumed };
  }

  /** The thumbnail JPEG of a recording (from its listed `thumbnailUrl`). */
  async thumbnail(recording: Recording): Promise<Uint8Array> {
    if (!recording.thumbnailUrl)
      throw new ClientError('ERR_CLIENT_HTTP', `${recording.name} has no thumbnail`, {
        url: this.recordingUrl(recording.name),
        status: 404,
      });
    // The URL comes from the camera's list: follow it only on the camera itself.
    if (new URL(recording.thumbnailUrl).origin !== new URL(this.baseUrl).origin) {
      throw new ClientError(
        'ERR_CLIENT_HTTP',
        `${recording.name}: thumbnail URL ${recording.thumbnailUrl} is not on the camera ${this.baseUrl}; refused`,
        { url: recording.thumbnailUrl },
      );
    }
    return (await this.call('GET', recording.thumbnailUrl)).body;
  }

  /** `DELETE /api/v1/recordings/:name` (and its thumbnail). */
  async deleteRecording(name: string): Promise<void> {
    await this.call('DELETE', `/api/v1/recordings/${encodeURIComponent(name)}`);
  }

  /** `DELETE /api/v1/recordings`: deletes every recording that is not being written. */
  async deleteAllRecordings(): Promise<unknown> {
    const text = new TextDecoder().decode((await this.call('DELETE', '/api/v1/recordings')).body);
    try {
      return text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      return text;
    }
  }

  /** `GET /api/v1/settings`. */
  async settings(): Promise<CameraSettings> {
    return (await this.json('GET', '/api/v1/settings')) as CameraSettings;
  }

  /** `PATCH /api/v1/settings`: validated and persisted by the camera; resolves to the new settings, what changed and what waits for a restart. */
  async patchSettings(patch: SettingsPatch): Promise<SettingsPatchResult> {
    return (await this.json('PATCH', '/api/v1/settings', JSON.stringify(patch))) as SettingsPatchResult;
  }

  /**
   * `POST /api/v1/clock`: gives the camera this machine's time (read as the
   * request leaves) while its clock is not set. The camera has no real-time
   * clock: until network time or a client sets it, recordings carry
   * provisional times (re-stamped once set). It keeps the first client's
   * time (`applied` false afterwards) and takes it only from clients allowed
   * to change settings (the token, or a trusted network). Apps call it once
   * when they connect; `differenceMs` is the camera's time minus this one.
   */
  async setClock(epochMs?: number): Promise<ClockSetResult> {
    return (await this.json(
      'POST',
      '/api/v1/clock',
      JSON.stringify({ epochMs: epochMs ?? Date.now() }),
    )) as ClockSetResult;
  }

  /**
   * `POST /api/v1/moments`: keeps the recording around now (the camera's
   * `momentBefore`/`momentAfter`, 60 s and 30 s by default) out of rotation
   * and wipe. Refused with HTTP 429 (one mark per 5 s) or 507 (protected data
   * at `--max-protected`; recording goes on): ClientError `status`/`remoteCode` say which.
   */
  async markMoment(note?: string): Promise<MomentDocument> {
    return (await this.json(
      'POST',
      '/api/v1/moments',
      JSON.stringify(note === undefined ? {} : { note }),
    )) as MomentDocument;
  }

  /** `GET /api/v1/moments`: every moment, oldest first. */
  async moments(): Promise<MomentDocument[]> {
    const body = (await this.json('GET', '/api/v1/moments')) as Partial<MomentsListDocument> | null;
    if (!Array.isArray(body?.moments)) throw this.badBody('/api/v1/moments', 'expected {"moments":[...]}');
    return body.moments;
  }

  /** `DELETE /api/v1/moments/:id`: releases a moment; its protected segments no other moment holds are deleted. */
  async deleteMoment(id: string): Promise<MomentDeleteResult> {
    return (await this.json('DELETE', `/api/v1/moments/${encodeURIComponent(id)}`)) as MomentDeleteResult;
  }

  /** `GET /api/v1/rides`: segments grouped by continuous recording, oldest first. */
  async rides(): Promise<RideDocument[]> {
    const body = (await this.json('GET', '/api/v1/rides')) as Partial<RidesListDocument> | null;
    if (!Array.isArray(body?.rides)) throw this.badBody('/api/v1/rides', 'expected {"rides":[...]}');
    return body.rides;
  }

  /** The `GET /api/v1/clip` URL of a range. */
  clipUrl(range: ClipRange): string {
    const iso = (d: Date | string): string => (typeof d === 'string' ? d : d.toISOString());
    const q = new URLSearchParams({ from: iso(range.from) });
    if ('to' in range) q.set('to', iso(range.to));
    else q.set('duration', `${Math.round(range.durationMs)}ms`);
    return `${this.baseUrl}/api/v1/clip?${q}`;
  }

  /**
   * `GET /api/v1/clip`: one MP4 of the recording between two capture times,
   * across segments, saved to `dest` (through `<dest>.part`, renamed once
   * complete). A range with a stretch without recording is refused (HTTP
   * 409, the message names it); bad input is HTTP 400 with the reason.
   */
  async clip(range: ClipRange, dest: string, options: ClipOptions = {}): Promise<ClipDownloadResult> {
    await ensureFolder(dirname(dest));
    // A clip answers once the camera's converter has planned it and opened its segments; it may
    // wait behind a download in the converter's queue: more than the usual few seconds.
    const res = await this.request('GET', this.clipUrl(range), {
      signal: options.signal,
      answerTimeoutMs: Math.max(this.timeoutMs, CLIP_ANSWER_TIMEOUT_MS),
    });
    const estimate = Number(res.headers.get('x-clip-estimated-bytes') ?? NaN);
    const part = `${dest}.part`;
    const saved = await this.saveBody(res, part, {
      offset: 0,
      onProgress: options.onProgress
        ? (bytes) => options.onProgress?.(bytes, Number.isFinite(estimate) ? Math.max(estimate, bytes) : undefined)
        : undefined,
      signal: options.signal,
    });
    await rename(part, dest);
    return {
      path: dest,
      bytes: saved.bytes,
      start: res.headers.get('x-clip-start') ?? '',
      leadInMs: Number(res.headers.get('x-clip-lead-in-ms') ?? 0),
      segments: (res.headers.get('x-clip-segments') ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    };
  }

  /** `GET /api/v1/openapi.json`. */
  async openApi(): Promise<Record<string, unknown>> {
    return (await this.json('GET', '/api/v1/openapi.json')) as Record<string, unknown>;
  }

  // ---- plumbing ----

  /**
   * One entry of the list, read by its documented fields (RecordingDocument).
   * The URLs in it come from the camera: only its name and the thumbnail URL
   * are used, the latter resolved against the camera (thumbnail() refuses other origins).
   */
  private toRecording(value: unknown): Recording {
    const entry = (typeof value === 'object' && value !== null ? value : {}) as Partial<RecordingDocument>;
    if (
      typeof entry.name !== 'string' ||
      entry.name === '' ||
      typeof entry.sizeBytes !== 'number' ||
      typeof entry.modifiedAt !== 'string'
    ) {
      throw this.badBody('/api/v1/recordings', 'a recording without name, sizeBytes or modifiedAt');
    }
    const orUndefined = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);
    return {
      name: entry.name,
      sizeBytes: entry.sizeBytes,
      startedAt: entry.startedAt ?? entry.modifiedAt,
      durationMs: orUndefined(entry.durationMs),
      width: orUndefined(entry.width),
      height: orUndefined(entry.height),
      inProgress: entry.inProgress === true,
      protected: entry.protected === true,
      thumbnailUrl:
        typeof entry.thumbnailUrl === 'string' ? new URL(entry.thumbnailUrl, `${this.baseUrl}/`).toString() : undefined,
      raw: entry as RecordingDocument,
    };
  }

  private badBody(path: string, what: string): ClientError {
    return new ClientError(
      'ERR_NOT_REARVIEW',
      `${this.baseUrl}${path}: unexpected answer (${what}); is this a Rearview camera?`,
      { url: this.baseUrl + path },
    );
  }

  /**
   * One request whose whole (small) answer is read within the timeout.
   * Non-2xx answers become ERR_CLIENT_HTTP carrying the status and the
   * server's message; network failures ERR_CLIENT_CONNECT; no complete
   * answer in time ERR_CLIENT_TIMEOUT.
   */
  private async call(
    method: string,
    path: string,
    options: { body?: string; headers?: Record<string, string> } = {},
  ): Promise<{ res: Response; body: Uint8Array }> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    const url = /^https?:\/\//.test(path) ? path : this.baseUrl + path;
    try {
      const res = await this.request(method, path, { ...options, signal: timeout.signal });
      try {
        return { res, body: new Uint8Array(await res.arrayBuffer()) };
      } catch (err) {
        if (timeout.signal.aborted)
          throw new ClientError(
            'ERR_CLIENT_TIMEOUT',
            `${method} ${url}: answer not complete within ${this.timeoutMs} ms`,
            { url, cause: err },
          );
        throw this.networkError(err, url, `reading the answer of ${method}`);
      }
    } catch (err) {
      if (err instanceof ClientError && err.code === 'ERR_ABORTED' && timeout.signal.aborted) {
        throw new ClientError('ERR_CLIENT_TIMEOUT', `${method} ${url}: no answer within ${this.timeoutMs} ms`, {
          url,
          cause: err,
        });
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async text(method: string, path: string): Promise<string> {
    return new TextDecoder().decode((await this.call(method, path)).body);
  }

  private async json(method: string, path: string, body?: string): Promise<unknown> {
    const answer = await this.call(
      method,
      path,
      body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } },
    );
    const text = new TextDecoder().decode(answer.body);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw this.badBody(path, 'not JSON');
    }
  }

  private async integer(path: string): Promise<number> {
    const text = (await this.text('GET', path)).trim();
    if (!/^-?\d+$/.test(text))
      throw this.badBody(path, `expected an integer, got ${JSON.stringify(text.slice(0, 40))}`);
    return Number(text);
  }

  private async boolean(path: string): Promise<boolean> {
    const text = (await this.text('GET', path)).trim();
    if (text !== 'true' && text !== 'false')
      throw this.badBody(path, `expected true or false, got ${JSON.stringify(text.slice(0, 40))}`);
    return text === 'true';
  }

  /**
   * Sends one request and resolves once the headers are in (the body is left
   * to the caller). The timeout covers the wait for the headers.
   */
  private async request(
    method: string,
    pathOrUrl: string,
    options: {
      body?: string;
      headers?: Record<string, string>;
      signal?: AbortSignal | undefined;
      okStatuses?: number[];
      /** Time to wait for the answer's head, ms. Default the client's timeoutMs. */
      answerTimeoutMs?: number;
    } = {},
  ): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : this.baseUrl + pathOrUrl;
    const headers: Record<string, string> = { ...options.headers };
    // The token goes to the camera's own origin only, never to a URL the camera listed elsewhere.
    if (this.token && new URL(url).origin === new URL(this.baseUrl).origin)
      headers.authorization = `Bearer ${this.token}`;
    const timeout = new AbortController();
    const answerTimeoutMs = options.answerTimeoutMs ?? this.timeoutMs;
    const timer = setTimeout(() => timeout.abort(), answerTimeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout.signal, options.signal]) : timeout.signal;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, headers, body: options.body, signal, redirect: 'follow' });
    } catch (err) {
      if (options.signal?.aborted)
        throw new ClientError('ERR_ABORTED', `${method} ${url}: aborted`, { url, cause: err });
      if (timeout.signal.aborted)
        throw new ClientError('ERR_CLIENT_TIMEOUT', `${method} ${url}: no answer within ${answerTimeoutMs} ms`, {
          url,
          cause: err,
        });
      throw this.networkError(err, url, method);
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok && !options.okStatuses?.includes(res.status)) {
      let message = '';
      let remoteCode: string | undefined;
      try {
        const text = await res.text();
        try {
          const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
          remoteCode = parsed.error?.code;
          message = parsed.error?.message ?? text;
        } catch {
          message = text;
        }
      } catch {
        // body unreadable: the status alone says enough
      }
      const detail = message.trim().split('\n')[0]?.slice(0, 200) ?? '';
      throw new ClientError('ERR_CLIENT_HTTP', `${method} ${url}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, {
        url,
        status: res.status,
        ...(remoteCode ? { remoteCode } : {}),
      });
    }
    return res;
  }

  private networkError(err: unknown, url: string, what: string): ClientError {
    if (err instanceof ClientError) return err;
    return new ClientError('ERR_CLIENT_CONNECT', `cannot reach camera: ${what} ${url}: ${describeNetworkError(err)}`, {
      url,
      cause: err,
    });
  }

  /**
   * Streams a response body into `file` (appending after `offset` bytes),
   * with an idle timeout between chunks. Disk errors (ENOSPC, EACCES) are
   * rethrown as they are, so callers can tell a full disk from a network problem.
   */
  private async saveBody(
    res: Response,
    file: string,
    options: { offset: number; onProgress?: DownloadProgress | undefined; signal?: AbortSignal | undefined },
  ): Promise<DownloadResult> {
    const url = res.url;
    const length = Number(res.headers.get('content-length') ?? NaN);
    const total =
      res.status === 206
        ? parseContentRangeTotal(res.headers.get('content-range'))
        : Number.isFinite(length)
          ? length
          : undefined;
    const out = createWriteStream(file, { flags: options.offset > 0 ? 'a' : 'w' });
    let outError: unknown;
    out.on('error', (err) => {
      outError = err;
    });
    let received = options.offset;
    let transferred = 0;
    const reader = res.body?.getReader();
    let idle: NodeJS.Timeout | undefined;
    let timedOut = false;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        timedOut = true;
        void reader?.cancel();
      }, this.timeoutMs);
    };
    try {
      if (reader) {
        armIdle();
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (err) {
            if (options.signal?.aborted)
              throw new ClientError('ERR_ABORTED', `download of ${url} aborted`, { url, cause: err });
            throw new ClientError(
              'ERR_CLIENT_CONNECT',
              `download of ${url} interrupted after ${received} bytes: ${describeNetworkError(err)}`,
              { url, cause: err },
            );
          }
          if (chunk.done) break;
          if (outError) throw outError;
          armIdle();
          const value = chunk.value;
          received += value.length;
          transferred += value.length;
          if (!out.write(value)) await drained(out);
          options.onProgress?.(received, total);
        }
      }
    } finally {
      clearTimeout(idle);
      await new Promise<void>((resolve) => out.end(() => resolve()));
    }
    if (outError) throw outError;
    if (timedOut)
      throw new ClientError(
        'ERR_CLIENT_TIMEOUT',
        `download of ${url} stalled: no data for ${this.timeoutMs} ms after ${received} bytes`,
        { url },
      );
    if (total !== undefined && received !== total) {
      throw new ClientError('ERR_CLIENT_CONNECT', `download of ${url} ended early: ${received} of ${total} bytes`, {
        url,
      });
    }
    return { path: file, bytes: received, transferredBytes: transferred, resumed: options.offset > 0 };
  }
}

/**
 * Resolves once `out` has drained or failed. Both listeners go when either
 * fires: one left behind per wait would pile up on a long download (Node's
 * MaxListenersExceededWarning after ten waits).
 */
function drained(out: WriteStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('error', done);
  });
}

/**
 * Creates the folder a download goes into (and its parents). When it cannot
 * be (a regular file in the way, no permission), the error names the folder
 * and keeps the file-system code (ENOTDIR, EACCES, ...) and `path`, so
 * callers still tell a disk problem from a network one.
 */
async function ensureFolder(folder: string): Promise<void> {
  try {
    await makeDirectory(folder); // not mkdir -p: that loops for ever under /proc or a dangling link
  } catch (err) {
    const fsCode = (err as NodeJS.ErrnoException).code;
    // mkdir answers EEXIST when the path is a regular file: for the caller it is "not a folder".
    const code = fsCode === 'EEXIST' ? 'ENOTDIR' : fsCode;
    const why =
      code === 'ENOTDIR'
        ? 'a file is in the way'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : (err as Error).message;
    throw Object.assign(new Error(`cannot create the download folder ${folder}: ${why}`, { cause: err }), {
      code,
      path: folder,
    });
  }
}

/** The total size from a `Content-Range: bytes a-b/total` (or `bytes * /total`) header. */
export function parseContentRangeTotal(header: string | null): number | undefined {
  const m = header ? /\/(\d+)\s*$/.exec(header) : null;
  return m ? Number(m[1]) : undefined;
}
