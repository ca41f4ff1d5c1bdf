/**
 * The one reconnecting TCP reader: connects to a stream address, hands the
 * bytes on as they arrive, and after a failure or a dropped connection
 * reconnects with exponential backoff. Under both `connect()` (the client
 * library) and `rearview nalu tcp://` (through the commands' byte source), so
 * both accept the same addresses, retry the same way and word failures the
 * same way (docs/errors.md).
 *
 * Push-based on purpose: bytes go straight from the socket's 'data' event to
 * the consumer (no per-chunk promise), and a consumer that falls behind
 * pauses the socket.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { RearviewError } from '../errors.js';
import { cannotConnectText, connectionLostText } from '../util/describe-network-error.js';
import { parseStreamAddress, type StreamAddress } from '../util/stream-address.js';
import { ClientError } from './client-error.js';

/** Connection states, in the order they normally happen. */
export type StreamState = 'connecting' | 'connected' | 'disconnected' | 'reconnecting' | 'closed';

/** Payload of every state change. */
export interface StreamStateEvent {
  readonly state: StreamState;
  /** tcp://host:port */
  readonly url: string;
  /** Connection attempts since the last successful connection (1 = first try). */
  readonly attempt: number;
  /** 'reconnecting': wait before the next attempt, ms. */
  readonly delayMs?: number;
  /** 'disconnected' / 'reconnecting' / 'closed': what went wrong, when something did. */
  readonly error?: ClientError;
}

/** Connection options shared by every user of the reader (defaults in brackets). */
export interface ReconnectOptions {
  /** Reconnect after a failure or a dropped connection [true]. */
  reconnect?: boolean;
  /** Failed attempts in a row before giving up [Infinity]. */
  maxRetries?: number;
  /** First reconnect delay, ms; doubled per failed attempt up to maxBackoffMs [250, 5000]. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** TCP connect timeout, ms [5000]. */
  connectTimeoutMs?: number;
  /** A connection that delivers no bytes for this long (and is not paused) is dropped, ms; 0 disables [5000]. */
  idleTimeoutMs?: number;
  /** Closes the reader when aborted. */
  signal?: AbortSignal;
}

/** What the reader reports to its consumer. */
export interface ReconnectingTcpReaderHandlers {
  /** Bytes as they arrive. Throwing drops the connection with that error as the reason. */
  onData: (chunk: Buffer) => void;
  /** Every state change; 'connecting' means what follows is a new byte stream. */
  onState: (event: StreamStateEvent) => void;
  /**
   * The connection ended, before 'disconnected' is reported. `clean`: the
   * peer closed it normally (EOF, no error), so the last bytes are complete.
   */
  onEnd?: (clean: boolean) => void;
}

type Settings = Required<Omit<ReconnectOptions, 'signal'>>;

