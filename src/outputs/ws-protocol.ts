/**
 * The live stream's WebSocket wire format (docs/protocol.md, "WebSocket
 * stream"), defined once for the server (ws-stream-server.ts), the web page
 * and the browser client library. Pure code: no `node:` or DOM imports, so
 * the web bundle can import it.
 *
 * Binary message, version 1, big-endian: byte 0 version, byte 1 flags,
 * bytes 2..3 header length (32; a receiver skips a longer header), 4..7
 * sequence number (uint32), 8..11 parameter generation (uint32), 12..15
 * reserved, 16..23 pts90k (float64), 24..31 capture wall-clock ms (float64),
 * then the Annex-B payload.
 */

/** Protocol version in byte 0 of every binary message. */
export const WS_PROTOCOL_VERSION = 1;
/** Bytes of the binary header in version 1 (a receiver must honour byte 2..3 instead). */
export const WS_HEADER_BYTES = 32;
/** Bits of the flags byte (byte 1). */
export const WsFrameFlags = {
  /** An IDR access unit: decoding can start here. */
  KEY: 1,
  /** The payload starts with SPS and PPS (always true for KEY frames from the hub). */
  CONFIG: 2,
  /** First frame a client receives after a gap (join, skip to keyframe, new generation). */
  DISCONTINUITY: 4,
  /**
   * Sent from the join cache to a `live-edge` client, older than the newest cached frame: decode it
   * (later frames refer to it) but do not show it; the first frame without it is the live edge.
   */
  CATCH_UP: 8,
} as const;

/** `?join=` values of the live WebSocket (docs/protocol.md "Joining"). */
export const WS_JOIN_POLICIES = ['latest-keyframe', 'next-keyframe', 'live-edge'] as const;
/** How one WebSocket client joins: `?join=` on the upgrade URL, else the camera's `join` setting. */
export type WsJoinPolicy = (typeof WS_JOIN_POLICIES)[number];

/** The `type: "config"` text message, sent on connect and whenever the parameters change. */
export interface WsConfigMessage {
  type: 'config';
  /** RFC 6381 codec string for VideoDecoder / MediaSource ("avc1.42c01e"). */
  codec: string;
  /** Display size in pixels. */
  width: number;
  height: number;
  /** Nominal frames per second. */
  fps: number;
  /** Parameter generation: frames carry it too. */
  generation: number;
  /** Camera name for the page title. */
  cameraName: string;
  /** Server wall clock (ms since the Unix epoch) when the message was sent. */
  serverTimeMs: number;
}

/** `{"type":"ping","id":n,"clientTimeMs":t}` from the page; answered with a pong. */
export interface WsPongMessage {
  type: 'pong';
  id: number;
  clientTimeMs: number;
  /** Server wall clock (ms since the Unix epoch) when the ping was answered. */
  serverTimeMs: number;
}

/** The header fields of one binary message (everything but version and length). */
export interface WsFrameHeader {
  /** Flags byte: a combination of {@link WsFrameFlags}. */
  flags: number;
  /** Hub sequence number (stored as uint32, wraps). */
  seq: number;
  /** Parameter generation (stored as uint32). */
  generation: number;
  /** Presentation time, 90 kHz units. */
  pts90k: number;
  /** Capture wall-clock time on the camera, ms since the Unix epoch. */
  capturedAtMs: number;
}

/**
 * Encodes one version-1 binary message: the 32-byte header followed by
 * `payload` (Annex-B NAL units with 4-byte start codes).
 */
export function encodeWsMessage(header: WsFrameHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(WS_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer, out.byteOffset, WS_HEADER_BYTES);
  view.setUint8(0, WS_PROTOCOL_VERSION);
  view.setUint8(1, header.flags);
  view.setUint16(2, WS_HEADER_BYTES);
  view.setUint32(4, header.seq >>> 0);
  view.setUint32(8, header.generation >>> 0);
  view.setUint32(12, 0); // reserved
  view.setFloat64(16, header.pts90k);
  view.setFloat64(24, header.capturedAtMs);
  out.set(payload, WS_HEADER_BYTES);
  return out;
}

/** One decoded binary message: one access unit. */
export interface LiveFrame {
  /** Protocol version (byte 0); this reader understands 1. */
  version: number;
  /** Raw flags byte. */
  flags: number;
  /** IDR access unit: decoding can start here. */
  isKey: boolean;
  /** Payload starts with SPS and PPS. */
  hasConfig: boolean;
  /** First frame after a gap (join, skip, new generation): the decoder must restart at a keyframe. */
  discontinuity: boolean;
  /** A catch-up frame of a live-edge join: decode, do not show. */
  catchUp: boolean;
  /** Hub sequence number (uint32, wraps). */
  seq: number;
  /** Parameter generation (matches the config message). */
  generation: number;
  /** Presentation time, 90 kHz units. */
  pts90k: number;
  /** Capture wall-clock time on the camera, ms since the Unix epoch. */
  capturedAtMs: number;
  /** Annex-B NAL units with 4-byte start codes (a view into the message). */
  payload: Uint8Array;
}

/** Thrown for a message that is not a version-1 frame. */
export class LiveFrameError extends Error {}

/** Parses one binary message. Throws LiveFrameError on a short or unknown message. */
export function parseLiveFrame(message: ArrayBuffer | Uint8Array): LiveFrame {
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
  if (bytes.length < 4) throw new LiveFrameError(`frame message too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== WS_PROTOCOL_VERSION) throw new LiveFrameError(`unsupported frame version ${version}`);
  const headerLength = view.getUint16(2);
  // A longer header (future fields) is allowed: skip what we do not know.
  if (headerLength < WS_HEADER_BYTES || bytes.length < headerLength)
    throw new LiveFrameError(`bad header length ${headerLength}`);
  const flags = view.getUint8(1);
  return {
    version,
    flags,
    isKey: (flags & WsFrameFlags.KEY) !== 0,
    hasConfig: (flags & WsFrameFlags.CONFIG) !== 0,
    discontinuity: (flags & WsFrameFlags.DISCONTINUITY) !== 0,
    catchUp: (flags & WsFrameFlags.CATCH_UP) !== 0,
    seq: view.getUint32(4),
    generation: view.getUint32(8),
    pts90k: view.getFloat64(16),
    capturedAtMs: view.getFloat64(24),
    payload: bytes.subarray(headerLength),
  };
}

/** The stream configuration text message, as the page reads it. */
export type LiveConfig = WsConfigMessage;

/** Answer to a clock ping, as the page reads it. */
export type LivePong = WsPongMessage;

/** Parses a text message; undefined for unknown or malformed ones (ignored by design). */
export function parseLiveText(text: string): LiveConfig | LivePong | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as Record<string, unknown>;
  if (
    m.type === 'config' &&
    typeof m.codec === 'string' &&
    typeof m.width === 'number' &&
    typeof m.height === 'number'
  ) {
    return msg as LiveConfig;
  }
  if (m.type === 'pong' && typeof m.id === 'number' && typeof m.serverTimeMs === 'number') return msg as LivePong;
  return undefined;
}
