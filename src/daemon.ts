/**
 * RearviewDaemon: the camera daemon that `rearview serve` runs. It composes
 * the parts in one place:
 *
 *   capture source (SourceSupervisor) -> StreamHub -> TCP output (port 5000)
 *                                                  -> optional services
 *                                                     (recorder, HTTP API + web
 *                                                      page + WebSocket, mDNS,
 *                                                      mode controller)
 *
 * With a separate recording profile (config.recordProfile, where the source
 * can encode twice) the source's second output goes to a second StreamHub,
 * `recordingHub`, which only the recorder reads; otherwise `recordingHub`
 * is the stream hub itself.
 *
 * start() starts them in that order (readers before the source, so the first
 * keyframe reaches everyone); close() stops them in reverse order and is
 * idempotent. Optional services implement DaemonService and are created from
 * the config in one commented block of start().
 */
import { defaultConfig, type RearviewConfig } from './config.js';
import { buildCaptureTimeSei } from './h264/capture-time-sei.js';
import { StreamHub } from './hub/stream-hub.js';
import { silentLogger, type Logger } from './log/logger.js';
import { TcpStreamServer } from './outputs/tcp-stream-server.js';
import type { CaptureSource } from './sources/capture-source.js';
import {
  createSource as createSourceFromConfig,
  recordingProfileOf,
  type RecordingProfileChoice,
} from './sources/create-source.js';
import { SourceSupervisor } from './sources/source-supervisor.js';
import { compileAllowList, type AllowList } from './api/network-allow-list.js';
import { MdnsService } from './discovery/mdns-service.js';
import { RecorderService } from './recorder/recorder-service.js';
import { ApiService } from './api/api-service.js';
import type { RearviewError } from './errors.js';
import type { CameraDeviceOverrides } from './device/camera-device.js';
import { CameraClock } from './util/camera-clock.js';
import type { Clock } from './util/clock.js';
import type { UploadService as UploadServiceType } from './upload/upload-service.js';
import { fleetName, type FleetNameSources } from './util/fleet-name.js';

/** A long-lived optional part of the daemon (recorder, HTTP API, mDNS, ...). */
export interface DaemonService {
  /** Short name for logs ("recorder", "api", "mdns"). */
  readonly name: string;
  /** Starts the service; a rejection aborts daemon start-up (and closes what started). */
  start(): Promise<void>;
  /** Stops it and releases everything it holds. Must be idempotent. */
  close(): Promise<void>;
}

/** Options of {@link RearviewDaemon}. */
export interface RearviewDaemonOptions {
  logger?: Logger;
  /** Monotonic clock in ms for the hub and outputs. Default performance.now(). */
  clock?: () => number;
  /** Makes the capture source of each run (stamping with `options.clock`). Default: from config.source. Tests inject fakes here. */
  createSource?: (config: RearviewConfig, logger: Logger, options: { clock: Clock }) => CaptureSource;
  /** The camera's wall clock (valid or not, learnt from NTP or a client). Default: a CameraClock over the system clock. */
  cameraClock?: CameraClock;
  /** Extra services (embedding, tests), started before the built-in ones (recorder, API, mDNS) and closed after them. */
  services?: DaemonService[];
  /** The --config file: the HTTP API saves settings changes there. */
  configFile?: string | undefined;
  /** Append an AUD after every frame on raw TCP. Default true (false only to measure its effect). */
  trailingAud?: boolean;
  /**
   * With an injected createSource: whether its sources deliver the recording
   * profile (`recordingOutput`) when config.recordProfile is `separate`.
   * Default false (the recorder records the stream). The default factory
   * decides from the source (recordingProfileOf).
   */
  separateRecording?: boolean;
  /** close() waits this long for a part still starting before closing it anyway, ms. Default 1000. */
  startingGraceMs?: number;
  /** Environment the upload credentials are read from (AWS_*). Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Hardware the device backend reads instead of the machine's (tests: a fake
   * Pi tree, a fake `i2cget`, a shutdown that powers nothing off). The backend
   * and the fuel gauge chip still come from the config.
   */
  device?: CameraDeviceOverrides;
  /** Where `{name}` of publish URLs takes its device suffix from (tests: files of their own). */
  fleetNameSources?: FleetNameSources;
}

