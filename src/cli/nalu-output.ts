/**
 * Buffered line output for `rearview nalu`: lines are joined and written in
 * blocks of about 64 KiB instead of one write per NAL unit, the caller waits
 * for 'drain' when the reader is slower than us, and a reader that goes away
 * (EPIPE, as when piped into `head`) ends the command quietly.
 */

/** The part of a writable stream this needs (process.stdout in the CLI, a fake in tests). */
export interface LineSink {
  write(chunk: string): boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error & { code?: string }) => void): unknown;
}

/** Lines kept in memory before they are written: 64 KiB. */
const FLUSH_AT_CHARS = 64 * 1024;

/** Buffered, EPIPE-aware line writer. */
export class NaluOutput {
  private parts: string[] = [];
  private chars = 0;
  private needsDrain = false;
  private closedFlag = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(private readonly sink: LineSink) {
    sink.on('error', (err) => {
      // The reader went away (`| head`): stop producing, exit normally.
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') this.markClosed();
      else throw err;
    });
  }

  /** True once the reader has gone away: further lines are dropped. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Calls `listener` once when the reader goes away. */
  onClose(listener: () => void): void {
    if (this.closedFlag) listener();
    else this.closeListeners.push(listener);
  }

  /** Queues one line (a newline is added). */
  line(text: string): void {
    if (this.closedFlag) return;
    this.parts.push(text);
    this.chars += text.length + 1;
    if (this.chars >= FLUSH_AT_CHARS) this.flush();
  }

  /** Writes what is queued now. */
  flush(): void {
    if (this.closedFlag || this.parts.length === 0) return;
    const text = `${this.parts.join('\n')}\n`;
    this.parts = [];
    this.chars = 0;
    try {
      if (!this.sink.write(text)) this.needsDrain = true;
    } catch (err) {
      if ((err as { code?: string }).code === 'EPIPE') this.markClosed();
      else throw err;
    }
  }

  /** Resolves when the sink can take more (immediately unless it asked us to wait). */
  async drained(): Promise<void> {
    if (!this.needsDrain || this.closedFlag) return;
    await new Promise<void>((resolve) => {
      this.sink.once('drain', resolve);
      this.onClose(resolve);
    });
    this.needsDrain = false;
  }

  /** Flushes everything and waits until the sink has taken it. */
  async end(): Promise<void> {
    this.flush();
    await this.drained();
  }

  private markClosed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.parts = [];
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
