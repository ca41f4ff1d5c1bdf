/**
 * The attempt bookkeeping every publisher shares (ffmpeg-fed, publisher.ts; WHIP,
 * whip-publisher.ts): its state and since when, the last error, failures in a
 * row (a cause is logged once, then at debug level), failed attempts since it
 * last published, and the timer of the next attempt.
 */

import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/** States of a publisher, as shown in status. */
export type PublisherState = 'connecting' | 'publishing' | 'retrying' | 'unavailable' | 'stopped';

/** Error codes of a publisher (docs/errors.md): status values, never thrown. */
export type PublishErrorCode = Extract<ErrorCode, `ERR_PUBLISH_${string}`>;

/** A publisher's failure: a code and masked words. */
export interface PublishFailure {
  code: PublishErrorCode;
  message: string;
}

/** See the file comment. */
export class PublishAttempts {
  state: PublisherState = 'connecting';
  lastError: PublishFailure | undefined;
  private sinceMs: number;
  /** Failures in a row with the same message (logged once). */
  private failuresInRow = 0;
  /** Failed attempts since the last time it published. */
  private failedAttempts = 0;
  private retryTimer: TimerHandle | undefined;
  private retryAtMs: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** The target as shown in log lines (masked). */
    private readonly shown: string,
    /** Starts the next attempt. */
    private readonly attempt: () => void,
  ) {
    this.sinceMs = clock.wallNow();
  }

  setState(state: PublisherState): void {
    if (state === this.state) return;
    this.state = state;
    this.sinceMs = this.clock.wallNow();
  }

  /** An attempt starts: the timer that called it is spent. */
  attemptStarted(): void {
    this.retryTimer = undefined;
  }

  /** Publishing: logged with the failed attempts before it, and the counts start again. */
  published(): void {
    this.setState('publishing');
    const again = this.failedAttempts > 0 ? ` again after ${this.failedAttempts} failed attempt(s)` : '';
    this.logger.info(`publishing to ${this.shown}${again}`);
    this.failuresInRow = 0;
    this.failedAttempts = 0;
  }

  /** Records a failure, logs it once per distinct cause, and schedules the next attempt in `delayMs`. */
  fail(error: PublishFailure, delayMs: number, state: 'retrying' | 'unavailable'): void {
    const same = this.lastError?.message === error.message;
    this.lastError = error;
    this.setState(state);
    this.failuresInRow = same ? this.failuresInRow + 1 : 1;
    this.failedAttempts++;
    const line = `cannot publish to ${this.shown}: ${error.message}; retrying in ${(delayMs / 1000).toFixed(1)} s`;
    if (this.failuresInRow === 1) this.logger.error(line);
    else this.logger.debug(`${line} (${this.failuresInRow} times in a row)`);
    this.retryAtMs = this.clock.monoNow() + delayMs;
    this.retryTimer = this.clock.setTimeout(this.attempt, delayMs);
  }

  /** The next attempt in `delayMs`, with no failure recorded (nothing to publish yet). */
  retryLater(delayMs: number): void {
    this.retryTimer = this.clock.setTimeout(this.attempt, delayMs);
  }

  /** No next attempt (closing). */
  cancelRetry(): void {
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** The status fields that come from the attempts. */
  status(): {
    state: PublisherState;
    sinceMs: number;
    lastError: string | null;
    lastErrorCode: PublishErrorCode | null;
    retryInMs: number | null;
  } {
    return {
      state: this.state,
      sinceMs: this.sinceMs,
      lastError: this.lastError?.message ?? null,
      lastErrorCode: this.lastError?.code ?? null,
      retryInMs:
        this.state === 'retrying' || this.state === 'unavailable'
          ? Math.max(0, Math.round((this.retryAtMs ?? 0) - this.clock.monoNow()))
          : null,
    };
  }
}
