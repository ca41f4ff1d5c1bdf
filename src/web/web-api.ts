/**
 * The page's view of the camera's HTTP API (/api/v1): fetch helpers and
 * readers that turn the JSON (typed in src/api/wire-types.ts) into the few
 * fields the page shows.
 * Requests carry no token of their own: once the browser is paired, its
 * HttpOnly cookie goes with every same-origin request (pairing-panel.ts).
 */
import type {
  ApiErrorDocument,
  RecordingDocument,
  RecordingsListDocument,
  RecordingsUsage,
} from '../api/wire-types.js';

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
    const message =
      (body as Partial<ApiErrorDocument> | undefined)?.error?.message ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message);
  }
  return body as T;
}

/** One recording as the gallery shows it. */
export interface RecordingView {
  name: string;
  /** Start (or last-modified) time, ms since the Unix epoch. */
  startedAtMs: number;
  durationMs: number | undefined;
  sizeBytes: number;
  width: number | undefined;
  height: number | undefined;
  thumbnailUrl: string | undefined;
  /** Plays in the page (MP4). */
  playUrl: string;
  /** Download link of the MP4 (plays everywhere, phones included). */
  downloadUrl: string;
  /** The original Matroska segment. */
  mkvUrl: string;
  /** DELETE this to remove it. */
  deleteUrl: string;
  /** The segment being written now (not playable or deletable yet). */
  inProgress: boolean;
}

/** Reads one entry of GET /api/v1/recordings by its documented fields; undefined for an entry without a name. */
export function toRecordingView(doc: RecordingDocument): RecordingView | undefined {
  if (typeof doc.name !== 'string' || doc.name === '') return undefined;
  const mkvUrl = `/api/v1/recordings/${encodeURIComponent(doc.name)}`;
  return {
    name: doc.name,
    startedAtMs: Date.parse(doc.startedAt ?? doc.modifiedAt),
    durationMs: doc.durationMs ?? undefined,
    sizeBytes: doc.sizeBytes,
    width: doc.width ?? undefined,
    height: doc.height ?? undefined,
    thumbnailUrl: doc.thumbnailUrl ?? undefined,
    playUrl: doc.mp4Url,
    downloadUrl: doc.mp4Url,
    mkvUrl: doc.downloadUrl,
    deleteUrl: mkvUrl,
    inProgress: doc.inProgress === true,
  };
}

/** GET /api/v1/recordings, newest first for the gallery, and the folder's disk use. */
export async function listRecordings(): Promise<{ recordings: RecordingView[]; usage: RecordingsUsage | undefined }> {
  const body = await apiJson<RecordingsListDocument>('/api/v1/recordings');
  const recordings = (Array.isArray(body?.recordings) ? body.recordings : [])
    .map(toRecordingView)
    .filter((x): x is RecordingView => x !== undefined);
  recordings.reverse(); // the API lists in recording order, oldest first; times can be wrong before the clock is set
  return { recordings, usage: body?.usage ?? undefined };
}
