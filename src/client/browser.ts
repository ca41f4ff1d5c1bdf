/**
 * Browser entry of the client library (`rearview/client/browser`, bundle it
 * with esbuild or any bundler): the live stream over the camera's WebSocket
 * (`ws://camera:8000/api/v1/live`, framing in docs/protocol.md) and decoding
 * to WebCodecs `VideoFrame`s. No Node imports.
 *
 * ```ts
 * import { connectWebSocket, decodeVideoFrames } from 'rearview/client/browser';
 * for await (const frame of decodeVideoFrames(connectWebSocket('ws://192.168.9.1:8000/api/v1/live'))) {
 *   ctx.drawImage(frame, 0, 0);
 *   frame.close(); // always: decoders stall when frames are not released
 * }
 * ```
 *
 * WebCodecs exists only in a secure context: pages on https or on
 * localhost/127.0.0.1 (not on a plain-http LAN address; use `rearview view`).
 */
import { parseLiveFrame, WS_JOIN_POLICIES, type LiveConfig, type WsJoinPolicy } from '../outputs/ws-protocol.js';

/** One access unit received over the WebSocket. */
export interface BrowserFrame {
  /** Annex-B bytes; a key frame starts with SPS and PPS. */
  data: Uint8Array;
  isKey: boolean;
  /** 90 kHz presentation time. */
  pts90k: number;
  /** Camera capture time, ms since the epoch (camera clock). */
  capturedAtMs: number;
  /** Camera sequence number (gaps: frames the camera skipped for this client). */
  seq: number;
  /** RFC 6381 codec string and size from the latest config message. */
  codec: string;
  width: number;
  height: number;
  /** A frame of a live-edge join's burst (the CATCH_UP flag): decode it, do not show it. */
  catchUp: boolean;
}

/** Options of {@link connectWebSocket}. */
export interface BrowserConnectOptions {
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
  /** Most frames buffered for a slow consumer before skipping to the newest keyframe. Default 60. */
  maxQueueFrames?: number;
  /**
   * How to join (the `join` query parameter, docs/protocol.md "Joining"); default 'live-edge':
   * the cached GOP at once with its older frames flagged `catchUp`. A `join` already in `url` wins.
   */
  join?: WsJoinPolicy;
}

/** `url` with `join=` added unless it has one. */
function withJoin(url: string, join: WsJoinPolicy): string {
  if (!(WS_JOIN_POLICIES as readonly string[]).includes(join))
    throw new TypeError(`join must be one of ${WS_JOIN_POLICIES.join(', ')}, got ${JSON.stringify(join)}`);
  if (/[?&]join=/.test(url)) return url;
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  return `${base}${base.includes('?') ? '&' : '?'}join=${join}${hash < 0 ? '' : url.slice(hash)}`;
}

/**
 * Opens the camera's live WebSocket and yields access units, starting at a
 * keyframe. A consumer that falls behind skips to the newest keyframe (the
 * 'latest' policy of connect()). Ends when the socket closes; reconnecting
 * is left to the caller (wrap it in a loop with a delay).
 */
