/**
 * The HTTP API as a daemon service: builds the device (hardware or
 * stand-ins), the mode controller, the recordings store (the recorder's
 * RecordingLibrary), MP4 downloads (the recorder's MP4 cache), settings and
 * the web mount, and wires the modes to the TCP output, the LED and the
 * recorder. Sets `daemon.apiAddress` once bound.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RearviewConfig } from '../config.js';
import { createCameraDevice, type CameraDevice, type CameraDeviceOverrides } from '../device/camera-device.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../log/logger.js';
import { ModeController, type ModeState } from '../modes/mode-controller.js';
import type { TcpStreamServer } from '../outputs/tcp-stream-server.js';
import type { RecorderService } from '../recorder/recorder-service.js';
import type { PublishService } from '../outputs/publish-service.js';
import { RecordingLibrary } from '../recorder/recording-library.js';
import { ClipExporter } from '../recorder/clip-export.js';
import { recordingHealth, sameHealth, type RecordingHealth } from '../recorder/recording-health.js';
import type { SourceSupervisor } from '../sources/source-supervisor.js';
import type { Mp4Streamer, RecordingStore, StreamStatus } from './api-services.js';
import type { UploadSettingsDocument, UploadStatusDocument } from './wire-types.js';
import { attachment, sendRangeable } from './file-responses.js';
import { ApiServer } from './http-api.js';
import { SettingsStore } from './settings-store.js';
import { TokenAttemptLimiter } from './token-attempt-limiter.js';
import type { AllowList } from './network-allow-list.js';
import { webMountFromConfig, type WebMountHandle } from './web-mount.js';
import { packageVersion } from '../util/package-version.js';
import type { CameraClock } from '../util/camera-clock.js';

/** What the service needs from the daemon (RearviewDaemon has it). */
export interface ApiServiceHost {
  readonly config: RearviewConfig;
  readonly logger: Logger;
  readonly hub: StreamHub;
  /** The recorder's hub: the stream hub unless recordings have their own profile. */
  readonly recordingHub: StreamHub;
  readonly tcpServer: TcpStreamServer;
  /** allowNetworks compiled once by the daemon. */
  readonly allowList: AllowList;
  /** The daemon's monotonic clock, ms. */
  readonly clock: () => number;
  /** The daemon's wall clock (set or not): status, `POST /api/v1/clock`, the live view's clock pongs, the modes. */
  readonly cameraClock: CameraClock;
  readonly sourceSupervisor: SourceSupervisor;
  readonly services: ReadonlyArray<{ readonly name: string }>;
  /** The --config file, where settings changes are saved. */
  readonly configFile?: string | undefined;
  /** Hardware overrides of the device backend (tests: a fake Pi tree and I2C tools). */
  readonly deviceOptions?: CameraDeviceOverrides | undefined;
  apiAddress: { host: string; port: number } | undefined;
  /** The uploader, when uploads are configured. */
  readonly upload?: { readonly status: UploadStatusDocument; readonly settings: UploadSettingsDocument } | undefined;
  /** Applies changed settings; restarts the source when asked. */
  applyConfig(next: RearviewConfig, restartSource: boolean): Promise<void>;
}

/** The recorder's library as the API's RecordingStore. */
export function recordingStoreFromLibrary(library: RecordingLibrary): RecordingStore {
  return {
    list: () => library.list(),
    resolveSegment: (n) => library.resolveSegment(n),
    resolveThumbnail: (n) => library.resolveThumbnail(n),
    openSegment: (n) => library.openSegmentFile(n),
    openThumbnail: (n) => library.openThumbnailFile(n),
    remove: (n) => library.remove(n),
    removeAll: () => library.removeAll(),
    usage: async () => {
      const u = await library.usage();
      return {
        usedBytes: u.totalBytes,
        freeBytes: u.diskBytes > 0 ? u.freeBytes : null,
        totalBytes: u.diskBytes > 0 ? u.diskBytes : null,
        files: u.files,
      };
    },
  };
}

/**
 * MP4 downloads from the library's MP4 cache: a cached conversion is served
 * with Content-Length and Range; the first request streams the conversion
 * as it is produced (chunked); a Range request waits for the conversion.
 */
