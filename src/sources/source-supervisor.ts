/**
 * Keeps one capture source running. It creates a source from a factory,
 * starts it, and when the source exits, fails to start, or stalls (no access
 * unit for `stallMs`, also while starting or connecting), it closes it
 * (killing its process group) and starts a fresh one after an exponential
 * backoff. Each restarted run is announced to the sink with
 * `discontinuity(reason)` before it delivers anything, so the hub makes
 * clients continue at the new run's first keyframe with its SPS/PPS.
 *
 * Logging follows state changes, not attempts: a failure identical to the
 * previous one (the same camera still missing, the same host still
 * refusing) is logged at debug level only, and recovery is logged once.
 */
import { SourceError, RearviewError } from '../errors.js';
import type { AccessUnit } from '../h264/access-unit.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { StreamCompatibilityCheck } from './stream-compatibility-check.js';
import type { CaptureSource, SourceSink } from './capture-source.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** Where the supervisor is. */
export type SupervisorState =
  /** Not started yet. */
  | 'idle'
  /** A run is starting (spawning, connecting, reading the file). */
  | 'starting'
  /** The current run started. */
  | 'running'
  /** Waiting before the next attempt. */
  | 'backoff'
  /** Gave up: the first start failed permanently, or the source cannot be restarted (stdin ended). */
  | 'stopped'
  /** close() was called. */
  | 'closed';

/** Exponential backoff between attempts. */
export interface BackoffOptions {
  /** First delay, ms. Default 250. */
  initialMs?: number;
  /** Largest delay, ms. Default 10000. */
  maxMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
}

/** Options of {@link SourceSupervisor}. */
export interface SourceSupervisorOptions {
  /** Makes a fresh source for each run (may throw a SourceError/ConfigError). */
  factory: () => CaptureSource;
  /** Receives the access units of the current run, and a discontinuity before each restarted run. */
  sink: SourceSink;
  /**
   * The recording profile's sink (the daemon's recording hub), when recordings
   * have their own profile. A source with `recordingOutput` delivers it there;
   * from a source without one, the stream's access units go to both sinks, so
   * the recorder never waits for an output that does not exist.
   */
  recordingSink?: SourceSink;
  logger?: Logger;
  /** A run that delivers no access unit for this long is restarted; 0 disables. Default 5000 ms (config.sourceStallMs). */
  stallMs?: number;
  backoff?: BackoffOptions;
  /** A run that delivered video for this long resets the backoff to its first delay. Default 10000 ms. */
  stableMs?: number;
  clock?: Clock;
}

/** A snapshot for status pages. */
export interface SupervisorStatus {
  state: SupervisorState;
  /** The source's name ("sample", "rpicam", "tcp://cam:5000"), from the latest run. */
  source: string | undefined;
  /** Runs started so far (first run included). */
  runs: number;
  /** Runs started after the first. */
  restarts: number;
  /** Access units delivered, all runs. */
  accessUnits: number;
  /** Wall-clock time of the latest access unit, ms since the epoch; undefined before the first. */
  lastAccessUnitAtMs: number | undefined;
  /** Why the latest run ended, if one did. */
  lastError: { code: string; message: string; atMs: number } | undefined;
  /** Delay before the next attempt while in 'backoff', ms. */
  nextAttemptInMs: number | undefined;
  /** Problems with the video itself, each said once (not playable in browsers, keyframes too far apart). */
  warnings: string[];
}

/** Codes for which retrying cannot help at start-up (a missing program, a bad file, a bad option). */
const PERMANENT_CODES = new Set([
  'ERR_CONFIG',
  'ERR_SOURCE_SPAWN',
  'ERR_NOT_FOUND',
  'ERR_H264_NO_START_CODE',
  'ERR_H264_INVALID',
  'ERR_H264_UNSUPPORTED',
]);

