/**
 * The JSON shapes of the `/api/v1` API (docs/api.md), in one place: the
 * server builds its answers as these types (status-document.ts,
 * v1-routes.ts, settings-store.ts, api-events.ts), the client library reads
 * them (src/client/camera-client.ts) and so does the web page
 * (src/web/web-api.ts). Types only, importing nothing, so the browser bundle
 * can use them too. A test checks a real daemon's answers have exactly these
 * keys (test/api/wire-types.test.ts).
 */

/** `{ "error": { "code", "message" } }`, the body of every JSON error (codes: docs/errors.md). */
export interface ApiErrorDocument {
  error: { code: string; message: string };
}

/** simultaneous: stream and record always; exclusive: the device's streaming window. */
export type CameraModeName = 'simultaneous' | 'exclusive';

/** What the camera does now. */
export type CameraActivityName = 'streaming' | 'recording' | 'both';

/** Whether the camera records and, when not, the kind of reason (src/recorder/recording-health.ts decides). */
export type RecordingStateName = 'recording' | 'starting' | 'off' | 'paused' | 'failed';

/** One live-stream client as shown in /api/v1/status and /metrics. */
export interface StreamClientStatus {
  /** 'tcp' (port 5000), 'ws' (web page over the WebSocket) or 'webrtc' (WHEP viewer). */
  kind: 'tcp' | 'ws' | 'webrtc';
  /** Remote address:port. */
  remote: string;
  connectedMs: number;
  /** Age of the oldest unsent frame, ms; WebRTC: the viewer's lag from its receiver reports (docs/api.md, "Slow viewers"). */
  lagMs: number;
  framesDropped: number;
  bytesSent: number;
  /** Time spent behind the soft limit in the last 30 s, ms; 10 s (clientBehindLimitMs) drops the client. */
  behindMs?: number;
  /** WebRTC: the session's state (connecting, connected) and ICE round-trip time, ms, when known. */
  state?: string;
  rttMs?: number | null;
  /** WebRTC: the ICE candidate pair the media takes (host, srflx, prflx, relay; udp or tcp), once connected. */
  route?: { local: string; remote: string; transport: string } | null;
  /** WebRTC: picture loss indications and full intra requests from this viewer. */
  keyframeRequests?: number;
  /** WebRTC: times it could not keep up and was skipped to keyframes (docs/api.md, slow viewers). */
  skips?: number;
  /** WebRTC: true while it is behind (sent keyframes only until it catches up). */
  behind?: boolean;
  /** WebRTC: its place in the pool, 0 to webrtcMaxViewers-1 (the `slot` label in /metrics). */
  slot?: number;
}

/** The WebRTC output's counters since start (`stream.webrtc` in /api/v1/status). */
export interface WebRtcStatus {
  maxViewers: number;
  /** Sessions answered. */
  sessions: number;
  /** Offers refused, by reason: offer (unusable), full, rate, unavailable. */
  refused: { offer: number; full: number; rate: number; unavailable: number };
  /** Picture loss indications and full intra requests received. */
  keyframeRequests: number;
  /** Those answered by sending the cached GOP again from its keyframe. */
  keyframesResent: number;
  /** Times a viewer could not keep up and was skipped to keyframes. */
  skips: number;
  /** STUN/TURN servers configured (`webrtcIceServers`). */
  iceServers: number;
}

/** One slot pool (src/outputs/client-slots.ts SlotPoolStats), as shown in /api/v1/status. */
export interface StreamSlotPoolStatus {
  clients: number;
  maxClients: number;
  maxPerAddress: number;
  behindLimitMs: number;
  windowMs: number;
  /** Clients refused since start, by reason: full, per-address, not-allowed, not-streaming, closing. */
  refused: Record<string, number>;
  /** Clients that gave way to a new one while the pool was full. */
  evicted: number;
  /** Clients dropped for being behind too long in the window. */
  droppedBehind: number;
}

