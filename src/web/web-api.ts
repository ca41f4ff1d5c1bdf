/**
 * The page's view of the camera's HTTP API (/api/v1): fetch helpers and
 * tolerant readers that turn the JSON into the few fields the page shows.
 * Requests carry no token of their own: once the browser is paired, its
 * HttpOnly cookie goes with every same-origin request (pairing-panel.ts).
 */

/** An API answer that was not 2xx, with the stable error body's message when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What the page says when the camera does not answer at all (instead of the browser's "Failed to fetch"). */
export const NO_ANSWER = 'the camera did not answer (switched off, or out of Wi-Fi range?)';

/**
 * fetch + JSON, throwing ApiError with `{error:{message}}` text on failure;
 * no answer at all is ApiError status 0 with {@link NO_ANSWER}.
 */
export async function apiJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}) } });
  } catch {
    throw new ApiError(0, NO_ANSWER);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const message = (body as { error?: { message?: string } } | undefined)?.error?.message ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message);
  }
  return body as T;
}

/** One recording as the gallery shows it. */
export interface RecordingView {
  name: string;
  /** Start (or last-modified) time, ms since the Unix epoch; NaN when unknown. */
  startedAtMs: number;
  durationMs: number | undefined;
  sizeBytes: number | undefined;
  width: number | undefined;
  height: number | undefined;
  thumbnailUrl: string | undefined;
  /** Plays in the page (MP4). */
  playUrl: string;
  /** Download link of the MP4 (plays everywhere, phones included). */
  downloadUrl: string;
  /** The original Matroska segment. */
  mkvUrl: string | undefined;
  /** DELETE this to remove it. */
  deleteUrl: string;
  /** The segment being written now (not playable or deletable yet). */
  inProgress: boolean;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Reads one entry of GET /api/v1/recordings, whatever its exact field names. */
export function toRecordingView(raw: Record<string, unknown>): RecordingView | undefined {
  const name = str(raw.name) ?? str(raw.file) ?? str(raw.id);
  if (!name) return undefined;
  const base = `/api/v1/recordings/${encodeURIComponent(name)}`;
  const urls = (typeof raw.urls === 'object' && raw.urls !== null ? raw.urls : {}) as Record<string, unknown>;
  const dateText = str(raw.startedAt) ?? str(raw.start) ?? str(raw.date) ?? str(raw.createdAt) ?? str(raw.modifiedAt) ?? str(raw.dateUpdated);
  const startedAtMs = num(raw.startedAtMs) ?? (dateText ? Date.parse(dateText) : NaN);
  const resolution = str(raw.resolution);
  const [rw, rh] = resolution ? resolution.split('x').map(Number) : [undefined, undefined];
  const mp4 =
    str(raw.mp4Url) ?? str(urls.mp4) ?? str(raw.downloadMp4Url) ??
    (name.endsWith('.mkv') ? `/api/v1/recordings/${encodeURIComponent(name.replace(/\.mkv$/, '.mp4'))}` : base);
  return {
    name,
    startedAtMs,
    durationMs: num(raw.durationMs) ?? (num(raw.duration) !== undefined ? (num(raw.duration) as number) * 1000 : undefined),
    sizeBytes: num(raw.sizeBytes) ?? num(raw.size) ?? num(raw.bytes),
    width: num(raw.width) ?? (Number.isFinite(rw) ? rw : undefined),
    height: num(raw.height) ?? (Number.isFinite(rh) ? rh : undefined),
    thumbnailUrl: str(raw.thumbnailUrl) ?? str(urls.thumbnail) ?? str(raw.thumbnail),
    playUrl: mp4,
    downloadUrl: mp4,
    mkvUrl: str(raw.downloadUrl) ?? str(urls.download) ?? (name.endsWith('.mkv') ? base : undefined),
    deleteUrl: str(raw.deleteUrl) ?? base,
    inProgress: raw.inProgress === true,
  };
}

/** GET /api/v1/recordings: accepts a bare array or `{ recordings: [...] }`. */
export async function listRecordings(): Promise<{ recordings: RecordingView[]; usage: Record<string, unknown> | undefined }> {
  const body = await apiJson<unknown>('/api/v1/recordings');
  const list = Array.isArray(body) ? body : ((body as { recordings?: unknown[]; items?: unknown[] } | undefined)?.recordings ?? (body as { items?: unknown[] } | undefined)?.items ?? []);
  const recordings = list
    .filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null)
    .map(toRecordingView)
    .filter((x): x is RecordingView => x !== undefined);
  // Newest first in the gallery.
  recordings.sort((a, b) => (b.startedAtMs || 0) - (a.startedAtMs || 0));
  const usage = (body as { usage?: Record<string, unknown> } | undefined)?.usage ?? undefined;
  return { recordings, usage: usage ?? undefined };
}
