/**
 * `rearview/client`: what app developers import (docs/client.md).
 *
 * - {@link connect}: the live stream as an async iterable of decodable access units.
 * - {@link decode}: raw RGB/YUV pixels from that stream, through ffmpeg.
 * - {@link CameraClient}: every HTTP endpoint of the camera, typed.
 * - {@link discover}: cameras on the LAN over mDNS.
 *
 * The browser entry (WebCodecs) is `rearview/client/browser` (src/client/browser.ts).
 */
export { connect, parseStreamUrl, StreamConnection, DEFAULT_STREAM_PORT } from './stream-client.js';
export type {
  ClientFrame,
  ClientJoin,
  ConnectOptions,
  StreamState,
  StreamStateEvent,
  StreamStats,
  StreamConnectionEvents,
} from './stream-client.js';
export type { ConsumerPolicy } from './frame-queue.js';
export { decode, findFfmpeg, DecodeError } from './decode.js';
export type { DecodeOptions, DecodedFrame, EncodedFrameLike, PixelFormat } from './decode.js';
export {
  CameraClient,
  cameraBaseUrl,
  parseContentRangeTotal,
  REARVIEW_GREETING,
  DEFAULT_API_PORT,
} from './camera-client.js';
export type {
  CameraClientOptions,
  CameraSettings,
  CameraStatus,
  ClipDownloadResult,
  ClipOptions,
  ClipRange,
  ClockDocument,
  ClockSetResult,
  DownloadOptions,
  DownloadProgress,
  DownloadResult,
  LegacyVideoEntry,
  MomentDeleteResult,
  MomentDocument,
  MomentsListDocument,
  Recording,
  RecordingDocument,
  RecordingsListDocument,
  RideDocument,
  RidesListDocument,
  SettingsDocument,
  SettingsPatch,
  SettingsPatchResult,
  StatusDocument,
} from './camera-client.js';
export { ClientError } from './client-error.js';
export type { ClientErrorCode } from './client-error.js';
export { discover } from '../discovery/mdns-browser.js';
export type { DiscoveredCamera, DiscoverOptions } from '../discovery/mdns-browser.js';