/** One publishing target (`publish`) in /api/v1/status: the masked URL, its state and counters. */
export interface PublisherStatusDocument {
  /** Position in the `publish` list, from 0. */
  index: number;
  /** rtsp, rtsps, rtmp, rtmps, srt, whip+http or whip+https. */
  scheme: string;
  /** The URL with credentials (user, password, secret query values, RTMP stream key) masked as ***. */
  url: string;
  /** `stream` (the live profile) or `record` (the recording profile). */
  profile: 'stream' | 'record';
  /** connecting, publishing, retrying (after a failure, backoff), unavailable (no ffmpeg), stopped. */
  state: 'connecting' | 'publishing' | 'retrying' | 'unavailable' | 'stopped';
  /** Camera time (ms since the epoch) the state began. */
  sinceMs: number;
  /** Frames and bytes handed to the publishing process, over all sessions. */
  frames: number;
  bytes: number;
  /** Frames skipped because the server took the stream too slowly (skip to the next keyframe). */
  framesDropped: number;
  /** Sessions started after the first. */
  reconnects: number;
  /** The last failure, masked, and its code (docs/errors.md); null before any. */
  lastError: string | null;
  lastErrorCode: string | null;
  /** While retrying or unavailable: ms until the next attempt; else null. */
  retryInMs: number | null;
  /** WHIP only: picture loss indications and full intra requests the server sent. */
  keyframeRequests?: number;
}

/** Disk use of the recordings folder. */
export interface RecordingsUsage {
  /** Bytes taken by recordings and thumbnails. */
  usedBytes: number;
  /** Free and total bytes of the filesystem holding the folder (null when unknown). */
  freeBytes: number | null;
  totalBytes: number | null;
  /** Number of segments. */
  files: number;
}

/**
 * The camera's clock (`status.clock`, `GET`/`POST /api/v1/clock`). A Pi has
 * no real-time clock: until network time or a client sets it, its times are
 * provisional (docs/api.md, "The clock").
 */
export interface ClockDocument {
  /** The camera's time can be believed. */
  set: boolean;
  /** Where it comes from: network time, a client (`POST /api/v1/clock`), the system's own clock; null while not set. */
  source: 'ntp' | 'client' | 'system' | null;
  /** Why it is not set ("clock not set: ..."); null when set. */
  reason: string | null;
  /** The camera's time now (provisional while not set), ms since the epoch and ISO. */
  nowMs: number;
  now: string;
}

/** `POST /api/v1/clock` answer: the clock after the request. */
export interface ClockSetResult extends ClockDocument {
  /** The client's time was taken (false when the clock was already set: the first client wins, network time wins over clients). */
  applied: boolean;
  /** The camera's time minus the client's, ms, when the request arrived (after applying it: about 0). */
  differenceMs: number;
}