/** The camera daemon; see the file comment. */
export class RearviewDaemon {
  /** The configuration it runs with (never modified). */
  config: RearviewConfig;
  /** The --config file, if any (settings changes are saved there). */
  readonly configFile: string | undefined;
  /** RearviewDaemonOptions.device, for the API service that builds the device. */
  readonly deviceOptions: RearviewDaemonOptions['device'];
  readonly logger: Logger;
  readonly clock: () => number;
  /**
   * The one wall clock of the daemon: capture times, segment dates, status
   * times. Not set until NTP or a client sets it (src/util/camera-clock.ts).
   */
  readonly cameraClock: CameraClock;
  /** The stream hub: port 5000, the WebSocket and every live output read from it. */
  readonly hub: StreamHub;
  /** The recording profile's hub, which the recorder reads; the stream hub itself when recordings are the stream. */
  readonly recordingHub: StreamHub;
  /** Whether recordings have their own profile, fixed at construction (and why not, when a source cannot). */
  readonly recordingProfile: RecordingProfileChoice;
  /** allowNetworks compiled once, for the TCP output, the HTTP API and the WebSocket viewers. */
  readonly allowList: AllowList;
  /** The raw H.264 output (port 5000); per-client stats via tcpServer.stats(). */
  readonly tcpServer: TcpStreamServer;
  /** Keeps the capture source running (restarts with backoff). */
  sourceSupervisor: SourceSupervisor;
  /** Optional services in start order (extra ones first, then the built-in ones start() adds). Add before start(). */
  readonly services: DaemonService[] = [];
  /** The uploader, when `upload` is configured (set by start()). */
  upload: UploadServiceType | undefined;
  /** Environment for the upload credentials. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the TCP stream listens (the real port when 0 was configured); set by start(). */
  streamAddress: { host: string; port: number } | undefined;
  /** Where the HTTP API listens; the API service sets it when it has bound. */
  apiAddress: { host: string; port: number } | undefined;
  /** performance.now() when start() was called. */
  startedAtMono: number | undefined;
  private started: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** The source restart of an applyConfig() in progress, if any. */
  private applying: Promise<void> | undefined;
  private readonly supervisorOptions: ConstructorParameters<typeof SourceSupervisor>[0];
  /** What has started, to close in reverse order. */
  private readonly running: { name: string; close: () => Promise<void> }[] = [];
  /** The start() of a part that is running now, during start-up (see stepOf). */
  private startingStep: Promise<unknown> | undefined;
  private readonly sourceStoppedCallbacks: ((error: RearviewError) => void)[] = [];
  private readonly startingGraceMs: number;
  /** Rejects when close() is called: a start step that never settles cannot hold start() for ever. */
  private readonly closeRequested: Promise<never>;
  private rejectCloseRequested: (err: Error) => void = () => undefined; // replaced once close() is awaited
  /** The part close() is stopping now (for "still stopping" messages). */
  private closingPart: string | undefined;
  /** Whether the default source factory is used (then start() checks the source can be built before binding). */
  private readonly checkSourceFirst: boolean;

