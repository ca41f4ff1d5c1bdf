/**
 * Live events for the web page as Server-Sent Events (`GET /api/v1/events`):
 * `status` (periodic and on change), `mode`, `recording-added`,
 * `recording-removed`, `settings`, `button`. Each client has a bounded backlog: a
 * client that stops reading is dropped, never buffered without limit.
 */
import type { ServerResponse } from 'node:http';
import { ApiError } from './api-responses.js';
import type { ApiEventData, ApiEventType } from './wire-types.js';

/** Default cap on simultaneous SSE clients: each holds a socket with no timeout. */
export const DEFAULT_MAX_EVENT_CLIENTS = 16;

export type { ApiEventType } from './wire-types.js';

/** The SSE hub. */
export class ApiEvents {
  private readonly clients = new Set<ServerResponse>();
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | undefined;

  /**
   * @param maxBacklogBytes a client with more unsent bytes is dropped (default 256 KiB)
   * @param maxClients most simultaneous feeds; one more is refused with 429 (default {@link DEFAULT_MAX_EVENT_CLIENTS})
   */
  constructor(
    private readonly maxBacklogBytes = 256 * 1024,
    private readonly maxClients = DEFAULT_MAX_EVENT_CLIENTS,
  ) {}

  /** Connected SSE clients. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over `res` as an event stream; throws ERR_API_TOO_MANY_CLIENTS (429) when the cap is reached. */
  attach(res: ServerResponse): void {
    if (this.clients.size >= this.maxClients) {
      throw new ApiError(
        'ERR_API_TOO_MANY_CLIENTS',
        `already ${this.maxClients} event feeds open; close one and retry`,
      );
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setTimeout(0);
    res.socket?.setNoDelay(true);
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.send(res, 'hello', { connectedAtMs: Date.now() });
    if (!this.heartbeat) {
      // Comment lines keep proxies and idle timeouts from closing the feed.
      this.heartbeat = setInterval(() => {
        for (const c of this.clients) c.write(': keep-alive\n\n');
      }, 15_000);
      this.heartbeat.unref();
    }
  }

  /** Sends one event to every client. */
  publish<T extends ApiEventType>(type: T, data: ApiEventData[T]): void {
    for (const c of this.clients) this.send(c, type, data);
  }

  /** Ends every feed. Idempotent. */
  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private send(res: ServerResponse, type: ApiEventType, data: unknown): void {
    if (res.writableLength > this.maxBacklogBytes) {
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(`id: ${this.nextId++}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