/** `GET /api/v1/status`. Times in ms; ISO strings beside them for people. */
export interface StatusDocument {
  version: string;
  cameraName: string;
  uptimeMs: number;
  mode: CameraModeName;
  activity: CameraActivityName;
  /** Why (start-up, no client within the window, last client left, ...). */
  modeReason: string;
  /** End of the exclusive-mode streaming window; null when none is running. */
  windowEndsAtMs: number | null;
  windowEndsAt: string | null;
  streamWindowMs: number;
  stream: {
    source: string;
    running: boolean;
    /** Port 5000 is open to clients (false while exclusive mode records). */
    serving: boolean;
    width: number | null;
    height: number | null;
    resolution: string | null;
    fps: number | null;
    bitrateBps: number;
    measuredBitrateBps: number | null;
    framesPublished: number;
    clients: StreamClientStatus[];
    /** One slot pool per kind of client: caps, refusals by reason, evictions, clients dropped for being behind. */
    slots: {
      tcp: StreamSlotPoolStatus | null;
      ws: StreamSlotPoolStatus | null;
      /** WebRTC viewers' pool; null when WebRTC is off. */
      webrtc: StreamSlotPoolStatus | null;
    };
    /** WebRTC viewers' counters; null when WebRTC is off (`webrtcMaxViewers` 0). */
    webrtc: WebRtcStatus | null;
  };
  recording: {
    active: boolean;
    /** recording, starting, off (turned off), paused (exclusive mode streams), failed. */
    state: RecordingStateName;
    /** Why it is not recording, for people; null while recording. */
    reason: string | null;
    /** Set only when not recording is a failure: NOT RECORDING and why. */
    error: string | null;
    errorCode: string | null;
    currentSegment: string | null;
    segmentMs: number;
    /** `separate`: recordings have their own profile (`recordVideo`); `same`: they are the live stream. */
    profile: RecordProfileName;
    /** Size of the recorded video as published (null before its first keyframe). */
    width: number | null;
    height: number | null;
    resolution: string | null;
    /** Configured bitrate of the recorded video, bits per second. */
    bitrateBps: number;
    /** Thumbnails on or off; `reason` says why they are off (no ffmpeg). null without a recorder. */
    thumbnails: { enabled: boolean; reason: string | null } | null;
  };
  disk: RecordingsUsage | null;
  /** Publishing targets (`publish`, docs/config.md) in config order; empty when none. */
  publish: PublisherStatusDocument[];
  /**
   * `gauge`: the chip read (`max17048`, `lc709203f`), `simulated`, `missing` (none answered: the
   * battery routes answer 500) or `none` (configured so); `gaugeError`: why it cannot be read, else null.
   */
  battery: {
    percent: number | null;
    millivolts: number | null;
    charging: boolean | null;
    gauge: 'max17048' | 'lc709203f' | 'simulated' | 'missing' | 'none';
    gaugeError: string | null;
  };
  /** The hardware backend in use (`auto` resolved: linux on a Raspberry Pi) and why. */
  device: { backend: 'linux' | 'simulated'; reason: string };
  temperatureC: number | null;
  led: string;
  /** Which hardware parts are simulated stand-ins. */
  simulated: { battery: boolean; thermal: boolean; charging: boolean; led: boolean; button: boolean };
  downloads: { active: number; max: number };
  eventClients: number;
  /** The camera's clock: "clock not set" until network time or a client sets it. */
  clock: ClockDocument;
  /** Uploads to object storage (docs/recording.md, "Uploads"); null when `upload` is not configured. */
  upload: UploadStatusDocument | null;
}

/** `status.upload`: the upload queue and what the uploader is doing. */
export interface UploadStatusDocument {
  /** idle, uploading, waiting-charging, offline (endpoint unreachable), failing (refused: credentials, bucket...), starting, closed. */
  state: 'starting' | 'idle' | 'uploading' | 'waiting-charging' | 'offline' | 'failing' | 'closed';
  /** Why it waits or fails, in words; null while idle or uploading. */
  reason: string | null;
  /** `s3://BUCKET/***` (prefix and endpoint masked). */
  target: string;
  when: 'charging' | 'always';
  queueLength: number;
  queueBytes: number;
  /** Queued segments recorded before the clock was set, waiting to be re-stamped. */
  waitingForClock: number;
  /** The segment going up now and the bytes sent of it. */
  current: { name: string; sentBytes: number; sizeBytes: number } | null;
  /** Segments uploaded since start, their bytes, and how many of them were verified against the server's checksum/ETag. */
  uploaded: number;
  uploadedBytes: number;
  verified: number;
  /** Failed attempts since start. */
  failures: number;
  lastError: { code: string; message: string; atMs: number } | null;
  lastUploadAtMs: number | null;
  /** Dropped from a full queue (oldest first), deleted before upload (rotation, a user), deleted after a verified upload. */
  droppedQueueFull: number;
  deletedBeforeUpload: number;
  deletedAfterUpload: number;
  /** The bandwidth cap, bytes per second (0: none). */
  rateBytesPerSecond: number;
}

/** `GET /api/v1/settings` `upload`: read-only (config file and command line only), hosts and paths masked. */
export interface UploadSettingsDocument {
  enabled: true;
  target: string;
  endpoint: string;
  region: string;
  pathStyle: boolean;
  insecure: boolean;
  sse: 'none' | 'AES256' | 'aws:kms';
  when: 'charging' | 'always';
  rateBytesPerSecond: number;
  thenDelete: boolean;
  queueMax: number;
  partBytes: number;
  credentials: 'file' | 'environment' | 'missing';
  /** Extra CA certificates trusted for the endpoint (`uploadCa`); the path is never shown. */
  customCa: boolean;
}