  constructor(
    config: RearviewConfig,
    private readonly options: RearviewDaemonOptions = {},
  ) {
    this.config = config;
    this.configFile = options.configFile;
    this.deviceOptions = options.device;
    this.env = options.env ?? process.env;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? (() => performance.now());
    const clockLog = this.logger.child('clock');
    this.cameraClock = options.cameraClock ?? new CameraClock({ log: (m) => clockLog.info(m) });
    const newHub = (name: string, fps: number): StreamHub =>
      new StreamHub({
        logger: this.logger.child(name),
        clock: this.clock,
        captureTimeSei: config.timestamps ? buildCaptureTimeSei : undefined,
        trailingAud: options.trailingAud ?? true,
        gopCacheMaxBytes: config.gopCacheMaxBytes,
        gopCacheMaxFrames: config.gopCacheMaxFrames,
        fallbackVideo: { fps },
        readerDefaults: {
          join: config.join,
          softLimitBytes: config.clientSoftLimitBytes,
          softLimitMs: config.clientSoftLimitMs,
          hardLimitMs: config.clientHardLimitMs,
        },
      });
    this.hub = newHub('hub', config.video.fps);
    // Without recording there is nothing to encode a second time for.
    const wanted = config.record && config.recordProfile === 'separate';
    this.recordingProfile = !wanted
      ? { separate: false }
      : options.createSource
        ? { separate: options.separateRecording ?? false }
        : recordingProfileOf(config);
    this.recordingHub = this.recordingProfile.separate ? newHub('recording-hub', config.recordVideo.fps) : this.hub;
    this.allowList = compileAllowList(config.allowNetworks);
    this.tcpServer = new TcpStreamServer({
      hub: this.hub,
      host: config.bind,
      port: config.streamPort,
      maxClients: config.maxClients,
      maxClientsPerAddress: config.maxClientsPerAddress,
      behindLimitMs: config.clientBehindLimitMs,
      join: config.join,
      softLimitBytes: config.clientSoftLimitBytes,
      softLimitMs: config.clientSoftLimitMs,
      hardLimitMs: config.clientHardLimitMs,
      allowList: this.allowList,
      logger: this.logger.child('tcp'),
      clock: this.clock,
    });
    this.startingGraceMs = options.startingGraceMs ?? 1000;
    this.closeRequested = new Promise<never>((_resolve, reject) => {
      this.rejectCloseRequested = reject;
    });
    this.closeRequested.catch(() => undefined); // only ever awaited in a race: no unhandled rejection
    this.checkSourceFirst = options.createSource === undefined;
    const createSource = options.createSource ?? createSourceFromConfig;
    this.supervisorOptions = {
      // this.config, not the constructor's: applyConfig() may have replaced it. The
      // recording profile stays as decided here, so every run has the outputs the hubs expect.
      factory: () => createSource(this.sourceConfig(), this.logger, { clock: this.cameraClock }),
      sink: this.hub,
      ...(this.recordingProfile.separate ? { recordingSink: this.recordingHub } : {}),
      logger: this.logger.child('source'),
      stallMs: config.sourceStallMs,
      clock: this.cameraClock,
    };
    this.sourceSupervisor = this.newSupervisor();
    this.services.push(...(options.services ?? []));
  }

  /**
   * Calls `callback` when the capture source stops for good: a source that
   * cannot be restarted (standard input) reached its end or failed. The
   * daemon keeps serving what it has; `rearview serve` then shuts down.
   */
  onSourceStopped(callback: (error: RearviewError) => void): void {
    this.sourceStoppedCallbacks.push(callback);
  }

  /** The config the source is built from: the recording profile as decided at construction. */
  private sourceConfig(): RearviewConfig {
    const recordProfile = this.recordingProfile.separate ? 'separate' : 'same';
    return this.config.recordProfile === recordProfile ? this.config : { ...this.config, recordProfile };
  }

  private newSupervisor(): SourceSupervisor {
    const supervisor = new SourceSupervisor(this.supervisorOptions);
    supervisor.onStopped((error) => {
      for (const callback of this.sourceStoppedCallbacks) callback(error);
    });
    return supervisor;
  }

