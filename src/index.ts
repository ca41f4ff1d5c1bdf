/**
 * `rearview`: the package's main entry, for embedding the camera daemon in
 * another program (docs/design.md). Build a config with {@link defaultConfig}
 * / {@link mergeConfig} / {@link loadConfig}, then
 * `const daemon = new RearviewDaemon(config); await daemon.start(); ... await daemon.close();`.
 *
 * The H.264 library and the client library are also here as the namespaces
 * `h264` and `client`; importing `rearview/h264` or `rearview/client`
 * directly is lighter (no daemon code), and `rearview/client/browser` is the
 * browser (WebCodecs) entry.
 */
export { RearviewDaemon } from './daemon.js';
export type { DaemonService, RearviewDaemonOptions } from './daemon.js';
export { defaultConfig, mergeConfig, readConfigFile, loadConfig } from './config.js';
export type { RearviewConfig, ConfigInput, VideoSettings, JoinPolicy, CameraMode, DeviceBackend } from './config.js';
export { StreamHub } from './hub/stream-hub.js';
export type { StreamHubOptions, StreamHubStats, StreamHubEvents } from './hub/stream-hub.js';
export type { StreamFrame, StreamParams } from './hub/stream-frame.js';
export { RearviewError, H264Error, SourceError, ConfigError, hasCode } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Logger, silentLogger, RateLimitedCounter } from './log/logger.js';
export type { LogLevel, LogSink } from './log/logger.js';
export { parseDurationMs, parseBytes, formatBytes } from './util/units.js';
/** The H.264 library (same as `rearview/h264`). */
export * as h264 from './h264/index.js';
/** The client library (same as `rearview/client`). */
export * as client from './client/index.js';