/** One recording in `GET /api/v1/recordings` (and the `recording-added` event). No absolute paths. */
export interface RecordingDocument {
  /** File name, e.g. `log0001.mkv`. */
  name: string;
  /** ISO 8601 start (null when unknown) and last modification. */
  startedAt: string | null;
  modifiedAt: string;
  durationMs: number | null;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  /** `"640x360"`, null when unknown. */
  resolution: string | null;
  /** True while the recorder is still writing it. */
  inProgress: boolean;
  /**
   * Kept by a moment: out of rotation and wipe. A protected segment has left the
   * ring (`log0042-1713198307.mkv`), or is inside a moment's window and leaves it once finished.
   */
  protected: boolean;
  /** Relative URLs: the .mkv, its MP4 conversion, the thumbnail (null when there is none). */
  downloadUrl: string;
  mp4Url: string;
  thumbnailUrl: string | null;
}

/** `GET /api/v1/recordings`: old to new; `usage` null when the folder cannot be measured. */
export interface RecordingsListDocument {
  recordings: RecordingDocument[];
  usage: RecordingsUsage | null;
}

/** Who marked a moment. */
export type MomentSourceName = 'api' | 'button' | 'page';

/** One moment (`GET /api/v1/moments`, `POST /api/v1/moments`). Times are ISO 8601 capture times. */
export interface MomentDocument {
  /** 12 hexadecimal digits. */
  id: string;
  /** When it was marked, and the window kept around it. */
  at: string;
  from: string;
  to: string;
  note: string | null;
  source: MomentSourceName;
  /** False when the camera's clock was not set at the mark (the times were corrected when it was). */
  clockSet: boolean;
  /** Protected segments it holds (names for `/api/v1/recordings/NAME`). */
  segments: string[];
  /** Segments of its window still being recorded or waiting to leave the ring. */
  pendingSegments: string[];
  /** Bytes of its protected segments. */
  bytes: number;
  /** The window has ended and all of it is protected. */
  complete: boolean;
  /** `GET /api/v1/clip` URL of the window (MP4). */
  clipUrl: string;
}

/** `GET /api/v1/moments`: oldest first, with the protected-data figures. */
export interface MomentsListDocument {
  moments: MomentDocument[];
  /** The window a new mark keeps, ms before and after it. */
  beforeMs: number;
  afterMs: number;
}

/** `DELETE /api/v1/moments/:id`. */
export interface MomentDeleteResult {
  deleted: string;
  /** Protected segments deleted with it (those no other moment holds). */
  deletedSegments: string[];
}

/** One ride: segments recorded back to back (no gap over 2 s between one's end and the next's start). */
export interface RideDocument {
  /**
   * Names the ride in `/api/v1/rides/ID/...`: its first segment's name without `.mkv` when the
   * daemon first listed it; kept while rotation deletes the ride's first segments (docs/api.md "Rides").
   */
  id: string;
  /** ISO 8601 start of its first segment and end of its last. */
  start: string;
  end: string;
  durationMs: number;
  /** Segment names, in time order. */
  segments: string[];
  /** Moment ids whose mark falls in the ride. */
  moments: string[];
  /** True while its last segment is being recorded, or ended at most 2 s ago (a cut between segments). */
  inProgress: boolean;
  /** The ride as one HLS playlist of fragmented MP4 (finished segments). */
  playlistUrl: string;
}

/** `GET /api/v1/rides`: oldest first. */
export interface RidesListDocument {
  rides: RideDocument[];
}

/** H.264 profiles the encoders take. */
export type H264ProfileName = 'baseline' | 'main' | 'high';

/** Encoder settings (config.ts VideoSettings) as `GET /api/v1/settings` shows them. */
export interface VideoSettingsDocument {
  width: number;
  height: number;
  fps: number;
  bitrateBps: number;
  intraPeriod: number;
  profile: H264ProfileName;
  /** One of the H.264 levels of config.ts H264_LEVELS ("4.1"). */
  level: string;
}