export function mp4StreamerFromLibrary(library: RecordingLibrary): Mp4Streamer {
  return async (segment: string, req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => {
    const source = await library.openMp4(segment);
    try {
      let size = source.size;
      if (req.headers.range && source.rangeable && size === undefined) size = await source.whenComplete();
      await sendRangeable(
        req,
        res,
        { size, rangeable: source.rangeable, stream: (range) => source.stream(range) },
        {
          'content-type': 'video/mp4',
          'content-disposition': attachment(source.name),
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
        },
        signal,
      );
    } finally {
      await source.close();
    }
  };
}

/** How often recording health is checked for a change (log line, LED, status event), ms. */
const HEALTH_CHECK_MS = 1000;

/** DaemonService for port 8000; find it as `daemon.services.find((s) => s.name === 'api')`. */
export class ApiService {
  readonly name = 'api';
  device: CameraDevice | undefined;
  modes: ModeController | undefined;
  server: ApiServer | undefined;
  private web: WebMountHandle | undefined;
  /** The daemon's recorder (absent with record off): paused while exclusive mode streams. */
  private recorderService: RecorderService | undefined;
  private detach: Array<() => void> = [];
  private closed = false;
  private lastHealth: RecordingHealth | undefined;
  private logger: Logger | undefined;

  constructor(private readonly host: ApiServiceHost) {}

  /** The web page and its WebSocket viewers (after start()). */
  get webMount(): WebMountHandle | undefined {
    return this.web;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const host = this.host;
    const logger = host.logger.child('api');
    this.logger = host.logger.child('recording');
    const config = host.config;
    const recorderService = host.services.find((s) => s.name === 'recorder') as RecorderService | undefined;
    this.recorderService = recorderService;
    const library =
      recorderService?.library ?? new RecordingLibrary(config.recordingsDir, { logger: logger.child('library') });

    this.device = await createCameraDevice({
      ...host.deviceOptions,
      backend: config.deviceBackend,
      fuelGauge: config.fuelGauge,
      chargingGpio: config.chargingGpio,
      ledGpio: config.ledGpio,
      buttonGpio: config.buttonGpio,
      buttonPull: config.buttonPull,
      buttonPolarity: config.buttonPolarity,
      buttonLongPressMs: config.buttonLongPressMs,
      gpioInterface: config.gpioInterface,
      logger: host.logger.child('device'),
    });
    this.device.start();
    const sim = Object.entries(this.device.simulated)
      .filter(([, s]) => s)
      .map(([k]) => k);
    if (sim.length > 0) logger.info(`simulated hardware: ${sim.join(', ')}`);

    const modes = new ModeController({
      clock: host.cameraClock,
      mode: config.mode,
      streamWindowMs: config.streamWindowMs,
      logger: host.logger.child('mode'),
    });
    this.modes = modes;
    this.detach.push(modes.onChange((state) => this.applyMode(state)));
    const onConnected = (): void => modes.clientConnected();
    const onDisconnected = (): void => modes.clientDisconnected();
    host.tcpServer.on('client-connected', onConnected);
    host.tcpServer.on('client-disconnected', onDisconnected);
    this.detach.push(() => {
      host.tcpServer.off('client-connected', onConnected);
      host.tcpServer.off('client-disconnected', onDisconnected);
    });

    // One wrong-token count for the API and the live view, so neither is a free guessing oracle.
    const tokenAttempts = new TokenAttemptLimiter();
    this.web = webMountFromConfig(host.hub, config, {
      allowList: host.allowList,
      clock: host.clock,
      wallNow: () => host.cameraClock.wallNow(),
      logger: host.logger,
      tokenAttempts,
    });
    // The web page's live view is a stream client like port 5000's: it holds the window open and follows the mode.
    this.detach.push(
      this.web.ws.onClients((event) => (event === 'connected' ? modes.clientConnected() : modes.clientDisconnected())),
    );
    const webrtc = this.web.webrtc;
    if (webrtc) {
      webrtc.onViewerChange = (event) => (event === 'connected' ? modes.clientConnected() : modes.clientDisconnected());
      this.detach.push(() => {
        webrtc.onViewerChange = undefined;
      });
    }
    const settings = new SettingsStore({
      get: () => host.config,
      configFile: host.configFile,
      upload: () => host.upload?.settings ?? null,
      apply: async (next, changed, sourceChanged) => {
        await host.applyConfig(next, sourceChanged);
        const restartRequired = await this.applySettings(next, changed);
        const pending = restartRequired.length > 0 ? `; at the next start: ${restartRequired.join(', ')}` : '';
        logger.info(`settings changed: ${changed.join(', ')}${sourceChanged ? ' (source restarted)' : ''}${pending}`);
        return { restartedSource: sourceChanged, restartRequired };
      },
    });
    this.server = new ApiServer({
      config: () => host.config,
      allowList: host.allowList,
      recordings: recordingStoreFromLibrary(library),
      mp4: mp4StreamerFromLibrary(library),
      mp4Source: (segment) => library.openMp4(segment),
      moments: recorderService?.moments,
      clips: recorderService
        ? new ClipExporter(library, {
            maxMs: () => host.config.clipMaxMs,
            now: () => host.cameraClock.wallNow(),
          })
        : undefined,
      device: this.device,
      modes,
      stream: () => this.streamStatus(recorderService),
      settings,
      web: this.web,
      logger,
      version: packageVersion() ?? '0.0.0',
      maxConcurrentDownloads: config.maxDownloads,
      tokenAttempts,
      clock: host.cameraClock,
      // Uptime and the token limiter measure durations: monotonic, so setting the wall clock moves neither.
      now: host.clock,
    });
    const port = await this.server.start(config.apiPort, config.bind);
    host.apiAddress = { host: config.bind, port };
    modes.start();
    this.checkRecordingHealth();
    // "clock not set" / "clock set" reach the page at once.
    this.detach.push(host.cameraClock.onChange(() => void this.server?.publishStatus()));
    const healthTimer = setInterval(() => this.checkRecordingHealth(), HEALTH_CHECK_MS);
    healthTimer.unref();
    this.detach.push(() => clearInterval(healthTimer));
  }

  /**
   * Recording or not, and why not: decided by recordingHealth() from the
   * recorder, the settings, the mode and the source. Everything that shows
   * it (status, events, page, CLI, LED) reads it from here.
   */
  recordingHealth(): RecordingHealth {
    const source = this.host.sourceSupervisor.status();
    return recordingHealth({
      recorder: this.recorderService?.recorder.status,
      recordEnabled: this.host.config.record,
      modeAllowsRecording: this.modes?.state.recording ?? true,
      sourceState: source.state,
      sourceError: source.lastError,
    });
  }

  /** On a change of recording health: one log line, the LED alarm, a status event. */
  private checkRecordingHealth(): void {
    if (this.closed) return;
    const health = this.recordingHealth();
    // 'starting' is passing (start-up, the moment between two segments): no log line, no LED change.
    if (health.state === 'starting' || sameHealth(this.lastHealth, health)) return;
    const wasFailed = this.lastHealth?.state === 'failed';
    this.lastHealth = health;
    if (health.state === 'failed') this.logger?.error(`NOT RECORDING: ${health.error}`);
    else if (health.state === 'recording') this.logger?.info(wasFailed ? 'recording again' : 'recording');
    else this.logger?.info(`not recording: ${health.reason}`);
    this.device?.led.setNotRecording(health.state === 'failed');
    void this.server?.publishStatus();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.detach) d();
    this.detach = [];
    await this.server?.close();
    await this.web?.close();
    this.modes?.close();
    await this.device?.close();
  }

  /**
   * Mode change: open/close port 5000 and the web page's live WebSocket, LED
   * pattern, and pause/resume the recorder (it stays one recorder: pausing
   * seals the current segment, resuming starts a new one at a keyframe).
   */
  private applyMode(state: ModeState): void {
    const tcp = this.host.tcpServer;
    tcp.accepting = state.streaming;
    if (!state.streaming) tcp.disconnectAll(`exclusive mode: recording (${state.reason})`);
    // Recording phase: nothing listens on the stream port (connections are refused, as on the device).
    void tcp.setListening(state.streaming);
    const ws = this.web?.ws;
    if (ws) {
      ws.accepting = state.streaming;
      ws.refusalReason = 'Camera Recording';
      if (!state.streaming) ws.disconnectAll(`camera recording (${state.reason})`);
    }
    const webrtc = this.web?.webrtc;
    if (webrtc) {
      webrtc.accepting = state.streaming;
      webrtc.refusalReason = `the camera is recording (${state.reason}); the live view returns in streaming mode`;
      if (!state.streaming) webrtc.disconnectAll(`camera recording (${state.reason})`);
    }
    this.device?.led.setMode(state.activity === 'recording' ? 'recording' : 'streaming');
    this.syncRecorder();
  }

  /** Records when the config asks for it and the mode allows it. */
  private syncRecorder(): void {
    const recorder = this.recorderService?.recorder;
    if (!recorder || this.closed) return;
    const record = this.host.config.record && (this.modes?.state.recording ?? true);
    if (record) recorder.resume();
    else recorder.pause();
  }

  /**
   * Applies changed settings to the running parts (the source was already
   * restarted for video.*). Returns the changed keys that only take effect
   * at the next start.
   */
  private async applySettings(next: RearviewConfig, changed: string[]): Promise<string[]> {
    const restartRequired: string[] = [];
    const recorder = this.recorderService?.recorder;
    const limitKeys = ['maxFiles', 'maxBytes', 'minFreeBytes', 'minFreePercent'] as const;
    for (const key of changed) {
      if (key.startsWith('video.') || key.startsWith('recordVideo.')) continue; // applied by restarting the source
      switch (key) {
        case 'segmentMs':
          recorder?.setSegmentMs(next.segmentMs);
          break;
        case 'streamWindowMs':
          this.modes?.setStreamWindowMs(next.streamWindowMs);
          break;
        case 'record':
          // Without a recorder (started with record off) there is nothing to resume.
          if (!recorder && next.record) restartRequired.push(key);
          else this.syncRecorder();
          break;
        case 'join':
          // The web live view takes it for its next clients; port 5000 keeps the policy it started with.
          if (this.web) this.web.ws.join = next.join;
          restartRequired.push(key);
          break;
        case 'maxFiles':
        case 'maxBytes':
        case 'minFreeBytes':
        case 'minFreePercent':
          break; // below, in one retention pass
        default:
          // timestamps (the hub's capture-time SEI), cameraName (mDNS, page title): fixed at start.
          restartRequired.push(key);
      }
    }
    if (recorder && changed.some((k) => (limitKeys as readonly string[]).includes(k))) {
      await recorder.setLimits({
        maxFiles: next.maxFiles,
        maxBytes: next.maxBytes,
        minFreeBytes: next.minFreeBytes,
        minFreePercent: next.minFreePercent,
      });
    }
    return restartRequired;
  }

  private streamStatus(recorderService: RecorderService | undefined): StreamStatus {
    const host = this.host;
    const params = host.hub.params;
    const hubStats = host.hub.stats();
    const tcp = host.tcpServer.stats();
    const recorder = recorderService?.recorder.status;
    return {
      source: host.sourceSupervisor.status().source ?? host.config.source,
      sourceRunning: host.sourceSupervisor.state === 'running',
      width: params?.width ?? null,
      height: params?.height ?? null,
      fps: params?.fps ?? null,
      bitrateBps: host.config.video.bitrateBps,
      measuredBitrateBps: Math.round(hubStats.bitrateBps),
      framesPublished: hubStats.frames,
      clients: [
        ...tcp.clients.map((c) => ({
          kind: 'tcp' as const,
          remote: c.remote,
          connectedMs: Math.round(c.connectedMs),
          lagMs: Math.round(c.lagMs),
          framesDropped: c.framesDropped,
          bytesSent: c.bytesSent,
          behindMs: Math.round(c.behindMs),
        })),
        ...(this.web?.streamClients() ?? []),
        ...(this.web?.webrtc?.viewers() ?? []).map((v) => ({
          kind: 'webrtc' as const,
          remote: v.address,
          connectedMs: v.connectedForMs,
          lagMs: Math.round(v.lagMs),
          framesDropped: v.framesDropped,
          bytesSent: v.bytesSent,
          state: v.state,
          rttMs: v.rttMs,
          route: v.route,
          keyframeRequests: v.keyframeRequests,
          behindMs: v.behindMs,
          behind: v.behind,
          skips: v.skips,
          slot: v.slot,
        })),
      ],
      slots: { tcp: tcp.slots, ws: this.web?.ws.slotStats() ?? null, webrtc: this.web?.webrtc?.slotStats() ?? null },
      webrtc: this.web?.webrtc?.stats() ?? null,
      recording: recorder?.state === 'recording',
      recordingVideo:
        host.recordingHub === host.hub
          ? {
              profile: 'same',
              width: params?.width ?? null,
              height: params?.height ?? null,
              bitrateBps: host.config.video.bitrateBps,
            }
          : {
              profile: 'separate',
              width: host.recordingHub.params?.width ?? null,
              height: host.recordingHub.params?.height ?? null,
              bitrateBps: host.config.recordVideo.bitrateBps,
            },
      currentSegment: recorder?.currentSegment ?? null,
      thumbnails: recorder?.thumbnails ?? null,
      recordingHealth: this.recordingHealth(),
      upload: host.upload?.status ?? null,
      publish: (host.services.find((s) => s.name === 'publish') as PublishService | undefined)?.status() ?? [],
    };
  }
}
