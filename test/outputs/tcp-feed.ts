/**
 * Test helpers for the TCP output: a paced feeder that plays access units
 * into a hub like a live camera, and a raw client that collects bytes.
 */
import { connect, type Socket } from 'node:net';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import type { StreamHub } from '../../src/hub/stream-hub.js';

/** Plays `aus` into `hub` at `fps` (looping), stamping capture times from Date.now(). */
export class PacedFeeder {
  private timer: NodeJS.Timeout | undefined;
  private index = 0;
  /** Access units delivered so far. */
  delivered = 0;

  constructor(
    private readonly hub: StreamHub,
    private readonly aus: AccessUnit[],
    private readonly fps = 30,
  ) {}

  /** Delivers the next `n` access units at once (for tests that drive time themselves). */
  step(n = 1): void {
    for (let i = 0; i < n; i++) {
      const au = this.aus[this.index] as AccessUnit;
      this.index = (this.index + 1) % this.aus.length;
      this.hub.accessUnit(au, Date.now());
      this.delivered++;
    }
  }

  /** Starts real-time delivery. */
  start(): this {
    this.timer = setInterval(() => this.step(), 1000 / this.fps);
    return this;
  }

  /** Stops delivery. Idempotent. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A raw TCP client that keeps every byte it receives. */
export class RawClient {
  readonly socket: Socket;
  private chunks: Buffer[] = [];
  bytes = 0;
  closed = false;
  readonly connected: Promise<void>;
  readonly ended: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = connect({ port, host });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.ended = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
    this.socket.on('error', () => {
      // a reset by the server ends the feed through 'close'
    });
    this.socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.bytes += d.length;
    });
  }

  /** Everything received so far. */
  data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  close(): void {
    this.socket.destroy();
  }
}
