/** Everything the route files share: options, the event feed, the download limiter. */
import type { RearviewConfig } from '../config.js';
import type { CameraDevice } from '../device/camera-device.js';
import type { Logger } from '../log/logger.js';
import type { EventLoopDelayMonitor } from '../util/event-loop-delay.js';
import type { ModeController } from '../modes/mode-controller.js';
import type { ApiEvents } from './api-events.js';
import type {
  ClipsApi,
  MomentsApi,
  Mp4SourceOpener,
  Mp4Streamer,
  RecordingStore,
  StreamStatus,
  WebMount,
} from './api-services.js';
import type { DownloadLimiter } from './file-responses.js';
import type { SettingsStore } from './settings-store.js';
import type { CameraClock } from '../util/camera-clock.js';

/** What the API needs of the camera's clock. */
export type ApiClock = Pick<CameraClock, 'state' | 'wallNow' | 'setFromClient'>;

/** Shared by the route builders. */
export interface ApiContext {
  config: () => RearviewConfig;
  logger: Logger;
  recordings: RecordingStore;
  mp4: Mp4Streamer | undefined;
  /** The MP4 conversion of a segment as bytes (ride playlist parts). */
  mp4Source?: Mp4SourceOpener | undefined;
  /** Moments and clips: absent without a recorder (record off at start). */
  moments: MomentsApi | undefined;
  clips: ClipsApi | undefined;
  /** The capture clock (wall time segments are stamped with), ms: rides and clips. */
  captureNow: () => number;
  device: CameraDevice;
  modes: ModeController;
  stream: () => StreamStatus;
  settings: SettingsStore;
  events: ApiEvents;
  downloads: DownloadLimiter;
  /** A download with no progress for this long is dropped, ms. */
  downloadIdleTimeoutMs: number;
  version: string;
  /** Process start, ms since the epoch (uptime). */
  startedAtMs: number;
  now: () => number;
  /** The camera's clock: status, and `POST /api/v1/clock`. */
  clock: ApiClock;
  /** Request counters for /metrics, by route pattern and status. */
  requestCounts: Map<string, number>;
  /** The web page's live outputs (WebSocket, WebRTC) and their access check. */
  web: WebMount | undefined;
  /** The event loop's delay since start, for /metrics. */
  eventLoopDelay: EventLoopDelayMonitor;
}