export async function* connectWebSocket(
  url: string,
  options: BrowserConnectOptions = {},
): AsyncGenerator<BrowserFrame, void, undefined> {
  const ws = new WebSocket(withJoin(url, options.join ?? 'live-edge'));
  ws.binaryType = 'arraybuffer';
  const maxQueue = options.maxQueueFrames ?? 60;
  let config: LiveConfig | undefined;
  let queue: BrowserFrame[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let waitingForKey = true;
  ws.onmessage = (event: MessageEvent) => {
    if (typeof event.data === 'string') {
      try {
        const msg = JSON.parse(event.data) as { type?: string };
        if (msg.type === 'config') config = msg as LiveConfig;
      } catch {
        // not for us
      }
      return;
    }
    const frame = parseLiveFrame(event.data as ArrayBuffer);
    if (frame.discontinuity) waitingForKey = true;
    if (waitingForKey && !frame.isKey) return;
    waitingForKey = false;
    const item: BrowserFrame = {
      data: frame.payload,
      isKey: frame.isKey,
      pts90k: frame.pts90k,
      capturedAtMs: frame.capturedAtMs,
      seq: frame.seq,
      codec: config?.codec ?? '',
      width: config?.width ?? 0,
      height: config?.height ?? 0,
      catchUp: frame.catchUp,
    };
    if (item.isKey && queue.length > 0) queue = [];
    if (queue.length >= maxQueue) {
      queue = [];
      waitingForKey = true;
      return;
    }
    queue.push(item);
    notify();
  };
  ws.onclose = () => {
    ended = true;
    notify();
  };
  ws.onerror = () => {
    failure ??= new Error(`WebSocket ${url} failed`);
  };
  const onAbort = (): void => ws.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (ended) {
        if (failure && !options.signal?.aborted) throw failure;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
  }
}

/** What decodeVideoFrames needs of each access unit (BrowserFrame and the Node ClientFrame fit). */
export interface EncodedChunkLike {
  data: Uint8Array;
  isKey: boolean;
  pts90k: number;
  codec: string;
  /** Decoded but not yielded (a live-edge join's burst). */
  catchUp?: boolean;
}

/**
 * Decodes access units with WebCodecs `VideoDecoder` (Annex-B chunks, no
 * description; `optimizeForLatency`) and yields `VideoFrame`s in output
 * order; catch-up chunks (`catchUp`) are decoded but their pictures not yielded. The caller must `close()` every frame. The decoder is configured
 * from the first frame's codec string and reconfigured when it changes.
 * Throws when WebCodecs is missing (not a secure context).
 */
export async function* decodeVideoFrames(
  frames: AsyncIterable<EncodedChunkLike>,
): AsyncGenerator<VideoFrame, void, undefined> {
  if (typeof VideoDecoder === 'undefined') {
    throw new Error('WebCodecs VideoDecoder is not available: open the page over https or on localhost');
  }
  const out: VideoFrame[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  /** Timestamps of catch-up chunks: their pictures are decoded (later frames refer to them), then closed unseen. */
  const hidden = new Set<number>();
  const decoder = new VideoDecoder({
    output: (frame) => {
      if (hidden.delete(frame.timestamp)) {
        frame.close();
        return;
      }
      out.push(frame);
      notify();
    },
    error: (err) => {
      failure = err instanceof Error ? err : new Error(String(err));
      notify();
    },
  });
  let codec = '';
  const iterator = frames[Symbol.asyncIterator]();
  let inputDone = false;
  const pump = (async (): Promise<void> => {
    try {
      for (;;) {
        const item = await iterator.next();
        if (item.done || failure) break;
        const frame = item.value;
        if (frame.codec && frame.codec !== codec) {
          if (!frame.isKey) continue;
          codec = frame.codec;
          decoder.configure({ codec, optimizeForLatency: true });
        }
        if (!codec) continue;
        const timestamp = Math.round(frame.pts90k / 0.09);
        if (frame.catchUp) hidden.add(timestamp);
        decoder.decode(
          new EncodedVideoChunk({
            type: frame.isKey ? 'key' : 'delta',
            timestamp,
            data: frame.data,
          }),
        );
        // Backpressure: let the decoder drain before taking more input.
        while (decoder.decodeQueueSize > 2 && !failure) await new Promise((r) => setTimeout(r, 1));
      }
      if (!failure && decoder.state === 'configured') await decoder.flush();
    } catch (err) {
      failure ??= err instanceof Error ? err : new Error(String(err));
    } finally {
      inputDone = true;
      notify();
    }
  })();
  try {
    for (;;) {
      const frame = out.shift();
      if (frame) {
        yield frame;
        continue;
      }
      if (failure) throw failure;
      if (inputDone) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    await iterator.return?.();
    await pump;
    for (const f of out) f.close();
    if (decoder.state !== 'closed') decoder.close();
  }
}
