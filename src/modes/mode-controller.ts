/**
 * The camera's two modes. `simultaneous` (default, the current device):
 * stream and record always. `exclusive` (the device's earlier behaviour, for
 * cameras that cannot encode twice): after start-up and after
 * `PUT /restart-stream-mode` the stream is open for a window
 * (`streamWindowMs`, default 60 s); when no stream client connected within
 * it, or when the last client leaves, the camera switches to recording.
 * Restart requests inside the window extend it; while a client is connected
 * the window does not expire.
 *
 * The controller only decides; the daemon acts on `onChange` (closes stream
 * clients and refuses new ones while recording, pauses the recorder while
 * streaming) and reports clients with `clientConnected`/`clientDisconnected`.
 */
import type { CameraMode } from '../config.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** What the camera is doing. `both` only in simultaneous mode. */
export type CameraActivity = 'streaming' | 'recording' | 'both';

/** A snapshot of the controller, as shown in /api/v1/status and the log. */
export interface ModeState {
  mode: CameraMode;
  activity: CameraActivity;
  /** True when port 5000 accepts clients. */
  streaming: boolean;
  /** True when the recorder should write segments. */
  recording: boolean;
  /** When the streaming window closes, ms since the epoch; null when no window is running. */
  windowEndsAtMs: number | null;
  /** Why the camera is in this activity ("start-up", "no client within 60 s", ...). */
  reason: string;
  /** When the activity last changed, ms since the epoch. */
  sinceMs: number;
  /** Stream clients the controller knows about. */
  clients: number;
}

/** Options of ModeController. */
export interface ModeControllerOptions {
  /** Default 'simultaneous'. */
  mode?: CameraMode;
  /** Exclusive mode window, ms. Default 60000. */
  streamWindowMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Decides between streaming and recording; see the file comment. */
export class ModeController {
  readonly mode: CameraMode;
  private windowMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private activity: CameraActivity;
  private reason = 'not started';
  private sinceMs: number;
  private windowEndsAtMs: number | null = null;
  private timer: TimerHandle | undefined;
  private clients = 0;
  private started = false;
  private readonly listeners = new Set<(state: ModeState) => void>();

  constructor(options: ModeControllerOptions = {}) {
    this.mode = options.mode ?? 'simultaneous';
    this.windowMs = options.streamWindowMs ?? 60_000;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.activity = this.mode === 'simultaneous' ? 'both' : 'streaming';
    this.sinceMs = this.clock.wallNow();
  }

  /** The streaming window length, ms. */
  get streamWindowMs(): number {
    return this.windowMs;
  }

  /** Changes the window length (settings); applies from the next window. */
  setStreamWindowMs(ms: number): void {
    this.windowMs = ms;
  }

  /** Current state. */
  get state(): ModeState {
    return {
      mode: this.mode,
      activity: this.activity,
      streaming: this.activity !== 'recording',
      recording: this.activity !== 'streaming',
      windowEndsAtMs: this.windowEndsAtMs,
      reason: this.reason,
      sinceMs: this.sinceMs,
      clients: this.clients,
    };
  }

  /** True when a new stream client may connect now. */
  acceptsStreamClients(): boolean {
    return this.activity !== 'recording';
  }

  /** Listens for activity or window changes; returns an unsubscribe function. */
  onChange(listener: (state: ModeState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Enters the start-up state: both in simultaneous mode, the first window in exclusive mode. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.mode === 'simultaneous')
      this.set('both', 'simultaneous mode: streaming, and recording unless turned off', null);
    else this.openWindow('start-up');
  }

  /** `PUT /restart-stream-mode`: (re)opens the window, or extends it when already open. */
  restartStreamMode(reason = 'restart-stream-mode request'): void {
    if (this.mode === 'simultaneous') return;
    this.openWindow(reason);
  }

  /** A stream client (TCP or WebSocket) joined. */
  clientConnected(): void {
    this.clients++;
    if (this.mode === 'exclusive' && this.activity === 'streaming' && this.windowEndsAtMs !== null) {
      // A connected client holds the stream open; the window no longer applies.
      this.clearTimer();
      this.set('streaming', 'client connected', null);
    }
  }

  /** A stream client left. The last one leaving switches exclusive mode to recording. */
  clientDisconnected(): void {
    this.clients = Math.max(0, this.clients - 1);
    if (
      this.mode === 'exclusive' &&
      this.clients === 0 &&
      this.activity === 'streaming' &&
      this.windowEndsAtMs === null
    ) {
      this.set('recording', 'last stream client left', null);
    }
  }

  close(): void {
    this.clearTimer();
    this.listeners.clear();
  }

  private openWindow(reason: string): void {
    this.clearTimer();
    const endsAt = this.clock.wallNow() + this.windowMs;
    if (this.clients > 0 && this.activity === 'streaming') {
      // Already held open by a client: nothing to wait for.
      return;
    }
    this.timer = this.clock.setTimeout(() => this.windowExpired(), this.windowMs);
    this.set('streaming', reason, endsAt);
  }

  private windowExpired(): void {
    this.timer = undefined;
    if (this.clients > 0) {
      this.set('streaming', 'client connected', null);
      return;
    }
    this.set('recording', `no stream client within ${Math.round(this.windowMs / 1000)} s`, null);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private set(activity: CameraActivity, reason: string, windowEndsAtMs: number | null): void {
    const changed = activity !== this.activity;
    this.activity = activity;
    this.reason = reason;
    this.windowEndsAtMs = windowEndsAtMs;
    if (changed || this.sinceMs === undefined) this.sinceMs = this.clock.wallNow();
    const until = windowEndsAtMs === null ? '' : ` until ${new Date(windowEndsAtMs).toISOString()}`;
    this.logger.info(`mode ${this.mode}: ${activity}${until} (${reason})`);
    const state = this.state;
    for (const l of this.listeners) {
      try {
        l(state);
      } catch (err) {
        this.logger.error(`mode listener failed: ${(err as Error).message}`);
      }
    }
  }
}
