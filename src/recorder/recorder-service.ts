/**
 * The recorder as a daemon service: built from the daemon's config, recording hub and
 * logger (`config.record`, `recordingsDir`, `segmentMs`, `maxFiles`,
 * `maxBytes`, `minFreeBytes`, `minFreePercent`), with the recordings library
 * over the same folder, wired so the library knows which segment is being
 * written.
 */
import type { RearviewConfig } from '../config.js';
import type { Logger } from '../log/logger.js';
import type { CameraClock } from '../util/camera-clock.js';
import { Recorder, type RecorderHub, type RecorderOptions } from './recorder.js';
import { recordingHealth } from './recording-health.js';
import { RecordingLibrary } from './recording-library.js';
import { MomentStore } from './moment-store.js';

/** What the service needs from the daemon (RearviewDaemon has it). */
export interface RecorderServiceHost {
  readonly config: RearviewConfig;
  /** The recording profile's hub (the stream hub when recordings are the stream). */
  readonly recordingHub: RecorderHub;
  readonly logger: Logger;
  /** The daemon's wall clock: segments started before it is set are re-stamped when it is. */
  readonly cameraClock?: CameraClock;
}

/** DaemonService wrapper of Recorder + RecordingLibrary. Find it as `daemon.services.find((s) => s.name === 'recorder')`. */
export class RecorderService {
  readonly name = 'recorder';
  readonly recorder: Recorder;
  /** The library over the recordings folder (for the HTTP API). */
  readonly library: RecordingLibrary;
  /** Moments: segments kept out of rotation (docs/recording.md, "Moments"). */
  readonly moments: MomentStore;
  private readonly logger: Logger;
  private unsubscribeClock: (() => void) | undefined;

  constructor(host: RecorderServiceHost, overrides: Partial<RecorderOptions> = {}) {
    const { config } = host;
    const logger = host.logger.child('recorder');
    this.logger = logger;
    // The moments are built below; the recorder only calls these once started.
    const moments = (): MomentStore => this.moments;
    this.recorder = new Recorder({
      hub: host.recordingHub,
      dir: config.recordingsDir,
      segmentMs: config.segmentMs,
      limits: {
        maxFiles: config.maxFiles,
        maxBytes: config.maxBytes,
        minFreeBytes: config.minFreeBytes,
        minFreePercent: config.minFreePercent,
      },
      maxProtected: config.maxProtected,
      segmentEvents: {
        opened: (name, startedAtMs) => moments().segmentOpened(name, startedAtMs),
        finished: (name) => moments().segmentFinished(name),
      },
      ...(host.cameraClock ? { clock: host.cameraClock, now: () => host.cameraClock?.wallNow() ?? Date.now() } : {}),
      logger,
      ...overrides,
      // Moments' protection and the uploader's upload state are both inputs of the one retention rule.
      retention: { isProtected: (name) => moments().isProtected(name), ...overrides.retention },
    });
    this.library = new RecordingLibrary(config.recordingsDir, {
      isRecording: (path) => path === this.recorder.currentSegmentPath,
      lastSegment: () => this.recorder.lastSegment,
      diskSpace: overrides.diskSpace,
      isProtected: (name) => moments().isProtected(name),
      logger: logger.child('library'),
    });
    const clock = host.cameraClock;
    this.moments = new MomentStore({
      dir: this.recorder.dir,
      library: this.library,
      beforeMs: config.momentBeforeMs,
      afterMs: config.momentAfterMs,
      maxProtected: config.maxProtected,
      // The capture clock: segments are stamped with it (provisional until the clock is set).
      now: () => clock?.wallNow() ?? Date.now(),
      clockIsSet: () => clock?.isSet ?? true,
      ...(overrides.diskSpace ? { diskSpace: overrides.diskSpace } : {}),
      ...(overrides.events?.onSegmentRenamed ? { onSegmentRenamed: overrides.events.onSegmentRenamed } : {}),
      logger: logger.child('moments'),
    });
    this.unsubscribeClock = clock?.onChange((change) => {
      if (change.correctionMs !== null) this.moments.clockCorrected(change.correctionMs);
    });
  }

  /**
   * Why the recorder is not recording because of a failure ("not recording:
   * the recordings folder is missing (ENOENT): cannot create ..."), or
   * undefined while it records, waits for a keyframe, is paused or closed.
   * Decided by recordingHealth(), the one place that words it for the page,
   * the API and the LED; it clears when a segment opens again.
   */
  get error(): string | undefined {
    const health = recordingHealth({
      recorder: this.recorder.status,
      recordEnabled: true,
      modeAllowsRecording: true,
      sourceState: 'running', // the recorder's own failure only: the source is reported apart
    });
    return health.state === 'failed' ? `not recording: ${health.reason}` : undefined;
  }

  /** Starts recording (folder problems are reported in recorder.status and retried, never thrown). */
  async start(): Promise<void> {
    // Moments first: the recorder's first rotation must already spare the segments they keep.
    await this.moments.load().catch((err: Error) => this.logger.error(`moments: cannot load: ${err.message}`));
    await this.recorder.start();
    await this.moments.reconcile().catch((err: Error) => this.logger.warn(`moments: ${err.message}`));
  }

  /** Finishes the current segment and stops. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribeClock?.();
    await this.recorder.close();
    await this.moments.reconcile().catch(() => undefined); // the last segment, sealed just now
  }
}