/** Where recordings come from: their own profile, or the live stream. */
export type RecordProfileName = 'same' | 'separate';

/** How new clients join the live stream. */
export type JoinPolicyName = 'latest-keyframe' | 'next-keyframe' | 'live-edge';

/** `GET /api/v1/settings`: what can be changed at run time, plus where it is saved. */
export interface SettingsDocument {
  /** "640x360". */
  resolution: string;
  video: VideoSettingsDocument;
  /** The recording profile (used when recordings have their own, status `recording.profile` `separate`). */
  recordVideo: VideoSettingsDocument;
  segmentMs: number;
  streamWindowMs: number;
  maxFiles: number;
  maxBytes: number;
  minFreeBytes: number;
  minFreePercent: number;
  record: boolean;
  join: JoinPolicyName;
  timestamps: boolean;
  cameraName: string;
  /** Publishing targets, credentials masked; read-only (config file and command line only). */
  publish: string[];
  /** Read-only (config file only): the STUN/TURN servers for WebRTC, credentials shown as "***". */
  webrtcIceServers: { urls: string; username?: string; credential?: string }[];
  /** Where changes are saved. */
  settingsFile: string;
  /** Upload settings, read-only and masked (never changed by PATCH); null when uploads are off. */
  upload: UploadSettingsDocument | null;
}

/**
 * `PATCH /api/v1/settings` body: any of the settable keys. Durations and
 * sizes may be text with a unit ("30s", "2GB", "4M"); a number on a key
 * ending in Ms is milliseconds. The camera validates every value.
 */
export interface SettingsPatch {
  /** "WIDTHxHEIGHT": sets video.width and video.height. */
  resolution?: string;
  video?: Partial<Record<keyof VideoSettingsDocument, string | number>>;
  /** The recording profile: the same keys and values as `video`. */
  recordVideo?: Partial<Record<keyof VideoSettingsDocument, string | number>>;
  segmentMs?: number | string;
  streamWindowMs?: number | string;
  maxFiles?: number;
  maxBytes?: number | string;
  minFreeBytes?: number | string;
  minFreePercent?: number;
  record?: boolean;
  join?: JoinPolicyName;
  timestamps?: boolean;
  cameraName?: string;
}

/** What applying changed settings did. */
export interface SettingsApplyResult {
  restartedSource: boolean;
  /**
   * Changed keys saved but not applied to the running daemon: they take
   * effect at the next start (e.g. `timestamps`, `cameraName`). Default [].
   */
  restartRequired?: string[];
}

/** The `PATCH /api/v1/settings` answer (and the `settings` event): the new settings, what changed, what was applied and what waits for a restart. */
export type SettingsPatchResult = SettingsDocument & {
  applied: SettingsApplyResult;
  changed: string[];
  restartRequired: string[];
};

/** The `mode` event: the mode controller's state. */
export interface ModeEventData {
  mode: CameraModeName;
  activity: CameraActivityName;
  /** True when port 5000 accepts clients. */
  streaming: boolean;
  /** True when the recorder should write segments. */
  recording: boolean;
  /** When the streaming window closes, ms since the epoch; null when no window is running. */
  windowEndsAtMs: number | null;
  reason: string;
  /** When the activity last changed, ms since the epoch. */
  sinceMs: number;
  /** Stream clients the controller knows about. */
  clients: number;
}

/** The data of each event on `GET /api/v1/events`, by event name. */
export interface ApiEventData {
  hello: { connectedAtMs: number };
  status: StatusDocument;
  mode: ModeEventData;
  'recording-added': RecordingDocument;
  'recording-removed': { name: string } | { all: true; count: number };
  settings: SettingsPatchResult;
  /** A moment was marked (by the API, the page or the button). */
  moment: MomentDocument;
  /** A press of the board's button: `short` (released within 600 ms), or `long` (held for `buttonLongPressMs`: the camera shuts down). */
  button: { press: 'short' | 'long'; heldMs: number; atMs: number };
}

/** Event names on the feed. */
export type ApiEventType = keyof ApiEventData;