/** Resolves the defaults and checks the numbers (RangeError for a negative or non-finite one). */
export function reconnectSettings(options: ReconnectOptions): Settings {
  const settings: Settings = {
    reconnect: options.reconnect ?? true,
    maxRetries: options.maxRetries ?? Infinity,
    initialBackoffMs: options.initialBackoffMs ?? 250,
    maxBackoffMs: options.maxBackoffMs ?? 5000,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    idleTimeoutMs: options.idleTimeoutMs ?? 5000,
  };
  for (const key of ['initialBackoffMs', 'maxBackoffMs', 'connectTimeoutMs', 'idleTimeoutMs'] as const) {
    const v = settings[key];
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${key} must be a non-negative number, got ${v}`);
  }
  return settings;
}

/** See the file comment. Create, then start(). */
export class ReconnectingTcpReader {
  readonly address: StreamAddress;
  /** Normalised `tcp://host:port`. */
  readonly url: string;
  /** Set when the reader gave up (or fail() was called): why. */
  failure: RearviewError | undefined;
  private readonly settings: Settings;
  private readonly handlers: ReconnectingTcpReaderHandlers;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = (): void => void this.close();
  private socket: Socket | undefined;
  private currentState: StreamState = 'closed';
  private started = false;
  private closing = false;
  private paused = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set by fail(): ends the reader without retrying. */
  private fatal: RearviewError | undefined;

  /** Throws ConfigError for a bad address, RangeError for a bad option. */
  constructor(address: string | StreamAddress, options: ReconnectOptions, handlers: ReconnectingTcpReaderHandlers) {
    this.address = typeof address === 'string' ? parseStreamAddress(address) : address;
    this.url = this.address.url;
    this.settings = reconnectSettings(options);
    this.signal = options.signal;
    this.handlers = handlers;
  }

  get state(): StreamState {
    return this.currentState;
  }

  /** True once close() was called or the reader gave up. */
  get closed(): boolean {
    return this.closing;
  }

  /** Starts connecting (on the next microtask, so listeners attached right after see 'connecting'). Idempotent. */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
    if (this.signal?.aborted) {
      void this.close();
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    queueMicrotask(() => this.open());
  }

  /** Stops reading (backpressure); the idle timeout does not count while paused. */
  pause(): void {
    this.paused = true;
    this.stopIdleTimer();
    this.socket?.pause();
  }

  /** Reads again after pause(). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket?.resume();
    if (this.socket && this.currentState === 'connected') this.armIdleTimer();
  }

  /** The consumer got what it came for on this connection (bytes, a keyframe): the next failure starts the backoff again. */
  connectionWorks(): void {
    this.attempt = 0;
  }

  /** Drops the connection and ends without reconnecting; `error` becomes the failure (a peer that is not H.264, say). */
  fail(error: RearviewError): void {
    if (this.closing) return;
    this.fatal ??= error;
    this.socket?.destroy();
  }

  /** Closes the socket and cancels reconnects; reports 'closed'. Resolves once the socket is closed. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return Promise.resolve();
    this.closing = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.retryTimer);
    this.stopIdleTimer();
    const socket = this.socket;
    this.socket = undefined;
    const done = new Promise<void>((resolve) => {
      if (!socket || socket.destroyed) return resolve();
      socket.once('close', () => resolve());
      socket.destroy();
    });
    this.setState('closed', {});
    return done;
  }

  private setState(state: StreamState, extra: { delayMs?: number; error?: ClientError }): void {
    this.currentState = state;
    this.handlers.onState({ state, url: this.url, attempt: this.attempt, ...extra });
  }

  private open(): void {
    if (this.closing) return;
    this.attempt++;
    this.paused = false;
    this.setState('connecting', {});
    if (this.closing) return; // closed by the 'connecting' handler
    const socket = netConnect({
      host: this.address.host,
      port: this.address.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 1000,
    });
    this.socket = socket;
    let connected = false;
    let lastError: unknown;
    const connectTimer = setTimeout(() => {
      lastError = Object.assign(new Error(`no connection within ${this.settings.connectTimeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
      socket.destroy();
    }, this.settings.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      connected = true;
      this.setState('connected', {});
      if (this.socket === socket && !this.paused) this.armIdleTimer();
    });
    socket.on('data', (chunk: Buffer) => {
      this.idleTimer?.refresh();
      try {
        this.handlers.onData(chunk);
      } catch (err) {
        lastError = err;
        socket.destroy();
      }
    });
    socket.on('error', (err) => {
      lastError = err;
    });
    let cleanEnd = false;
    socket.on('end', () => {
      cleanEnd = lastError === undefined;
      lastError ??= Object.assign(new Error('the camera closed the connection'), { code: 'EOF' });
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
      this.stopIdleTimer();
      if (this.socket !== socket) return; // closed by close()
      this.socket = undefined;
      this.handlers.onEnd?.(cleanEnd && this.fatal === undefined);
      const message = connected
        ? connectionLostText(this.url, lastError ?? new Error('closed'))
        : cannotConnectText(this.url, lastError ?? new Error('closed'));
      const error = new ClientError('ERR_CLIENT_CONNECT', message, { url: this.url, cause: lastError });
      this.setState('disconnected', { error });
      this.scheduleReconnect(error);
    });
  }

  private scheduleReconnect(error: ClientError): void {
    if (this.closing) return;
    if (this.fatal || !this.settings.reconnect || this.attempt > this.settings.maxRetries) {
      this.failure = this.fatal ?? error;
      this.closing = true;
      this.signal?.removeEventListener('abort', this.onAbort);
      this.setState('closed', { error });
      return;
    }
    const base = Math.min(
      this.settings.maxBackoffMs,
      this.settings.initialBackoffMs * 2 ** Math.max(0, this.attempt - 1),
    );
    // Up to 20 % jitter so many clients do not reconnect to a rebooted camera in lockstep.
    const delayMs = Math.round(base * (1 + Math.random() * 0.2));
    this.setState('reconnecting', { delayMs, error });
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  private armIdleTimer(): void {
    if (this.settings.idleTimeoutMs <= 0 || this.closing) return;
    this.stopIdleTimer();
    const socket = this.socket;
    this.idleTimer = setTimeout(() => {
      if (this.paused || this.socket !== socket || !socket) return;
      socket.destroy(Object.assign(new Error(`no data for ${this.settings.idleTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, this.settings.idleTimeoutMs);
  }

  private stopIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