interface Run {
  id: number;
  source: CaptureSource | undefined;
  startedMono: number;
  firstAuMono: number | undefined;
  lastAuMono: number | undefined;
  /** Latest access unit of the recording output, when the run has one (for the stall check). */
  lastRecordingAuMono: number | undefined;
  /** The run's source delivers the recording profile itself. */
  recordingOutput: boolean;
  ended: boolean;
}

/** Supervises one capture source; see the file comment. */
export class SourceSupervisor {
  private readonly options: SourceSupervisorOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly stallMs: number;
  private currentState: SupervisorState = 'idle';
  private run: Run | undefined;
  private runCount = 0;
  private attempt = 0;
  private auCount = 0;
  private compatibility: StreamCompatibilityCheck;
  private lastAuWallMs: number | undefined;
  private lastError: SupervisorStatus['lastError'];
  private lastFailureKey: string | undefined;
  private failuresInRow = 0;
  private stallTimer: TimerHandle | undefined;
  private backoffTimer: TimerHandle | undefined;
  private backoffUntilMono: number | undefined;
  private previousClose: Promise<void> = Promise.resolve();
  private startPromise: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private stoppedCallbacks: Array<(error: RearviewError) => void> = [];
  private signalClosed: () => void = () => undefined; // replaced just below
  private readonly closedSignal = new Promise<void>((resolve) => (this.signalClosed = resolve));

  constructor(options: SourceSupervisorOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.compatibility = new StreamCompatibilityCheck(this.logger);
    this.stallMs = options.stallMs ?? 5000;
    if (!Number.isFinite(this.stallMs) || this.stallMs < 0)
      throw new RangeError(`stallMs must be >= 0, got ${this.stallMs}`);
  }

  /** Current state. */
  get state(): SupervisorState {
    return this.currentState;
  }

  /** Runs started after the first. */
  get restarts(): number {
    return Math.max(0, this.runCount - 1);
  }

  /** The current run's source, if any (for status pages and tests). */
  get currentSource(): CaptureSource | undefined {
    return this.run?.source;
  }

  /** A snapshot for status pages. */
  status(): SupervisorStatus {
    return {
      state: this.currentState,
      source: this.run?.source?.name,
      runs: this.runCount,
      restarts: this.restarts,
      accessUnits: this.auCount,
      lastAccessUnitAtMs: this.lastAuWallMs,
      lastError: this.lastError,
      warnings: [...this.compatibility.warnings],
      nextAttemptInMs:
        this.currentState === 'backoff' && this.backoffUntilMono !== undefined
          ? Math.max(0, Math.round(this.backoffUntilMono - this.clock.monoNow()))
          : undefined,
    };
  }

  /**
   * Called once if the supervisor gives up: the source cannot be restarted
   * (standard input ended). The daemon decides what to do (usually exit).
   */
  onStopped(callback: (error: RearviewError) => void): void {
    this.stoppedCallbacks.push(callback);
  }

  /**
   * Starts the first run. Resolves once it is running, or once a failure
   * that a retry may fix (a camera busy, a host not answering yet) has been
   * scheduled for retry. Rejects, and stays 'stopped', when the first start
   * fails permanently (missing program, unreadable or non-H.264 file, bad
   * option), so `serve` can exit with a clear message. Idempotent.
   */
  start(): Promise<void> {
    // close() settles start() even when the source's own start() never does.
    this.startPromise ??= Promise.race([this.launch(undefined), this.closedSignal]);
    return this.startPromise;
  }

