/**
 * What the HTTP API needs from the rest of the daemon, as small interfaces so
 * the API can be tested against real files without a camera and the daemon
 * can plug in its parts (recordings library, MP4 converter, stream stats).
 */
import type { WebRtcOutput } from '../outputs/webrtc-output.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { RecordingFile } from '../recorder/recording-file.js';
import type { Mp4Source } from '../recorder/mp4-cache.js';
import type { MomentInfo, MomentSource } from '../recorder/moment-store.js';
import type { ClipPlan } from '../recorder/clip-export.js';
import type { ClipResult } from '../recorder/convert-clip-to-mp4.js';
import type { RecordingHealth } from '../recorder/recording-health.js';
import type {
  PublisherStatusDocument,
  RecordingsUsage,
  StreamClientStatus,
  StreamSlotPoolStatus,
  UploadSettingsDocument,
  UploadStatusDocument,
  WebRtcStatus,
} from './wire-types.js';

export type { RecordingsUsage, StreamClientStatus, StreamSlotPoolStatus } from './wire-types.js';

/** One recording (the recorder's RecordingInfo). Times in ms since the epoch. */
export interface RecordingEntry {
  /** File name, e.g. "log0001.mkv". */
  name: string;
  /** Absolute path of the .mkv. */
  path: string;
  startedAtMs: number | null;
  durationMs: number | null;
  sizeBytes: number;
  modifiedAtMs: number;
  width: number | null;
  height: number | null;
  thumbnail: { name: string; path: string } | null;
  /** True while the recorder is still writing it. */
  inProgress: boolean;
  /** Kept by a moment (docs/recording.md, "Moments"). Absent: false. */
  protected?: boolean;
}

/**
 * The recordings folder as the API uses it (the recorder's RecordingLibrary
 * satisfies it). `resolveSegment`/`resolveThumbnail` take a name or an
 * absolute path and answer the absolute path of a file inside the folder,
 * or throw RearviewError ERR_PATH_OUTSIDE (-> 400) / ERR_NOT_FOUND (-> 404).
 * `openSegment`/`openThumbnail` do the same checks on the opened descriptor
 * and return it: file routes send from it (a path checked first could be
 * swapped for a link before it is opened); the caller closes it.
 */
export interface RecordingStore {
  list(): Promise<RecordingEntry[]>;
  resolveSegment(nameOrPath: string): Promise<string>;
  resolveThumbnail(nameOrPath: string): Promise<string>;
  openSegment(nameOrPath: string): Promise<RecordingFile>;
  openThumbnail(nameOrPath: string): Promise<RecordingFile>;
  /** Deletes one segment and its thumbnail. */
  remove(name: string): Promise<void>;
  /** Deletes every finished segment; resolves to how many were deleted. */
  removeAll(): Promise<number>;
  usage(): Promise<RecordingsUsage>;
}

/** Moments as the API uses them (the recorder service's MomentStore). */
export interface MomentsApi {
  readonly beforeMs: number;
  readonly afterMs: number;
  mark(input: { note?: unknown; source?: MomentSource }): Promise<MomentInfo>;
  list(): Promise<MomentInfo[]>;
  remove(id: string): Promise<{ deleted: string; deletedSegments: string[] }>;
  /** Deletes every moment and protected segment; resolves to the segments deleted. */
  removeAll(): Promise<number>;
  holders(name: string): { id: string }[];
}

/** Clips by time as the API uses them (the recorder's ClipExporter). */
export interface ClipsApi {
  plan(fromMs: number, toMs: number): Promise<ClipPlan>;
  export(
    plan: ClipPlan,
    write: (chunk: Uint8Array) => Promise<void>,
    onStart?: (startMs: number) => void,
    signal?: AbortSignal,
  ): Promise<ClipResult>;
}

/** Opens the MP4 conversion of a segment (RecordingLibrary.openMp4): `stream()` its bytes, then `close()`. */
export type Mp4SourceOpener = (segment: string) => Promise<Pick<Mp4Source, 'stream' | 'close'>>;

/**
 * Answers a request for the MP4 remux of a .mkv segment: writes status,
 * headers (`video/mp4`) and the body to `res`, streaming with flat memory
 * and honouring a `Range` header when it can (206/416), and resolves when
 * done; rejects with ERR_CONVERT before anything was sent when the segment
 * cannot be converted. `signal` aborts when the client goes away.
 * `segment` is a name or path as the client gave it (checked like openSegment).
 */
export type Mp4Streamer = (
  segment: string,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
) => Promise<void>;

/** Live stream figures from the daemon. */
export interface StreamStatus {
  /** Source name ("sample", "rpicam", ...). */
  source: string;
  /** True while the source delivers frames. */
  sourceRunning: boolean;
  width: number | null;
  height: number | null;
  fps: number | null;
  /** Configured bitrate, bits per second. */
  bitrateBps: number;
  /** Measured bitrate over the last seconds, bits per second (null when unknown). */
  measuredBitrateBps: number | null;
  framesPublished: number;
  clients: StreamClientStatus[];
  /** The slot pools, one per kind of client (ws: null without the web page). Absent when the host has none. */
  slots?: { tcp: StreamSlotPoolStatus; ws: StreamSlotPoolStatus | null; webrtc?: StreamSlotPoolStatus | null };
  /** The WebRTC output's counters; null or absent without WebRTC. */
  webrtc?: WebRtcStatus | null;
  /** True while the recorder writes segments. */
  recording: boolean;
  /** The recorded video: its own profile or the stream's, its size as published, its configured bitrate. Absent: the stream's. */
  recordingVideo?: { profile: 'same' | 'separate'; width: number | null; height: number | null; bitrateBps: number };
  /** Name of the segment being written. */
  currentSegment: string | null;
  /** Whether segments get thumbnails and, when not, why (no ffmpeg); null without a recorder. */
  thumbnails?: { enabled: boolean; reason: string | null } | null;
  /** Recording or not, and why not (src/recorder/recording-health.ts); derived from `recording` when absent. */
  recordingHealth?: RecordingHealth;
  /** The uploader's status; absent or null when uploads are off. */
  upload?: UploadStatusDocument | null;
  /** The upload settings, masked; absent or null when uploads are off. */
  uploadSettings?: UploadSettingsDocument | null;
  /** Publishing targets and their state; absent or empty when none. */
  publish?: PublisherStatusDocument[];
}

/**
 * The web engineer's handlers mounted on the API server: the page and its
 * assets (answers true when it handled the request) and WebSocket upgrades.
 */
export interface WebMount {
  handleRequest?(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean>;
  attach?(server: Server): void;
  /** WebRTC viewers (WHEP); absent or undefined: WHEP answers 503. */
  readonly webrtc?: WebRtcOutput | undefined;
  /** The live view's access check, shared by the WebSocket and WHEP: undefined when allowed. */
  authorize?(req: IncomingMessage): { status: number; reason: string } | undefined;
}