  /**
   * Starts hub, TCP output, optional services, then the source. Rejects
   * (after closing whatever started) when a part cannot start, e.g. the port
   * is taken or the source cannot run at all.
   */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    this.startedAtMono = this.clock();
    const { config } = this;
    // Each part is tracked *before* its start(): one whose start() fails half-way
    // (EADDRINUSE after its timers and handles exist) is closed too; close() is
    // idempotent by contract. close() during start-up stops at the next step.
    const track = (name: string, close: () => Promise<void>): void => {
      if (this.closing) {
        close().catch((err: unknown) => this.logger.error(`closing ${name}: ${(err as Error).message}`));
        throw new Error(`daemon closed while starting (${name})`);
      }
      this.running.push({ name, close });
    };
    try {
      // A source that cannot be built (a missing encoder program, a bad pipeline) is refused before
      // any port is bound or the camera is advertised. Building one starts nothing and holds nothing.
      if (this.checkSourceFirst) createSourceFromConfig(this.sourceConfig(), silentLogger);
      if (this.recordingProfile.note) this.logger.info(`recording profile: ${this.recordingProfile.note}`);
      else if (this.recordingProfile.separate) {
        const v = config.recordVideo;
        this.logger.info(
          `recording profile: ${v.width}x${v.height} ${v.fps} fps ${v.bitrateBps / 1e6} Mbit/s ${v.profile}, stream ${config.video.width}x${config.video.height}`,
        );
      }

      // The clock first: whether it can be believed decides how the first frames are stamped.
      track('clock', async () => this.cameraClock.close());
      await this.stepOf(this.cameraClock.start());

      track('hub', () => this.hub.close());
      await this.stepOf(this.hub.start());
      if (this.recordingHub !== this.hub) {
        track('recording-hub', () => this.recordingHub.close());
        await this.stepOf(this.recordingHub.start());
      }

      track('tcp', () => this.tcpServer.close());
      this.streamAddress = await this.stepOf(this.tcpServer.start());

      // Built-in services after the extra ones given to the constructor.
      // Uploads (docs/recording.md, "Uploads"): the code loads only when configured.
      let upload: UploadServiceType | undefined;
      let recorderService: RecorderService | undefined;
      let api: ApiService | undefined;
      if (config.upload !== undefined) {
        const { UploadService } = await import('./upload/upload-service.js');
        upload = new UploadService({
          config,
          logger: this.logger.child('upload'),
          env: this.env,
          isCharging: async () => (api?.device ? await api.device.charging.isCharging() : null),
          isProtected: (name) => recorderService?.moments.isProtected(name) ?? false,
          thumbnailSettled: (name) => recorderService?.recorder.thumbnailSettled(name) ?? Promise.resolve(),
          repairedSegments: async () => {
            const names = new Set(recorderService?.recorder.status.repairedSegments ?? []);
            if (names.size === 0 || !recorderService) return [];
            return (await recorderService.library.list())
              .filter((r) => names.has(r.name) && r.startedAtMs !== null)
              .map((r) => ({
                name: r.name,
                startedAtMs: r.startedAtMs as number,
                durationMs: r.durationMs ?? 0,
                frames: null,
                sizeBytes: r.sizeBytes,
                width: r.width,
                height: r.height,
                provisional: false,
              }));
          },
        });
        this.upload = upload;
      }
      if (config.record) {
        const u = upload;
        recorderService = new RecorderService(
          this,
          u
            ? {
                events: u.recorderEvents,
                retention: { uploadState: (name) => u.uploadState(name), uploadOrder: (name) => u.uploadOrder(name) },
              }
            : {},
        );
        this.services.push(recorderService);
      }
      // Publishing is loaded only when configured (a 512 MB camera pays nothing for it otherwise).
      if (config.publish.length > 0) {
        const { PublishService } = await import('./outputs/publish-service.js');
        this.services.push(
          new PublishService(this, {
            fleetName: fleetName(config.cameraName, defaultConfig().cameraName, this.options.fleetNameSources),
          }),
        );
      }
      api = new ApiService(this); // HTTP API, web page, modes, device
      this.services.push(api);
      if (upload) this.services.push(upload);

      // The uploader closes after the recorder (parts close in reverse order): the segment the
      // recorder seals when it stops is queued and saved, and goes up at the next start.
      if (upload) {
        const u = upload;
        track(u.name, () => u.close());
      }
      for (const service of this.services) {
        if (service !== upload) track(service.name, () => service.close());
        await this.stepOf(service.start());
      }

      // The closure reads this.sourceSupervisor when it runs: applyConfig() may have replaced it.
      track('source', () => this.sourceSupervisor.close());
      await this.sourceSupervisor.start(); // not a step: it settles when closed (see stepOf)

      // mDNS last: it advertises the ports really bound, and only once the source has not been refused.
      if (config.mdns) {
        const mdns = new MdnsService(this);
        this.services.push(mdns);
        track(mdns.name, () => mdns.close());
        await this.stepOf(mdns.start());
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Applies changed settings (PATCH /api/v1/settings): `next` replaces the
   * config; with `restartSource` the capture source is stopped and started
   * again with the new video settings (the hub starts a new generation).
   * The API service then applies what it can to the running parts and
   * reports the rest as needing a restart (ApiService.applySettings).
   */
  async applyConfig(next: RearviewConfig, restartSource: boolean): Promise<void> {
    this.config = next;
    if (!restartSource || this.closing || this.sourceSupervisor.state === 'idle') return;
    const previous = this.applying;
    const run = (async () => {
      await previous?.catch(() => undefined); // one source restart at a time; the earlier one logged its own failure
      if (this.closing) return;
      await this.sourceSupervisor.close();
      // close() may have run while the old source stopped: then start nothing.
      if (this.closing) return;
      this.sourceSupervisor = this.newSupervisor();
      await this.sourceSupervisor.start();
    })();
    this.applying = run;
    try {
      await run;
    } finally {
      if (this.applying === run) this.applying = undefined;
    }
  }

  /**
   * Remembers the start() in flight so close() can wait for it. The source
   * supervisor is not waited for: its start() may retry until closed, and
   * its close() handles a start in flight itself. The step rejects as soon
   * as close() is called, so start() ends even if the part's start() never does.
   */
  private stepOf<T>(step: Promise<T>): Promise<T> {
    this.startingStep = step;
    return Promise.race([step, this.closeRequested]);
  }

  /** The part close() is stopping at the moment ("recorder", "api", ...), or undefined. */
  get stoppingPart(): string | undefined {
    return this.closingPart;
  }

  /** Stops everything in reverse start order (source first, hub last). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rejectCloseRequested(new Error('daemon closed while starting'));
      // A source restart in flight sees `closing` and stops; wait for it so
      // the supervisor closed below is the last one.
      await this.applying?.catch(() => undefined); // a failed apply logged its own error; only its end matters
      // A part still starting is closed once its start() has settled: closing it half-way
      // (a server not listening yet) left that start() pending for ever. But a start() that
      // never settles (a stuck disk) must not keep the daemon from stopping: wait a bounded time.
      if (this.startingStep) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.startingGraceMs);
        });
        await Promise.race([this.startingStep.catch(() => undefined /* start() reports its own failure */), grace]);
        clearTimeout(timer);
      }
      while (this.running.length > 0) {
        const part = this.running.pop() as { name: string; close: () => Promise<void> };
        this.closingPart = part.name;
        try {
          await part.close();
        } catch (err) {
          this.logger.error(`closing ${part.name}: ${(err as Error).message}`);
        }
      }
      // Parts constructed but never started still hold nothing; make sure of the source's process.
      this.closingPart = 'source';
      await this.sourceSupervisor.close().catch(() => undefined); // closing anyway: the supervisor logs its own errors
      this.closingPart = undefined;
    })();
    return this.closing;
  }
}