  /** Stops the current run (process group killed) and all timers. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.currentState = 'closed';
    this.signalClosed();
    this.clearStallTimer();
    if (this.backoffTimer !== undefined) this.clock.clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    const run = this.run;
    if (run && !run.ended) {
      run.ended = true;
      this.previousClose = this.closeSource(run);
    }
    await this.previousClose;
  }

  private async launch(restartReason: string | undefined): Promise<void> {
    // The previous run must be gone first: a camera can only be opened by one process.
    await this.previousClose;
    if (this.closing) return;
    const run: Run = {
      id: ++this.runCount,
      source: undefined,
      startedMono: this.clock.monoNow(),
      firstAuMono: undefined,
      lastAuMono: undefined,
      lastRecordingAuMono: undefined,
      recordingOutput: false,
      ended: false,
    };
    this.run = run;
    this.currentState = 'starting';
    this.armStallTimer(run);
    let source: CaptureSource;
    try {
      source = this.options.factory();
    } catch (err) {
      return this.startFailed(run, toSourceError(err));
    }
    run.source = source;
    const recordingSink = this.options.recordingSink;
    run.recordingOutput = recordingSink !== undefined && source.recordingOutput === true;
    if (restartReason !== undefined) {
      this.options.sink.discontinuity(restartReason);
      recordingSink?.discontinuity(restartReason);
    }
    source.onExit((error) => {
      this.fail(run, error ?? new SourceError('ERR_SOURCE_EXITED', `${source.name} stopped`));
    });
    try {
      await source.start(
        this.runSink(run),
        run.recordingOutput && recordingSink ? this.recordingRunSink(run, recordingSink) : undefined,
      );
    } catch (err) {
      return this.startFailed(run, toSourceError(err));
    }
    if (run.ended || this.closing) return;
    this.currentState = 'running';
    if (run.id === 1) this.logger.info(`${source.name} started`);
    else if (this.failuresInRow <= 1) this.logger.info(`${source.name} restarted (restart ${this.restarts})`);
    else this.logger.debug(`${source.name} restarted (restart ${this.restarts})`);
  }

  private startFailed(run: Run, error: RearviewError): void {
    // Already ended (stalled while starting, or closed): its replacement is scheduled or not wanted.
    if (run.ended || this.closing) return;
    if (run.id === 1 && PERMANENT_CODES.has(error.code)) {
      run.ended = true;
      this.clearStallTimer();
      this.lastError = { code: error.code, message: error.message, atMs: this.clock.wallNow() };
      this.currentState = 'stopped';
      this.logger.error(`cannot start the source: ${error.message}`);
      if (run.source) this.previousClose = this.closeSource(run);
      throw error;
    }
    this.fail(run, error);
  }

  /** The recording output's sink for one run: late output dropped, its last access unit timed for the stall check. */
  private recordingRunSink(run: Run, sink: SourceSink): SourceSink {
    return {
      accessUnit: (au: AccessUnit, capturedAtMs: number) => {
        if (run.ended) return;
        run.lastRecordingAuMono = this.clock.monoNow();
        sink.accessUnit(au, capturedAtMs);
      },
      discontinuity: (reason: string) => {
        if (!run.ended) sink.discontinuity(reason);
      },
    };
  }

  private runSink(run: Run): SourceSink {
    const sink = this.options.sink;
    // A one-stream source feeds the recording sink too (see SourceSupervisorOptions.recordingSink).
    const copyTo = run.recordingOutput ? undefined : this.options.recordingSink;
    return {
      accessUnit: (au: AccessUnit, capturedAtMs: number) => {
        // Late output of a run that was already replaced must not reach the hub.
        if (run.ended) return;
        const now = this.clock.monoNow();
        run.firstAuMono ??= now;
        run.lastAuMono = now;
        this.auCount++;
        this.lastAuWallMs = capturedAtMs;
        if (this.failuresInRow > 0 && run.firstAuMono === now) {
          if (this.failuresInRow > 1)
            this.logger.info(
              `${run.source?.name ?? 'source'} delivering video again after ${this.failuresInRow} failed attempts`,
            );
          this.failuresInRow = 0;
        }
        this.compatibility.check(au, capturedAtMs);
        sink.accessUnit(au, capturedAtMs);
        copyTo?.accessUnit(au, capturedAtMs);
      },
      discontinuity: (reason: string) => {
        if (run.ended) return;
        sink.discontinuity(reason);
        copyTo?.discontinuity(reason);
      },
    };
  }

