/**
 * Reading the live stream's WebSocket messages in the browser (and in Node
 * tests): the binary frame header of docs/protocol.md ("WebSocket stream")
 * and the JSON text messages. Pure code, no DOM or Node imports.
 */

/** Flag bits of byte 1 (same values as the server's WsFrameFlags). */
export const FrameFlag = { KEY: 1, CONFIG: 2, DISCONTINUITY: 4 } as const;

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
  if (version !== 1) throw new LiveFrameError(`unsupported frame version ${version}`);
  const headerLength = view.getUint16(2);
  // A longer header (future fields) is allowed: skip what we do not know.
  if (headerLength < 32 || bytes.length < headerLength) throw new LiveFrameError(`bad header length ${headerLength}`);
  const flags = view.getUint8(1);
  return {
    version,
    flags,
    isKey: (flags & FrameFlag.KEY) !== 0,
    hasConfig: (flags & FrameFlag.CONFIG) !== 0,
    discontinuity: (flags & FrameFlag.DISCONTINUITY) !== 0,
    seq: view.getUint32(4),
    generation: view.getUint32(8),
    pts90k: view.getFloat64(16),
    capturedAtMs: view.getFloat64(24),
    payload: bytes.subarray(headerLength),
  };
}

/** The stream configuration text message. */
export interface LiveConfig {
  type: 'config';
  codec: string;
  width: number;
  height: number;
  fps: number;
  generation: number;
  cameraName: string;
  serverTimeMs: number;
}

/** Answer to a clock ping. */
export interface LivePong {
  type: 'pong';
  id: number;
  clientTimeMs: number;
  serverTimeMs: number;
}

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
  if (m.type === 'config' && typeof m.codec === 'string' && typeof m.width === 'number' && typeof m.height === 'number') {
    return msg as LiveConfig;
  }
  if (m.type === 'pong' && typeof m.id === 'number' && typeof m.serverTimeMs === 'number') return msg as LivePong;
  return undefined;
}