  /** Ends `run` because of `error` and schedules the next one (or gives up). */
  private fail(run: Run, error: RearviewError): void {
    if (run.ended || this.closing) return;
    run.ended = true;
    this.clearStallTimer();
    const now = this.clock.monoNow();
    this.lastError = { code: error.code, message: error.message, atMs: this.clock.wallNow() };
    if (run.source) this.previousClose = this.closeSource(run);

    const key = `${error.code} ${error.message}`;
    const repeated = key === this.lastFailureKey && this.failuresInRow > 0;
    this.lastFailureKey = key;
    this.failuresInRow++;

    const source = run.source;
    if (source && source.restartable === false) {
      this.currentState = 'stopped';
      this.logger.error(`${source.name} ended and cannot be restarted: ${error.message}`);
      for (const cb of this.stoppedCallbacks) cb(error);
      return;
    }
    if (run.firstAuMono !== undefined && now - run.firstAuMono >= (this.options.stableMs ?? 10_000)) this.attempt = 0;
    const { initialMs = 250, maxMs = 10_000, factor = 2 } = this.options.backoff ?? {};
    const delayMs = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt++;
    const message = `${error.message}; restarting in ${delayMs} ms`;
    if (repeated) this.logger.debug(`${message} (attempt ${this.failuresInRow})`);
    else this.logger.warn(message);
    this.currentState = 'backoff';
    this.backoffUntilMono = now + delayMs;
    this.backoffTimer = this.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      this.backoffUntilMono = undefined;
      void this.launch(`source restarted after: ${error.message}`).catch((err: unknown) => {
        this.logger.error(`restart failed: ${(err as Error).message}`);
      });
    }, delayMs);
  }

  private async closeSource(run: Run): Promise<void> {
    try {
      await run.source?.close();
    } catch (err) {
      this.logger.warn(`closing ${run.source?.name ?? 'source'} failed: ${(err as Error).message}`);
    }
  }

  private armStallTimer(run: Run): void {
    this.clearStallTimer();
    if (this.stallMs === 0) return;
    const check = () => {
      this.stallTimer = undefined;
      if (run.ended || this.closing) return;
      const now = this.clock.monoNow();
      const streamSince = run.lastAuMono ?? run.startedMono;
      // A recording output that falls silent loses the rider's recording: it stalls the run like the stream.
      const recordingSince = run.recordingOutput ? (run.lastRecordingAuMono ?? run.startedMono) : Infinity;
      const since = Math.min(streamSince, recordingSince);
      const idleMs = now - since;
      if (idleMs >= this.stallMs) {
        const what =
          this.currentState === 'starting'
            ? 'did not start'
            : recordingSince < streamSince
              ? 'delivered no recording video'
              : 'delivered no video';
        this.fail(
          run,
          new SourceError('ERR_SOURCE_STALLED', `${run.source?.name ?? 'source'} ${what} for ${this.stallMs} ms`),
        );
        return;
      }
      // Re-armed lazily from the latest frame, so frames cost no timer work.
      this.stallTimer = this.clock.setTimeout(check, this.stallMs - idleMs);
    };
    this.stallTimer = this.clock.setTimeout(check, this.stallMs);
  }

  private clearStallTimer(): void {
    if (this.stallTimer !== undefined) this.clock.clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }
}

function toSourceError(err: unknown): RearviewError {
  if (err instanceof RearviewError) return err;
  return new SourceError('ERR_SOURCE_EXITED', err instanceof Error ? err.message : String(err), { cause: err });
}

/** True for errors after which retrying at start-up cannot help (see SourceSupervisor.start). */
export function isPermanentSourceError(err: unknown): boolean {
  return err instanceof RearviewError && PERMANENT_CODES.has(err.code);
}
